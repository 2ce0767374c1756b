/** The test bed as a whole: what the test runner prepares once before any e2e test. */
import { ensureDockerEngine, type LabLog } from '../../src/lab/docker-engine.ts';
import { ensureLabImage } from '../../src/lab/image.ts';

/** Makes sure a Docker engine answers and the lab image is current (installs and builds on a fresh machine). */
export async function ensureTestBed(log: LabLog = (line) => process.stderr.write(`[test bed] ${line}\n`)): Promise<void> {
  await ensureDockerEngine(log);
  await ensureLabImage(log);
}
