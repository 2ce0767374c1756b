/** The site playbook: what `provision apply` runs by default on every host of the inventory. */
import { definePlaybook } from '../src/engine/playbook.ts';
import type { z } from 'zod';
import type { RolesVars } from '../src/engine/role.ts';
import { packagesFirst } from '../tasks/core/packages-first.ts';
import { siteFactsReport } from '../tasks/facts-report.ts';
import { fail2banRole } from '../tasks/fail2ban/role.ts';
import { firewallRole } from '../tasks/firewall/role.ts';
import { acmeRole } from '../tasks/acme/role.ts';
import { balancerRole } from '../tasks/haproxy/role.ts';
import { nodeRole } from '../tasks/node/role.ts';
import { sshRole } from '../tasks/ssh/role.ts';
import { sysctlRole } from '../tasks/sysctl/role.ts';
import { updatesRole } from '../tasks/updates/role.ts';

// The firewall before SSH, so that a new ssh.port is open before sshd moves to it. The certificate from the CA after
// the balancer: its challenge goes through the HAProxy config that the balancer's play has loaded.
const roles = [packagesFirst, firewallRole, sshRole, fail2banRole, sysctlRole, updatesRole, nodeRole, balancerRole, acmeRole] as const;

const site = definePlaybook({ roles, facts: siteFactsReport });
export default site;

/** The schema of every variable the site playbook reads, for an inventory in a directory (tests and tools). */
export const hostVarsSchema = site.varsSchema as (inventoryDir: string) => z.ZodType<HostVars>;

/** The host variables the site playbook's roles read. */
export type HostVars = RolesVars<typeof roles>;
