/**
 * Which test files run where. Shared by vite.config.ts (node, workerd, chromium) and
 * vitest.deno.config.ts (deno), so that the four runtimes cannot drift apart.
 *
 * - `*.test.ts` under kernel/, drivers/, test/ and runtimes/http-api/ (the runtime-neutral HTTP API
 *   and its clients) run in all four runtimes.
 * - `*.node.test.ts` use the file system (`node:fs/promises`, ...) and run in Node and Deno only.
 */
export const TEST_FILES_EVERYWHERE = ['kernel/**/*.test.ts', 'drivers/**/*.test.ts', 'test/**/*.test.ts', 'runtimes/http-api/**/*.test.ts'];

export const TEST_FILES_NODE_ONLY = ['**/*.node.test.ts'];

export const TEST_FILES_EXCLUDED = ['**/node_modules/**', 'bench/**', 'examples/**'];

/**
 * The globalSetup of the node and Deno runs, whose tests start `nexus` processes: it builds the
 * CLI bundle from the current sources first, so those processes start in a fraction of a second
 * instead of compiling TypeScript through tsx (bin/cli-bundle.js).
 */
export const CLI_BUNDLE_SETUP = 'scripts/build-cli-bundle.ts';

/** The runtime names as they appear in test output and as `inject('expectedRuntime')` values. */
export type RuntimeName = 'node' | 'deno' | 'workerd' | 'chromium';

/**
 * Per-test timeout. Generous because two cores run four runtimes; a test that needs more
 * should say so itself.
 */
export const TEST_TIMEOUT_MS = 30_000;

/**
 * What every runtime's run states (inline vitest projects do not inherit the root's options): the
 * timeouts, and test/byte-equality.ts, a fast toEqual for Uint8Arrays, as a setup file.
 */
export const TEST_OPTIONS = { testTimeout: TEST_TIMEOUT_MS, hookTimeout: TEST_TIMEOUT_MS, setupFiles: ['test/byte-equality.ts'] };

/** Chromium from Debian; `scripts/prepare-test.sh` installs it when missing. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Flags for headless Chromium on this machine: no sandbox (tests run as root), and no background
 * traffic, since the network is closed and Chromium would otherwise keep retrying Google's hosts.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
];

/** The workerd compatibility date: fixed, so a run does not depend on the day it runs. */
export const WORKERD_COMPATIBILITY_DATE = '2026-04-01';
