import { defineConfig } from 'vitest/config';
import {
  CLI_BUNDLE_SETUP,
  TEST_FILES_EVERYWHERE,
  TEST_FILES_EXCLUDED,
  TEST_FILES_NODE_ONLY,
  TEST_OPTIONS,
} from './scripts/test-matrix.ts';

/**
 * The Deno leg of the runtime matrix. Vitest itself runs under Deno
 * (`deno run -A node_modules/vitest/vitest.mjs run --config vitest.deno.config.ts`, see
 * `npm run test:deno`), so test files see the global `Deno` and Deno's Node compatibility layer.
 * Packages resolve from node_modules (deno.json: "nodeModulesDir": "manual").
 */
export default defineConfig({
  test: {
    name: 'deno',
    include: [...TEST_FILES_EVERYWHERE, ...TEST_FILES_NODE_ONLY],
    exclude: TEST_FILES_EXCLUDED,
    environment: 'node',
    globalSetup: [CLI_BUNDLE_SETUP],
    ...TEST_OPTIONS,
    passWithNoTests: false,
    provide: { expectedRuntime: 'deno' },
  },
});
