/** The command line: parses flags, runs a command, and maps errors to exit codes. Only this module exits. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { InputError } from '../errors.ts';
import { redact } from '../report/redact.ts';
import { applyCommand, EXIT } from './apply-command.ts';

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

async function main(argv: string[]): Promise<number> {
  let code = EXIT.ok as number;
  await yargs(argv)
    .scriptName('provision')
    .usage('$0 <command> [options]')
    .command(
      'apply <inventory>',
      'gather facts, plan, show every diff, ask, apply',
      (y) =>
        y
          .positional('inventory', { type: 'string', demandOption: true, describe: 'inventory YAML file' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'plan and show diffs only; change nothing' })
          .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'apply without asking' })
          .option('json', { type: 'boolean', default: false, describe: 'print one JSON document (the plan, or the results)' })
          .option('limit', { alias: 'l', type: 'string', describe: 'hosts: names, groups, globs, comma lists, !exclude, &intersect' })
          .option('forks', { alias: 'f', type: 'number', default: 10, describe: 'hosts handled in parallel' })
          .option('playbook', { alias: 'p', type: 'string', describe: 'playbook module to run (default playbooks/site.ts)' })
          .option('detailed-exitcode', { type: 'boolean', default: false, describe: 'with --dry-run: exit 3 when changes are pending' })
          .option('color', { type: 'boolean', describe: 'colour the output (--no-color to disable)' })
          .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'list tasks already in place, and show each remote command (secrets masked)' })
          .option('log', { type: 'string', describe: 'keep a full run log in this file (commands and outputs, secrets masked)' })
          .option('show-contents', { type: 'boolean', default: false, describe: "put files' whole contents (secrets masked) in --json and --log" }),
      async (args) => {
        code = await applyCommand(
          {
            inventory: args.inventory,
            dryRun: args['dry-run'],
            yes: args.yes,
            json: args.json,
            ...(args.limit !== undefined ? { limit: args.limit } : {}),
            forks: args.forks,
            ...(args.playbook !== undefined ? { playbook: args.playbook } : {}),
            detailedExitcode: args['detailed-exitcode'],
            ...(args.color !== undefined ? { color: args.color } : {}),
            verbose: args.verbose,
            ...(args.log !== undefined ? { log: args.log } : {}),
            showContents: args['show-contents'],
          },
          () => interruptions > 0,
        );
      },
    )
    .command(
      'validate <inventory>',
      'check the inventory against the schema; contacts no host',
      (y) => y.positional('inventory', { type: 'string', demandOption: true }),
      async (args) => {
        const { validateCommand } = await import('./inventory-commands.ts');
        code = await validateCommand(args.inventory, (line) => process.stdout.write(`${line}\n`));
      },
    )
    .command(
      'facts <inventory>',
      'gather and show what each host is: OS, usable CPUs, memory, SSH, firewall, fail2ban, node',
      (y) =>
        y
          .positional('inventory', { type: 'string', demandOption: true })
          .option('limit', { alias: 'l', type: 'string', describe: 'hosts: names, groups, globs, comma lists' })
          .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
          .option('forks', { alias: 'f', type: 'number', default: 10, describe: 'hosts handled in parallel' }),
      async (args) => {
        const { factsCommand } = await import('./facts-command.ts');
        code = await factsCommand(
          { inventory: args.inventory, json: args.json, forks: args.forks, ...(args.limit !== undefined ? { limit: args.limit } : {}) },
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
          .option('force', { type: 'boolean', default: false, describe: 'replace an existing file' }),
      async (args) => {
        const { initCommand } = await import('./init-command.ts');
        const given = (name: 'nodes' | 'balancers' | 'user' | 'key' | 'domain') => (args[name] !== undefined ? { [name]: args[name] } : {});
        code = await initCommand(
          { output: args.output, force: args.force, ...given('nodes'), ...given('balancers'), ...given('user'), ...given('key'), ...given('domain') },
          (line) => process.stdout.write(`${line}\n`),
        );
      },
    )
    .command(
      'tasks',
      'list the site playbook’s tasks with their parameters and defaults',
      (y) =>
        y
          .option('docs', { type: 'string', describe: 'write one Markdown page per task into this directory' })
          .option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
      async (args) => {
        const { tasksCommand } = await import('./tasks-command.ts');
        code = tasksCommand({ json: args.json, ...(args.docs !== undefined ? { docs: args.docs } : {}) }, (line) => process.stdout.write(`${line}\n`));
      },
    )
    .command(
      'schema',
      'print (or --output) the JSON Schema of the inventory, for editors',
      (y) => y.option('output', { alias: 'o', type: 'string', describe: 'write it to this file' }),
      async (args) => {
        const { schemaCommand } = await import('./inventory-commands.ts');
        code = schemaCommand(args.output, (line) => process.stdout.write(`${line}\n`));
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
    .demandCommand(1, 'Name a command: apply, validate, facts, init, tasks, schema or lab.')
    .strict()
    .fail((message, error) => {
      if (error) throw error;
      throw new InputError(message);
    })
    .help()
    .completion('completion', 'print a shell completion script')
    .parseAsync();
  return code;
}

try {
  process.exitCode = await main(hideBin(process.argv));
} catch (error) {
  if (error instanceof InputError) {
    process.stderr.write(`error: ${redact(error.message)}\n`);
    process.exitCode = EXIT.input;
  } else {
    process.stderr.write(`error: ${redact(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
    process.exitCode = EXIT.failed;
  }
}
