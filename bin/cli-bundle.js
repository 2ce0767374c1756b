/**
 * The CLI as ES modules built by esbuild from the TypeScript sources, kept in node_modules/.provision/. Loading
 * them skips the TypeScript loader and a hundred module resolutions; code splitting keeps what one command needs
 * (the lab's zx, say) out of the others. The build is redone whenever a source file is added, removed or changed:
 * the count, the sum of mtimes and the total size of the sources, package.json and esbuild's version make its stamp, and
 * each stamp gets a directory of its own.
 *
 * The libraries are bundled too (a few hundred CommonJS files that Node's ES loader would otherwise translate one
 * by one), except those that load native code or files next to their own sources, which stay in node_modules.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_DIRS = ['src', 'tasks', 'playbooks'];
const BUNDLES = join(ROOT, 'node_modules', '.provision');
const STALE_BUILD_MS = 10 * 60_000;
/** ssh2 and node-ssh (ssh2's optional native crypto), esbuild itself, and the lab's zx, which only `lab` loads. */
const UNBUNDLED = ['ssh2', 'node-ssh', 'cpu-features', 'esbuild', 'zx'];

/**
 * zod names its 60-odd message translations in its namespace, so a bundle that uses `z.object` carries them all
 * (a third of the build, ~80 ms of every start to compile). The CLI speaks English: the namespace gets English only.
 */
const englishOnlyZod = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer)
        ? { path: join(dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'zod-english' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-english' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
    }));
  },
};

/**
 * yargs' ES build lays out help with cliui's ES build, whose line wrapping cuts words at the column ("appl" / "y");
 * its CommonJS build wraps between words (wrap-ansi). The bundle takes that one.
 */
const wordWrappingHelp = {
  name: 'word-wrapping-help',
  setup(build) {
    build.onResolve({ filter: /^cliui$/ }, (args) =>
      /yargs[\\/]lib[\\/]platform-shims[\\/]/.test(args.importer) ? { path: join(ROOT, 'node_modules', 'cliui', 'build', 'index.cjs') } : undefined,
    );
  },
};

/** What a build is made from: changes whenever a source file is added, removed or edited. */
export function sourceStamp(esbuildVersion, root = ROOT) {
  let count = 0;
  let mtimes = 0;
  let size = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const stats = statSync(path);
        count += 1;
        mtimes += Math.floor(stats.mtimeMs); // whole ms, so that the sum stays exact in a double
        size += stats.size;
      }
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(root, dir));
  // The entry point beside this file, which names the default playbook.
  const entryPoint = join(root, 'bin', 'main.ts');
  if (existsSync(entryPoint)) {
    const stats = statSync(entryPoint);
    mtimes += Math.floor(stats.mtimeMs);
    size += stats.size;
  }
  const manifest = statSync(join(root, 'package.json'));
  // This file holds the build's options: a change to it makes a new build too.
  const builder = statSync(fileURLToPath(import.meta.url));
  const text = JSON.stringify([count, mtimes, size, manifest.mtimeMs, manifest.size, builder.mtimeMs, builder.size, esbuildVersion]);
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * Older builds go once they have sat unused for a while: a run started a moment ago may still be importing the chunks
 * of the build it found, and so may a leftover partial build of a run that was killed.
 */
function removeStaleBuilds(current) {
  const cutoff = Date.now() - STALE_BUILD_MS;
  for (const old of readdirSync(BUNDLES)) {
    if (old === current) continue;
    const path = join(BUNDLES, old);
    try {
      if (statSync(path).mtimeMs < cutoff) rmSync(path, { recursive: true, force: true });
    } catch {
      // removed by another run meanwhile
    }
  }
}

/** esbuild's version, read without loading esbuild, so that a current build costs a few stats. */
function esbuildVersion() {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', 'esbuild', 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/**
 * The entry module of a current build, building it first when the sources changed; undefined when it cannot be
 * built (no esbuild, or node_modules is read-only): the caller then runs the sources through the TypeScript loader.
 */
export async function cliBundle() {
  const version = esbuildVersion();
  if (!version) return undefined;
  const stamp = sourceStamp(version);
  const entry = join(BUNDLES, stamp, 'main.js');
  if (existsSync(entry)) return entry;
  try {
    const { build } = await import('esbuild');
    // Built aside and renamed into place: runs started at the same time never load a half-written build.
    const partial = join(BUNDLES, `${stamp}.${process.pid}.partial`);
    await build({
      entryPoints: [join(ROOT, 'bin', 'main.ts')],
      outdir: partial,
      // The same build whatever directory the CLI was started from (the connection keeper starts in /).
      absWorkingDir: ROOT,
      bundle: true,
      splitting: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: UNBUNDLED,
      // Bundled CommonJS libraries call require() for Node's built-in modules.
      banner: { js: "import { createRequire as provisionRequire } from 'node:module'; const require = provisionRequire(import.meta.url);" },
      logLevel: 'silent',
      // ES builds first: a UMD build (jsonc-parser's) requires its parts at run time, where a bundle cannot find them.
      mainFields: ['module', 'main'],
      plugins: [englishOnlyZod, wordWrappingHelp],
    });
    try {
      renameSync(partial, join(BUNDLES, stamp));
    } catch {
      rmSync(partial, { recursive: true, force: true }); // another run put the same build in place first
    }
    removeStaleBuilds(stamp);
    return existsSync(entry) ? entry : undefined;
  } catch {
    return undefined;
  }
}
