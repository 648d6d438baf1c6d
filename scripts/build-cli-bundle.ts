import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, extname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Loader, type Plugin } from 'esbuild';
import { bundleHeader, CLI_BUNDLE, inputsDigest } from '../bin/cli-bundle.js';

/**
 * Builds the `nexus` CLI bundle (bin/cli-bundle.js says why and how bin/nexus.js checks it) from
 * the sources as they are now. The node and Deno test runs call it before any test (vitest
 * globalSetup), so the processes their tests start run today's code, quickly.
 */

const REPOSITORY = fileURLToPath(new URL('..', import.meta.url));
const ENTRY = fileURLToPath(new URL('../runtimes/node/cli/main.ts', import.meta.url));

/** Files that steer how imports resolve (package.json "imports", tsconfig) without being bundled. */
const RESOLUTION_FILES = ['package.json', 'tsconfig.json'].map((name) => fileURLToPath(new URL(`../${name}`, import.meta.url)));

const LOADERS: Record<string, Loader> = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.js': 'js', '.mjs': 'js', '.cjs': 'js', '.json': 'json' };

/**
 * Bundled code that is CommonJS calls `require`, which an ES module does not have; this one
 * resolves from the bundle's place under node_modules, as the packages' own would.
 */
const REQUIRE_SHIM = "import { createRequire as createRequireForBundle } from 'node:module';\nconst require = createRequireForBundle(import.meta.url);\n";

export async function buildCliBundle(bundle: URL = CLI_BUNDLE): Promise<void> {
  const bundlePath = fileURLToPath(bundle);
  const files = new Map<string, Uint8Array>();
  for (const path of RESOLUTION_FILES) files.set(path, await readFile(path));
  const code = await bundleModule(ENTRY, files);
  const inputs = [...files.keys()].sort().map((path) => ({ path: relative(dirname(bundlePath), path).split('\\').join('/'), bytes: files.get(path)! }));
  const header = bundleHeader({ inputs: inputs.map((input) => input.path), sha256: inputsDigest(inputs) });
  await writeAtomically(bundlePath, header + code);
}

/**
 * Bundles the script at `entry` as it is now into `bundle`, for a test that starts it as a child
 * process right after (so it cannot be stale) and wants it to start like the CLI bundle does:
 * without compiling TypeScript, and without tsx's own memory in the child's resident set.
 * `bundle` must be under the repository's node_modules (see REQUIRE_SHIM).
 */
export async function buildScriptBundle(entry: string, bundle: URL): Promise<void> {
  await writeAtomically(fileURLToPath(bundle), await bundleModule(entry, new Map()));
}

/** One ES module of `entry` and everything it imports; `files` gets the bytes of each file read. */
async function bundleModule(entry: string, files: Map<string, Uint8Array>): Promise<string> {
  const result = await build({
    absWorkingDir: REPOSITORY,
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // msgpackr-extract is a native addon that finds its binary from its own folder at run time.
    external: ['msgpackr-extract'],
    banner: { js: REQUIRE_SHIM },
    plugins: [recordingLoader(files)],
    write: false,
    logLevel: 'warning',
  });
  const output = result.outputFiles[0];
  if (output === undefined || result.outputFiles.length !== 1) throw new Error(`esbuild made ${result.outputFiles.length} files for the bundle of ${entry}, expected 1`);
  return output.text;
}

/** Written aside and renamed, so that a process starting meanwhile sees the old bundle or the new one. */
async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}

/**
 * Loads every file itself and keeps its bytes, so that the digest in the header is of exactly
 * what went into the bundle, even when a file changes while esbuild runs.
 */
function recordingLoader(files: Map<string, Uint8Array>): Plugin {
  return {
    name: 'recording-loader',
    setup(builder) {
      builder.onLoad({ filter: /.*/, namespace: 'file' }, async ({ path }) => {
        const loader = LOADERS[extname(path)];
        if (loader === undefined) throw new Error(`cannot bundle ${path}: no loader for ${extname(path) || 'a file without an extension'}`);
        const bytes = await readFile(path);
        files.set(path, bytes);
        return { contents: bytes, loader };
      });
    },
  };
}

/** Vitest globalSetup of the node and Deno test runs. */
export default async function setup(): Promise<void> {
  await buildCliBundle();
}
