/**
 * A playbook of the motd role alone: `provision apply INVENTORY --playbook examples/motd/playbook.ts`. To add it to
 * the site playbook instead, put `motdRole` in its list of roles.
 */
import { definePlaybook } from '../../src/engine/playbook.ts';
import { motdRole } from './role.ts';

export default definePlaybook({ roles: [motdRole] });
