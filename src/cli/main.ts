/** The command line: parses flags, runs a command, and maps errors to exit codes. Only this module exits. */
import yargs, { type Argv } from 'yargs';
import { InputError } from '../errors.ts';
import { redact } from '../report/redact.ts';
import { applyCommand, EXIT, type ApplyFlags } from './apply-command.ts';
import { inventoryInput, withInventoryOptions, type InventoryArgs } from './inventory-input.ts';
import { loadPlaybook, type DefaultPlaybook } from './load-playbook.ts';

// `provision tasks | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

let interruptions = 0;
process.on('SIGINT', () => {
  interruptions += 1;
  if (interruptions === 1) {
    process.stderr.write('\nInterrupted: finishing the steps in flight, starting no new task (Ctrl-C again to abort now).\n');
  } else {
    process.exit(EXIT.interrupted);
  }
});

/** How the CLI is started: with the playbook it runs when none is named. */
export interface CliOptions {
  defaultPlaybook: DefaultPlaybook;
}

const PLAYBOOK_OPTION = { alias: 'p', type: 'string', describe: 'playbook module whose roles to run and whose variables to check (default playbooks/site.ts)' } as const;

async function main(argv: string[], options: CliOptions): Promise<number> {
  let code = EXIT.ok as number;
  const playbookOf = (file: string | undefined) => loadPlaybook(file, options.defaultPlaybook);
  await yargs(argv)
    .scriptName('provision')
    .usage('$0 <command> [options]')
    .command(
      'apply [inventory]',
      'gather facts, plan, show every diff, ask, apply (or apply a saved plan: apply PLAN.json)',
      (y) =>
        planOptions(y)
          .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'apply without asking' })
          .option('dry-run', { alias: 'check', type: 'boolean', default: false, describe: 'plan and show diffs only; change nothing (--check as in Ansible)' })
          .option('out', { type: 'string', requiresArg: true, describe: 'with --dry-run: save the plan to this file (mode 0600), for provision apply FILE' })
          .option('max-age', { type: 'string', requiresArg: true, describe: 'with a saved plan: refuse it when older than this (default 24h)' })
          .option('list-hosts', { type: 'boolean', default: false, describe: 'list the hosts each play would run on, and stop' })
          .option('list-tasks', { type: 'boolean', default: false, describe: 'list the tasks each play would run on each host, and stop' }),
      async (args) => {
        code = await applyCommand(
          {
            ...planFlags(args),
            dryRun: args['dry-run'],
            yes: args.yes,
            listHosts: args['list-hosts'],
            listTasks: args['list-tasks'],
            ...(args.out !== undefined ? { out: args.out } : {}),
            ...(args['max-age'] !== undefined ? { maxAge: args['max-age'] } : {}),
          },
          () => interruptions > 0,
          playbookOf,
        );
      },
    )
    .command(
      'plan [inventory]',
      'the dry run, and with -o FILE the plan saved for provision apply FILE',
      (y) => planOptions(y).option('out', { alias: 'o', type: 'string', requiresArg: true, describe: 'save the plan to this file (mode 0600), for provision apply FILE' }),
      async (args) => {
        code = await applyCommand(
          { ...planFlags(args), dryRun: true, yes: false, ...(args.out !== undefined ? { out: args.out } : {}) },
          () => interruptions > 0,
          playbookOf,
        );
      },
    )
    .command(
      'show <plan>',
      'print a saved plan as the dry run prints it (--json: as data); contacts no host',
      (y) =>
        y
          .positional('plan', { type: 'string', demandOption: true, describe: 'a plan saved by provision plan -o FILE' })
          .option('json', { type: 'boolean', default: false, describe: 'print it as JSON' })
          .option('show-contents', { type: 'boolean', default: false, describe: "with --json: files' whole contents (those with a secret are never in a plan)" })
          .option('color', { type: 'boolean', describe: 'colour the output (--no-color to disable)' })
          .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'also list the tasks already in place' }),
      async (args) => {
        const { showCommand } = await import('./show-command.ts');
        code = showCommand(
          { file: args.plan, json: args.json, verbose: args.verbose, showContents: args['show-contents'], ...(args.color !== undefined ? { color: args.color } : {}) },
          (line) => process.stdout.write(`${line}\n`),
        );
      },
    )
    .command(
      'validate [inventory]',
      'check the inventory against the schema, and list what provision ignores; contacts no host',
      (y) => withInventoryOptions(y).option('playbook', PLAYBOOK_OPTION),
      async (args) => {
        const { validateCommand } = await import('./inventory-commands.ts');
        code = await validateCommand(inventoryInput(args), await playbookOf(args.playbook), (line) => process.stdout.write(`${line}\n`));
      },
    )
    .command(
      'inventory [inventory]',
      'print the resolved groups and variables as JSON, as ansible-inventory does (defaults filled in, secrets masked)',
      (y) =>
        withInventoryOptions(y)
          .option('list', { type: 'boolean', default: false, describe: 'every group and every host\'s variables' })
          .option('host', { type: 'string', requiresArg: true, describe: 'the variables of this host' })
          .option('show-secrets', { type: 'boolean', default: false, describe: 'show secrets instead of ******** (on a terminal only)' })
          .option('playbook', PLAYBOOK_OPTION),
      async (args) => {
        const { inventoryCommand } = await import('./inventory-commands.ts');
        code = await inventoryCommand(
          inventoryInput(args),
          await playbookOf(args.playbook),
          { list: args.list, showSecrets: args['show-secrets'], ...(args.host !== undefined ? { host: args.host } : {}) },
          (line) => process.stdout.write(`${line}\n`),
        );
      },
    )
    .command(
      'facts [inventory]',
      'gather and show what each host is: OS, usable CPUs, memory, SSH, firewall, fail2ban, node',
      (y) =>
        withInventoryOptions(y)
          .option('limit', { alias: 'l', type: 'string', describe: 'hosts: names, groups, globs, comma lists' })
          .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
          .option('forks', { alias: 'f', type: 'number', default: 10, describe: 'hosts handled in parallel' })
          .option('playbook', PLAYBOOK_OPTION),
      async (args) => {
        const { factsCommand } = await import('./facts-command.ts');
        code = await factsCommand(
          { inventory: inventoryInput(args), playbook: await playbookOf(args.playbook), json: args.json, forks: args.forks, ...(args.limit !== undefined ? { limit: args.limit } : {}) },
          (line) => process.stdout.write(`${line}\n`),
        );
      },
    )
    .command(
      'init',
      'write a starter inventory (asks on a terminal for what the flags leave out)',
      (y) =>
        y
          .option('output', { alias: 'o', type: 'string', default: 'inventory.yaml', describe: 'file to write' })
          .option('nodes', { type: 'string', describe: 'node hosts: name=address[,name=address…]' })
          .option('balancers', { type: 'string', describe: 'balancer hosts: name=address[,…]' })
          .option('user', { type: 'string', describe: 'SSH user (default root)' })
          .option('key', { type: 'string', describe: 'private key file (default ~/.ssh/id_ed25519)' })
          .option('domain', { type: 'string', describe: 'the domain the balancer serves' })
          .option('force', { type: 'boolean', default: false, describe: 'replace an existing file' })
          .option('playbook', PLAYBOOK_OPTION),
      async (args) => {
        const { initCommand } = await import('./init-command.ts');
        const given = (name: 'nodes' | 'balancers' | 'user' | 'key' | 'domain') => (args[name] !== undefined ? { [name]: args[name] } : {});
        code = await initCommand(
          { output: args.output, force: args.force, ...given('nodes'), ...given('balancers'), ...given('user'), ...given('key'), ...given('domain') },
          await playbookOf(args.playbook),
          (line) => process.stdout.write(`${line}\n`),
        );
      },
    )
    .command(
      'tasks',
      'list the playbook’s roles with their parameters and defaults',
      (y) =>
        y
          .option('docs', { type: 'string', describe: 'write one Markdown page per role into this directory' })
          .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
          .option('playbook', PLAYBOOK_OPTION),
      async (args) => {
        const { tasksCommand } = await import('./tasks-command.ts');
        const playbook = await playbookOf(args.playbook);
        code = tasksCommand(playbook, { json: args.json, ...(args.docs !== undefined ? { docs: args.docs } : {}) }, (line) => process.stdout.write(`${line}\n`));
      },
    )
    .command(
      'schema',
      'print (or --output) the JSON Schema of the inventory, for editors',
      (y) => y.option('output', { alias: 'o', type: 'string', describe: 'write it to this file' }).option('playbook', PLAYBOOK_OPTION),
      async (args) => {
        const { schemaCommand } = await import('./inventory-commands.ts');
        code = schemaCommand(await playbookOf(args.playbook), args.output, (line) => process.stdout.write(`${line}\n`));
      },
    )
    .command('lab <action>', 'local Debian containers to try provision on', (y) =>
      y
        .positional('action', { choices: ['up', 'down'] as const, demandOption: true })
        .option('nodes', { type: 'number', default: 2, describe: 'node hosts' })
        .option('balancers', { type: 'number', default: 1, describe: 'balancer hosts' }),
      async (args) => {
        const { labCommand } = await import('./lab-command.ts');
        code = await labCommand(args.action, { nodes: args.nodes, balancers: args.balancers });
      },
    )
    // Started by a run in the background (see transport/keeper/server.ts); not for typing.
    .command('keep-connections <socket> <wait>', false, (y) => y.positional('socket', { type: 'string', demandOption: true }).positional('wait', { type: 'number', demandOption: true }), async (args) => {
      const { runKeeper } = await import('../transport/keeper/server.ts');
      // It runs on while its socket listens, and exits once it holds nothing.
      await runKeeper(args.socket, args.wait);
    })
    .demandCommand(1, 'Name a command: apply, plan, show, validate, inventory, facts, init, tasks, schema or lab.')
    .strict()
    .fail((message, error) => {
      // yargs' own usage errors (a flag missing its value, say) are the operator's input, not a failure of ours.
      if (error && error.name !== 'YError') throw error;
      throw new InputError(message ?? error?.message ?? 'invalid command line');
    })
    .help()
    // Help fits the terminal it is shown on (80 columns when it is not a terminal).
    .wrap(process.stdout.columns ?? 80)
    .completion('completion', 'print a shell completion script')
    .parseAsync();
  return code;
}

