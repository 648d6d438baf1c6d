import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';
import {
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  CLI_BUNDLE_SETUP,
  TEST_FILES_EVERYWHERE,
  TEST_FILES_EXCLUDED,
  TEST_FILES_NODE_ONLY,
  TEST_OPTIONS,
  WORKERD_COMPATIBILITY_DATE,
} from './scripts/test-matrix.ts';

/**
 * The runtime matrix, run by `npm run test:matrix` (`vitest run`): three projects, one per
 * runtime. Deno runs the same files through vitest.deno.config.ts (`npm run test:deno`), because
 * vitest itself must run under Deno there.
 *
 * Every project provides `expectedRuntime`, which test/runtime-matrix.test.ts checks against the
 * runtime it detects.
 */
export default defineConfig({
  test: {
    passWithNoTests: false,
    projects: [
      {
        test: {
          name: 'node',
          ...TEST_OPTIONS,
          globalSetup: [CLI_BUNDLE_SETUP],
          include: [...TEST_FILES_EVERYWHERE, ...TEST_FILES_NODE_ONLY],
          exclude: TEST_FILES_EXCLUDED,
          environment: 'node',
          provide: { expectedRuntime: 'node' },
        },
      },
      {
        plugins: [
          cloudflareTest({
            miniflare: {
              compatibilityDate: WORKERD_COMPATIBILITY_DATE,
              // Workers cannot compile WebAssembly from bytes at run time ("Wasm code generation
              // disallowed by embedder"). With this rule, `import wasmModule from 'x.wasm'` (a file
              // of ours or under node_modules) gives a compiled WebAssembly.Module, as it does
              // when wrangler deploys a Worker.
              modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
            },
          }),
        ],
        test: {
          name: 'workerd',
          ...TEST_OPTIONS,
          include: TEST_FILES_EVERYWHERE,
          exclude: [...TEST_FILES_EXCLUDED, ...TEST_FILES_NODE_ONLY],
          provide: { expectedRuntime: 'workerd' },
        },
      },
      {
        test: {
          name: 'browser', // its one instance below is the project `chromium`
          ...TEST_OPTIONS,
          include: TEST_FILES_EVERYWHERE,
          exclude: [...TEST_FILES_EXCLUDED, ...TEST_FILES_NODE_ONLY],
          provide: { expectedRuntime: 'chromium' },
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
            }),
            instances: [{ browser: 'chromium', name: 'chromium' }],
          },
        },
      },
    ],
  },
});
