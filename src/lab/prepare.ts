/**
 * Prepares this machine for the e2e tests and the lab: a running Docker engine, a current lab image, and proof
 * that a lab host boots here (or, when it does not, why).
 */
import { checkLabHostBoots } from './boot-check.ts';
import { ensureDockerEngine } from './docker-engine.ts';
import { ensureLabImage } from './image.ts';

const log = (line: string) => process.stderr.write(`[lab] ${line}\n`);
const started = Date.now();
await ensureDockerEngine(log);
await ensureLabImage(log);
await checkLabHostBoots(log);
log(`test bed ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
