#!/usr/bin/env node
/**
 * Entry point. Runs the CLI from its bundle (see cli-bundle.js). A playbook given as a file is a TypeScript module
 * that imports the project's tasks from source: then the CLI runs from source too, through the TypeScript loader,
 * so that the playbook and the engine share one copy of every module.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { cliBundle } from './cli-bundle.js';

/** True when `arg` is a saved plan made with a playbook of its own (`provision apply PLAN.json`): its start says so. */
function planWithPlaybook(arg) {
  if (!arg.endsWith('.json')) return false;
  let fd;
  try {
    fd = openSync(arg, 'r');
    const start = Buffer.alloc(16_384);
    const text = start.subarray(0, readSync(fd, start, 0, start.length, 0)).toString('utf8');
    return /^\s*\{\s*"format":\s*"provision-plan"/.test(text) && /"playbook":\s*\{\s*"path":/.test(text);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const ownPlaybook = process.argv.some((arg) => arg === '--playbook' || arg === '-p' || arg.startsWith('--playbook=')) || (process.argv[2] === 'apply' && process.argv.slice(3).some(planWithPlaybook));
const bundle = ownPlaybook ? undefined : await cliBundle();
if (bundle) {
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./main.ts');
}
