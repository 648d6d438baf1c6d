import { type CrashTestSettings, crashTestSettings } from './crash-test-settings.ts';

/**
 * How much the raft storage crash test does, and which case it replays. By default it checks
 * `RAFT_CRASH_POINTS_DEFAULT` crash points in every runtime (seconds); the environment asks for
 * more or replays one failure:
 *   RAFT_CRASH_POINTS=100000 npx vitest run --project node test/crash/raft-crash.test.ts
 *   RAFT_CRASH_SEED=<seed> RAFT_CRASH_PATH=<path> RAFT_CRASH_AFTER_EVENT=<k> npx vitest run ...
 * Runtimes without an environment (Chromium) always run the default.
 */

/** Crash points one run checks by default: thousands, in CI, in every runtime. */
export const RAFT_CRASH_POINTS_DEFAULT = 3_000;

/** Crash points a generated workload makes on average (its write and sync events), measured. */
export const RAFT_CRASH_POINTS_PER_WORKLOAD_EXPECTED = 18;

export function raftCrashTestSettings(): CrashTestSettings {
  return crashTestSettings({
    variablePrefix: 'RAFT_CRASH_',
    pointsDefault: RAFT_CRASH_POINTS_DEFAULT,
    pointsPerWorkloadExpected: RAFT_CRASH_POINTS_PER_WORKLOAD_EXPECTED,
  });
}
