import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CRASH_POINTS_PER_WORKLOAD_EXPECTED,
  crashTestSettings,
  SECOND_CRASH_EVERY_POINTS,
  SECOND_CRASH_POINTS_SHARE,
} from './crash-test-settings.ts';
import { CrashTally, crashEveryPoint } from './kv-crash-run.ts';
import { workloadArbitrary } from './kv-workload.ts';

/**
 * The crash property test of the KV engine. Each generated workload runs once on a
 * CrashStorageFile; then (kv-crash-run.ts), for every write, truncate and sync event it made
 * (every crash point), a crash image is built (unsynced writes lost, kept or torn, in a random
 * order), the engine is reopened on it, and kv-crash-check.ts checks what it recovered: the state
 * after some prefix of the commits that includes everything acknowledged as durable, and a store
 * that still works.
 *
 * One run of the workload serves every crash point, because what the engine does up to an event
 * does not depend on a crash that comes after it.
 *
 * A failure names the crash point and image seed, and fast-check prints the seed and path of the
 * workload; `npm run test:crash -- --seed <seed> --path <path> --after-event <point>` replays
 * exactly that, and `npm run test:crash -- --points 100000` runs more crash points (see
 * crash-test-settings.ts).
 */

describe('KV engine crash safety', () => {
  const settings = crashTestSettings();

  it(`recovers a prefix of the commits that keeps every durable one, at every crash point (${settings.workloads} workloads, about ${settings.points} points)`, async () => {
    const tally = new CrashTally();
    const startedMs = Date.now();
    await fc.assert(
      fc.asyncProperty(workloadArbitrary, async (workload) => {
        const failure = await crashEveryPoint(workload, { onlyAfterEvent: settings.afterEvent, tally });
        if (failure !== undefined) throw new Error(failure);
        tally.workloads++;
      }),
      {
        numRuns: settings.workloads,
        ...(settings.seed === undefined ? {} : { seed: settings.seed }),
        ...(settings.path === undefined ? {} : { path: settings.path }),
      },
    );
    console.info(`kv crash test: ${tally.describe()}, ${Date.now() - startedMs} ms`);
    expectEveryMode(tally, settings.afterEvent);
  }, settings.timeoutMs);

  /**
   * The same workloads, and at every fourth crash point the recovered store is crashed again at
   * each event of its recovery and of its first commit: whatever the first reopening recovered must
   * survive, and that commit once acknowledged. It found two recovery bugs, both fixed in
   * recovery.ts: a commit after recovery reusing the txn of a lost commit (whose stale pages a
   * second crash could then verify), and a torn meta page completed by the next write of its slot.
   */
  it('keeps what recovery found through a second crash during recovery or the first commit after it', async () => {
    const tally = new CrashTally();
    const startedMs = Date.now();
    const points = Math.ceil(settings.points * SECOND_CRASH_POINTS_SHARE);
    await fc.assert(
      fc.asyncProperty(workloadArbitrary, async (workload) => {
        const failure = await crashEveryPoint(workload, {
          onlyAfterEvent: settings.afterEvent,
          tally,
          secondCrashEveryPoints: SECOND_CRASH_EVERY_POINTS,
        });
        if (failure !== undefined) throw new Error(failure);
        tally.workloads++;
      }),
      {
        numRuns: Math.max(1, Math.ceil(points / CRASH_POINTS_PER_WORKLOAD_EXPECTED)),
        ...(settings.seed === undefined ? {} : { seed: settings.seed }),
        ...(settings.path === undefined ? {} : { path: settings.path }),
      },
    );
    console.info(`kv second-crash test: ${tally.describe()}, ${Date.now() - startedMs} ms`);
    expectEveryMode(tally, settings.afterEvent);
  }, settings.timeoutMs);
});

/** The images of a whole run must have exercised every way a crash can treat unsynced writes. */
function expectEveryMode(tally: CrashTally, onlyAfterEvent: number | undefined): void {
  expect(tally.points).toBeGreaterThan(0);
  if (onlyAfterEvent !== undefined) return;
  for (const mode of ['lost', 'kept', 'torn', 'reordered'] as const) expect(tally.modes[mode], mode).toBeGreaterThan(0);
}

