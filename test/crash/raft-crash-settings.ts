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

/** Time the test may take per crash point, generously, on the slowest runtime we run it in. */
const TIMEOUT_MS_PER_POINT = 40;
const TIMEOUT_MS_MIN = 60_000;

export interface RaftCrashTestSettings {
  points: number;
  workloads: number;
  /** fast-check's seed and path of a failing workload, to replay it. */
  seed: number | undefined;
  path: string | undefined;
  /** Check only the crash after this event (with a replayed workload). */
  afterEvent: number | undefined;
  timeoutMs: number;
}

export function raftCrashTestSettings(): RaftCrashTestSettings {
  const environment = runtimeEnvironment();
  const points = positiveInteger(environment.RAFT_CRASH_POINTS, 'RAFT_CRASH_POINTS') ?? RAFT_CRASH_POINTS_DEFAULT;
  return {
    points,
    workloads: Math.max(1, Math.ceil(points / RAFT_CRASH_POINTS_PER_WORKLOAD_EXPECTED)),
    seed: integer(environment.RAFT_CRASH_SEED, 'RAFT_CRASH_SEED'),
    path: environment.RAFT_CRASH_PATH || undefined,
    afterEvent: integer(environment.RAFT_CRASH_AFTER_EVENT, 'RAFT_CRASH_AFTER_EVENT'),
    timeoutMs: Math.max(TIMEOUT_MS_MIN, points * TIMEOUT_MS_PER_POINT),
  };
}

/** `process.env` where the runtime has one (Node, Deno, workerd with nodejs_compat), else nothing. */
function runtimeEnvironment(): Record<string, string | undefined> {
  const runtime = globalThis as { process?: { env?: Record<string, string | undefined> } };
  return runtime.process?.env ?? {};
}

function integer(text: string | undefined, name: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, got ${JSON.stringify(text)}`);
  return value;
}

function positiveInteger(text: string | undefined, name: string): number | undefined {
  const value = integer(text, name);
  if (value !== undefined && value < 1) throw new Error(`${name} must be positive, got ${value}`);
  return value;
}
