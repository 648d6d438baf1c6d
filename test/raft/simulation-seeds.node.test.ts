import { describe, expect, it } from 'vitest';
import { Simulation } from './simulation.ts';
import { CASE_TIMEOUT_MS, ciSeedsToRun, optionsForSeed, SEEDS_PER_CASE } from './simulation-seeds.ts';

/**
 * The 1,000 Raft simulation seeds every CI run checks (Node and Deno; simulation-seeds.ts says why
 * they are shorter than the cross-runtime ones, and which run on KvRaftStorage with storage
 * faults). `npm run sim -- --seeds N --first-seed S --steps K` runs others, `--seed S` one.
 */
describe('raft simulation, CI seeds', () => {
  const { seeds, steps } = ciSeedsToRun();
  for (let start = 0; start < seeds.length; start += SEEDS_PER_CASE) {
    const batch = seeds.slice(start, start + SEEDS_PER_CASE);
    it(`keeps every safety property and recovers, seeds ${batch[0]}..${batch[batch.length - 1]} (${steps} steps each)`, async () => {
      let committed = 0;
      for (const seed of batch) committed += (await new Simulation(optionsForSeed(seed, steps)).run()).entriesCommitted;
      expect(committed).toBeGreaterThan(batch.length);
    }, CASE_TIMEOUT_MS);
  }
});
