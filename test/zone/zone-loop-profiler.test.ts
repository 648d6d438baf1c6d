import { describe, expect, it } from 'vitest';
import type { ZoneLoopPhase, ZoneLoopProfiler } from '../../kernel/zone/loop-profiler.ts';
import { withCluster } from './zone-cluster.ts';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

interface Recorded {
  readonly phase: ZoneLoopPhase;
  readonly durationMs: number;
  readonly count: number;
  readonly synced: boolean | undefined;
}

/** A profiler on a clock that advances 1 ms per reading, so every phase lasts a whole number of ms. */
function recordingProfiler(): ZoneLoopProfiler & { readonly recorded: Recorded[] } {
  let nowMs = 0;
  const recorded: Recorded[] = [];
  return {
    recorded,
    now: () => nowMs++,
    record: (phase, durationMs, count, synced) => recorded.push({ phase, durationMs, count, synced }),
  };
}

describe('zone loop profiler', () => {
  it('is told the phases of the loop that handled an SC write: its commit, the synced persist of its entry, its apply and the messages sent', async () => {
    const profilers = new Map([1, 2, 3].map((nodeId) => [nodeId, recordingProfiler()] as const));
    await withCluster({ profiler: (nodeId) => profilers.get(nodeId) }, async (cluster) => {
      for (const profiler of profilers.values()) profiler.recorded.length = 0;
      await cluster.drive(cluster.replica(1).metastore.put(utf8('k'), utf8('v')));
      await cluster.tick(2);
      const leader = profilers.get(1)!.recorded;
      const phases = (recorded: readonly Recorded[], phase: ZoneLoopPhase): Recorded[] => recorded.filter((one) => one.phase === phase);
      expect(phases(leader, 'commit')).toEqual([expect.objectContaining({ count: 1 })]);
      // The write's entry, persisted durably at the leader and at each follower.
      expect(phases(leader, 'persist')).toContainEqual(expect.objectContaining({ count: 1, synced: true }));
      for (const follower of [2, 3]) expect(phases(profilers.get(follower)!.recorded, 'persist')).toContainEqual(expect.objectContaining({ count: 1, synced: true }));
      expect(phases(leader, 'apply-stage')).toContainEqual(expect.objectContaining({ count: 1 }));
      expect(phases(leader, 'apply-commit')).toContainEqual(expect.objectContaining({ count: 1 }));
      // Appends to both followers.
      expect(phases(leader, 'send').reduce((sum, one) => sum + one.count, 0)).toBeGreaterThanOrEqual(2);
      for (const phase of ['inputs', 'ready'] as const) expect(phases(leader, phase).length).toBeGreaterThan(0);
      for (const one of leader) expect(one.durationMs).toBeGreaterThan(0);
    });
  });

  it('is told of a snapshot and the entries it compacted', async () => {
    const profiler = recordingProfiler();
    await withCluster({ snapshotIntervalEntries: 4, snapshotCatchUpEntries: 0, profiler: (nodeId) => (nodeId === 1 ? profiler : undefined) }, async (cluster) => {
      for (let write = 0; write < 6; write++) await cluster.drive(cluster.replica(1).metastore.put(utf8(`k${write}`), utf8('v')));
      const snapshots = profiler.recorded.filter((one) => one.phase === 'snapshot');
      expect(snapshots.length).toBeGreaterThan(0);
      // With no entries kept behind, the log is compacted from the bootstrap snapshot (index 1) up to the latest one.
      expect(snapshots.reduce((sum, one) => sum + one.count, 0)).toBe(cluster.replica(1).status().snapshotIndex - 1);
    });
  });
});
