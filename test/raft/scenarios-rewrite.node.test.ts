import { readdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runScenario } from './scenario-runner.ts';

/**
 * Rewrites the expected transcripts of test/raft/scenarios/*.txt with the current output, when
 * (and only when) RAFT_SCENARIOS_REWRITE=1. A developer does this deliberately after a change to
 * Raft or to the runner, and reviews the diff like code. Without the variable this test only
 * checks that every script parses and runs.
 */
const SCENARIOS_FOLDER = fileURLToPath(new URL('./scenarios/', import.meta.url));
const REWRITE = process.env['RAFT_SCENARIOS_REWRITE'] === '1';

describe('raft scenario files', () => {
  it(REWRITE ? 'rewrites expected transcripts' : 'every script runs (set RAFT_SCENARIOS_REWRITE=1 to rewrite)', async () => {
    const names = (await readdir(SCENARIOS_FOLDER)).filter((name) => name.endsWith('.txt')).sort();
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const path = `${SCENARIOS_FOLDER}${name}`;
      const text = await readFile(path, 'utf8');
      const result = runScenario(text);
      if (REWRITE && result.actualText !== text) await writeFile(path, result.actualText);
    }
  });
});
