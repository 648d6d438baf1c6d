// @ts-check
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The `nexus` CLI as one JavaScript file, and how bin/nexus.js decides whether it may run it.
 *
 * Through tsx, a `nexus` process compiles and loads some six hundred modules before it does
 * anything (`nexus --help`: 0.8 s of CPU, seconds on a loaded machine); the bundle (all of them,
 * dependencies included, made by esbuild) does the same in 0.1 s. The test run builds it from the
 * current sources (scripts/build-cli-bundle.ts), so that the many processes its tests start are fast.
 *
 * A bundle must never run older than its sources: its first line names every file it was made of
 * (paths relative to the bundle) and the SHA-256 of exactly the bytes that went into it, and
 * bin/nexus.js runs it only while the same files still hash to the same digest. Any edit,
 * checkout or `npm install` that changes one of them sends the CLI back to the sources through
 * tsx until the next test run builds the bundle again.
 */

/** Where the test run puts the bundle: a cache that `npm ci` wipes and git ignores. */
export const CLI_BUNDLE = new URL('../node_modules/.cache/nexusfs/nexus.mjs', import.meta.url);

const HEADER_PREFIX = '// nexus-cli-bundle ';

/**
 * @typedef {object} BundleManifest
 * @property {string[]} inputs the files the bundle was made of, relative to the bundle's folder
 * @property {string} sha256 inputsDigest of those files as they were bundled
 */

/**
 * One digest over the files' names and bytes, in the order given.
 * @param {ReadonlyArray<{ path: string, bytes: Uint8Array }>} files
 * @returns {string}
 */
export function inputsDigest(files) {
  const hash = createHash('sha256');
  for (const { path, bytes } of files) hash.update(`${path}\0${bytes.length}\0`).update(bytes);
  return hash.digest('hex');
}

/**
 * The bundle's first line.
 * @param {BundleManifest} manifest
 * @returns {string}
 */
export function bundleHeader(manifest) {
  return `${HEADER_PREFIX}${JSON.stringify(manifest)}\n`;
}

/**
 * The bundle when it exists and every file it was made of is as it was then; otherwise undefined
 * (no bundle, one without a header, or one whose sources changed or went away).
 * @param {URL} bundle
 * @returns {URL | undefined}
 */
export function freshBundle(bundle) {
  let text;
  try {
    text = readFileSync(bundle, 'utf8');
  } catch {
    return undefined;
  }
  const manifest = parseHeader(text.slice(0, text.indexOf('\n')));
  if (manifest === undefined) return undefined;
  const files = [];
  for (const path of manifest.inputs) {
    try {
      files.push({ path, bytes: readFileSync(new URL(path, bundle)) });
    } catch {
      return undefined;
    }
  }
  return inputsDigest(files) === manifest.sha256 ? bundle : undefined;
}

/**
 * @param {string} line
 * @returns {BundleManifest | undefined}
 */
function parseHeader(line) {
  if (!line.startsWith(HEADER_PREFIX)) return undefined;
  try {
    const manifest = JSON.parse(line.slice(HEADER_PREFIX.length));
    const valid = Array.isArray(manifest.inputs) && manifest.inputs.every((/** @type {unknown} */ path) => typeof path === 'string') && typeof manifest.sha256 === 'string';
    return valid ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs the CLI in this process: `bundle` when it is fresh, else the TypeScript sources through
 * tsx (loaded only then, since it costs more than the whole bundle).
 * @param {URL} bundle
 * @returns {Promise<void>}
 */
export async function runNexusCli(bundle) {
  const fresh = freshBundle(bundle);
  if (fresh !== undefined) {
    await import(fresh.href);
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import('../runtimes/node/cli/main.ts');
}