/** The options `apply` and `plan` share: what to run where, and how to report it. */
function planOptions<T>(y: Argv<T>) {
  return withInventoryOptions(y)
    .option('diff', { type: 'boolean', default: false, describe: 'accepted, as in Ansible: diffs are always shown' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON document (the plan, or the results)' })
    .option('limit', { alias: 'l', type: 'string', describe: 'hosts: names, groups, globs, comma lists, !exclude, &intersect' })
    .option('tags', { alias: 't', type: 'string', array: true, describe: 'run only the roles (and plays) with these tags: role names and the tags roles declare (comma lists, repeatable)' })
    .option('skip-tags', { type: 'string', array: true, describe: 'leave out the roles (and plays) with these tags (comma lists, repeatable)' })
    .option('forks', { alias: 'f', type: 'number', default: 10, describe: 'hosts handled in parallel' })
    .option('batch', { type: 'string', describe: 'hosts of a play that take their changes at once, a count or a percentage (overrides rolling.batch for this run)' })
    .option('playbook', PLAYBOOK_OPTION)
    .option('detailed-exitcode', { type: 'boolean', default: false, describe: 'with a dry run: exit 3 when changes are pending' })
    .option('color', { type: 'boolean', describe: 'colour the output (--no-color to disable)' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'list tasks already in place, variables provision ignores, and each remote command (secrets masked)' })
    .option('log', { type: 'string', describe: 'keep a full run log in this file (commands and outputs, secrets masked)' })
    .option('show-contents', { type: 'boolean', default: false, describe: "put files' whole contents (secrets masked) in --json and --log" });
}

/** The flags `apply` and `plan` share, from their parsed arguments. */
function planFlags(args: InventoryArgs & {
  json: boolean;
  limit?: string | undefined;
  tags?: string[] | undefined;
  'skip-tags'?: string[] | undefined;
  forks: number;
  batch?: string | undefined;
  playbook?: string | undefined;
  'detailed-exitcode': boolean;
  color?: boolean | undefined;
  verbose: boolean;
  log?: string | undefined;
  'show-contents': boolean;
}): Omit<ApplyFlags, 'dryRun' | 'yes'> {
  return {
    inventory: inventoryInput(args),
    json: args.json,
    ...(args.limit !== undefined ? { limit: args.limit } : {}),
    tags: splitTags(args.tags),
    skipTags: splitTags(args['skip-tags']),
    forks: args.forks,
    ...(args.batch !== undefined ? { batch: args.batch } : {}),
    ...(args.playbook !== undefined ? { playbook: args.playbook } : {}),
    detailedExitcode: args['detailed-exitcode'],
    ...(args.color !== undefined ? { color: args.color } : {}),
    verbose: args.verbose,
    ...(args.log !== undefined ? { log: args.log } : {}),
    showContents: args['show-contents'],
  };
}

/** `--tags a,b --tags c` as a list of tags. */
function splitTags(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((value) => value.split(',')).map((tag) => tag.trim()).filter(Boolean);
}

/** Runs the command line `argv` (without node and the script) and sets the process's exit code. */
export async function runCli(argv: string[], options: CliOptions): Promise<void> {
  try {
    process.exitCode = await main(argv, options);
  } catch (error) {
    if (error instanceof InputError) {
      process.stderr.write(`error: ${redact(error.message)}\n`);
      process.exitCode = EXIT.input;
    } else {
      process.stderr.write(`error: ${redact(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
      process.exitCode = EXIT.failed;
    }
  }
}
