import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CrashTally, crashRaftEveryPoint } from './raft-crash-run.ts';
import { raftCrashTestSettings } from './raft-crash-settings.ts';
import { raftWorkloadArbitrary } from './raft-workload.ts';

/**
 * The crash property test of KvRaftStorage. Each generated workload (raft-workload.ts: appends,
 * tails replaced in a new term, term and vote changes, installed and created snapshots, compaction,
 * some issued without waiting) runs once on a KV store over a CrashStorageFile; then, for every
 * write, truncate and sync event (every crash point), a crash image is built (unsynced writes lost,
 * kept or torn, in a random order), store and storage are reopened on it, and raft-crash-run.ts
 * checks that they answer the state after a prefix of the writes that keeps every durable one, and
 * still work.
 *
 * A failure names the crash point and lists the writes; fast-check prints the workload's seed and
 * path; raft-crash-settings.ts says how to replay it or run more points.
 */

describe('KvRaftStorage crash safety', () => {
  const settings = raftCrashTestSettings();

  it(`recovers a prefix of the writes that keeps every durable one, at every crash point (${settings.workloads} workloads, about ${settings.points} points)`, async () => {
    const tally = new CrashTally();
    const startedMs = Date.now();
    await fc.assert(
      fc.asyncProperty(raftWorkloadArbitrary, async (workload) => {
        const failure = await crashRaftEveryPoint(workload, { onlyAfterEvent: settings.afterEvent, tally });
        if (failure !== undefined) throw new Error(failure);
        tally.workloads++;
      }),
      {
        numRuns: settings.workloads,
        ...(settings.seed === undefined ? {} : { seed: settings.seed }),
        ...(settings.path === undefined ? {} : { path: settings.path }),
      },
    );
    console.info(`raft storage crash test: ${tally.describe()}, ${Date.now() - startedMs} ms`);
    expect(tally.points).toBeGreaterThan(0);
    if (settings.afterEvent === undefined) {
      for (const mode of ['lost', 'kept', 'torn', 'reordered'] as const) expect(tally.modes[mode], mode).toBeGreaterThan(0);
    }
  }, settings.timeoutMs);
});
