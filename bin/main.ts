/** The provision command: the CLI, with the site playbook as the playbook it runs when none is named. */
import { runCli } from '../src/cli/main.ts';

await runCli(process.argv.slice(2), { defaultPlaybook: () => import('../playbooks/site.ts') });
