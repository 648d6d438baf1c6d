/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import { runScenario } from './scenario-runner.ts';

/**
 * Runs every script in test/raft/scenarios/ and compares each command's transcript exactly.
 * The scripts are bundled as raw strings, so this runs where there is no file system (workerd,
 * Chromium). To accept new output deliberately, run (Node only):
 *   RAFT_SCENARIOS_REWRITE=1 npx vitest run --project node test/raft/scenarios-rewrite.node.test.ts
 * and review the diff before committing it.
 */
const scripts = import.meta.glob<string>('./scenarios/*.txt', { query: '?raw', import: 'default', eager: true });

describe('raft scenarios', () => {
  it('finds the scenario scripts', () => {
    expect(Object.keys(scripts).length).toBeGreaterThanOrEqual(10);
  });

  for (const [path, text] of Object.entries(scripts).sort(([a], [b]) => a.localeCompare(b))) {
    const name = path.replace('./scenarios/', '');
    it(name, () => {
      const result = runScenario(text);
      const report = result.mismatches
        .map((mismatch) => `${name}:${mismatch.lineNumber} ${mismatch.line}\n--- expected\n${mismatch.expected}\n--- actual\n${mismatch.actual}`)
        .join('\n\n');
      expect(result.mismatches.length, `transcripts differ:\n${report}`).toBe(0);
    });
  }
});
