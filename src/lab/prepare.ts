/** Prepares this machine for the e2e tests and the lab: a running Docker engine and a current lab image. */
import { ensureDockerEngine } from './docker-engine.ts';
import { ensureLabImage } from './image.ts';

const log = (line: string) => process.stderr.write(`[lab] ${line}\n`);
const started = Date.now();
await ensureDockerEngine(log);
await ensureLabImage(log);
log(`test bed ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
