import { describe, expect, it } from 'vitest';
import { Simulation } from './simulation.ts';
import { CASE_TIMEOUT_MS, CROSS_RUNTIME_SEEDS, CROSS_RUNTIME_STEPS, optionsForSeed, SEEDS_PER_CASE } from './simulation-seeds.ts';

/**
 * Deterministic randomized simulation of Raft groups (see simulation.ts for the faults, storage
 * faults included, and the checkers, including the linearizability check of the clients'
 * key-value history), in every runtime: a fixed set of long seeds (simulation-seeds.ts). The
 * 1,000 CI seeds run in Node and Deno (simulation-seeds.node.test.ts). A failure prints the seed
 * and the command that replays it: `npm run sim -- --seed <seed> --steps <steps>`.
 */

const FIRST_SEED = 1;

describe('raft simulation', () => {
  for (let start = FIRST_SEED; start < FIRST_SEED + CROSS_RUNTIME_SEEDS; start += SEEDS_PER_CASE) {
    const batch = Array.from({ length: Math.min(SEEDS_PER_CASE, FIRST_SEED + CROSS_RUNTIME_SEEDS - start) }, (_, index) => start + index);
    it(`keeps every safety property and recovers, seeds ${batch[0]}..${batch[batch.length - 1]} (${CROSS_RUNTIME_STEPS} steps each)`, async () => {
      let committed = 0;
      for (const seed of batch) committed += (await new Simulation(optionsForSeed(seed, CROSS_RUNTIME_STEPS)).run()).entriesCommitted;
      // The runs must have done something: a simulation that commits nothing proves nothing.
      expect(committed).toBeGreaterThan(batch.length * 10);
    }, CASE_TIMEOUT_MS);
  }

  it('exercises crashes (storage faults included), snapshots, leader changes, reads and client histories (over the first seeds)', async () => {
    let snapshots = 0;
    let crashes = 0;
    let unsyncedWritesLost = 0;
    let leaders = 0;
    let reads = 0;
    let clientOperations = 0;
    let fullyChecked = 0;
    const storages = new Set<string>();
    for (let seed = FIRST_SEED; seed < FIRST_SEED + 10; seed++) {
      const options = optionsForSeed(seed, CROSS_RUNTIME_STEPS);
      storages.add(options.storage);
      const report = await new Simulation(options).run();
      snapshots += report.snapshotsInstalled;
      crashes += report.crashes;
      unsyncedWritesLost += report.unsyncedWritesLost;
      leaders += report.leadersElected;
      reads += report.readsAnswered;
      clientOperations += report.clientOperations;
      if (report.linearizability === 'linearizable') fullyChecked++;
    }
    expect([...storages].sort()).toEqual(['kv', 'memory']);
    expect(snapshots).toBeGreaterThan(0);
    expect(crashes).toBeGreaterThan(0);
    expect(unsyncedWritesLost).toBeGreaterThan(0);
    expect(leaders).toBeGreaterThan(10);
    expect(reads).toBeGreaterThan(10);
    expect(clientOperations).toBeGreaterThan(30);
    // 'unknown' (search budget exhausted) must stay the exception, or the check proves little.
    expect(fullyChecked).toBeGreaterThanOrEqual(9);
  }, CASE_TIMEOUT_MS);

  it('a replayed seed gives the same run, on either storage', async () => {
    for (const seed of [7, 4]) {
      const first = await new Simulation(optionsForSeed(seed, CROSS_RUNTIME_STEPS)).run();
      const second = await new Simulation(optionsForSeed(seed, CROSS_RUNTIME_STEPS)).run();
      expect(second).toEqual(first);
    }
  }, CASE_TIMEOUT_MS);
});
