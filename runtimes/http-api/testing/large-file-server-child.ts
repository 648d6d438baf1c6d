import { fileURLToPath } from 'node:url';
import { buildScriptBundle } from '../../../scripts/build-cli-bundle.ts';

/**
 * How the streaming test and bench:stream-memory start the large-file server (large-file-server.ts)
 * as a child process, so that the bench measures the server the test bounds.
 */

const SERVER_SCRIPT = fileURLToPath(new URL('./large-file-server.ts', import.meta.url));
/** Under node_modules, so that the bundle's bare imports resolve as the sources' do. */
const SERVER_BUNDLE = new URL('../../../node_modules/.cache/nexusfs/large-file-server.mjs', import.meta.url);

/**
 * A 1 MiB young generation: node:http copies each upload segment into a fresh ArrayBuffer, and with
 * V8's default semi-space up to 32 MiB of them die before a scavenge frees them, so the RSS growth
 * moved with GC timing (21-63 MiB over some 80 rounds, once 75 MiB in CI) rather than with what the
 * server holds. Scavenging sooner keeps that noise out (18-24 MiB in the test's runs), while a
 * server that buffered a 256 MiB body would still fail the test's bounds.
 */
const SERVER_NODE_FLAGS = ['--max-semi-space-size=1'];

/** What the server child answers `report` with (see large-file-server.ts). */
export interface ServerReport {
  peakRssBytes: number;
  samples: number;
  nowRssBytes: number;
  atPeak: { heapTotalBytes: number; externalBytes: number; arrayBuffersBytes: number };
}

/**
 * Bundles the server from the sources as they are now, before the children start: through tsx it
 * held some 150 MiB before its first request, most of it the compiler's.
 */
export async function buildLargeFileServer(): Promise<void> {
  await buildScriptBundle(SERVER_SCRIPT, SERVER_BUNDLE);
}

/** The arguments to Node that start the bundled server (buildLargeFileServer) on `directory`. */
export function largeFileServerArguments(directory: string): string[] {
  return [...SERVER_NODE_FLAGS, fileURLToPath(SERVER_BUNDLE), directory];
}
