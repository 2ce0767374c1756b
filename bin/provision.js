#!/usr/bin/env node
/**
 * Entry point. Runs the CLI from its bundle (see cli-bundle.js). A playbook given as a file is a TypeScript module
 * that imports the project's tasks from source: then the CLI runs from source too, through the TypeScript loader,
 * so that the playbook and the engine share one copy of every module.
 */
import { pathToFileURL } from 'node:url';
import { cliBundle } from './cli-bundle.js';

const ownPlaybook = process.argv.some((arg) => arg === '--playbook' || arg === '-p' || arg.startsWith('--playbook='));
const bundle = ownPlaybook ? undefined : await cliBundle();
if (bundle) {
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./main.ts');
}
