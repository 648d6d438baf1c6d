/**
 * How much the KV crash test does, and which case it replays. By default it checks
 * `CRASH_POINTS_DEFAULT` crash points in every runtime, which keeps it to seconds; the environment
 * (set by `npm run test:crash -- --points N --seed S --path P --after-event K`, see
 * scripts/test-crash.ts) asks for more or replays one failure. Runtimes without an environment
 * (Chromium) always run the default.
 */

/** Crash points one run checks by default: thousands, in CI, in every runtime. */
export const CRASH_POINTS_DEFAULT = 3_000;

/**
 * Crash points a generated workload makes on average (its write and sync events), measured on
 * the engine; it turns a number of points into a number of workloads.
 */
export const CRASH_POINTS_PER_WORKLOAD_EXPECTED = 50;

/**
 * How often the second-crash test crashes a recovered store again (every this many crash points),
 * and the share of the crash points it runs.
 */
export const SECOND_CRASH_EVERY_POINTS = 4;
export const SECOND_CRASH_POINTS_SHARE = 0.25;

/** Time the test may take per crash point, generously, on the slowest runtime we run it in. */
const TIMEOUT_MS_PER_POINT = 40;
const TIMEOUT_MS_MIN = 60_000;

export interface CrashTestSettings {
  points: number;
  workloads: number;
  /** fast-check's seed and path of a failing workload, to replay it. */
  seed: number | undefined;
  path: string | undefined;
  /** Check only the crash after this event (with a replayed workload). */
  afterEvent: number | undefined;
  timeoutMs: number;
}

/** Which environment variables a crash test reads, and its defaults. */
export interface CrashTestKind {
  /** Prefix of its variables: `${prefix}POINTS`, `${prefix}SEED`, `${prefix}PATH`, `${prefix}AFTER_EVENT`. */
  variablePrefix: string;
  pointsDefault: number;
  pointsPerWorkloadExpected: number;
}

/** The KV engine's crash test (set by `npm run test:crash`). */
export const KV_CRASH_TEST: CrashTestKind = {
  variablePrefix: 'CRASH_',
  pointsDefault: CRASH_POINTS_DEFAULT,
  pointsPerWorkloadExpected: CRASH_POINTS_PER_WORKLOAD_EXPECTED,
};

export function crashTestSettings(kind: CrashTestKind = KV_CRASH_TEST): CrashTestSettings {
  const environment = runtimeEnvironment();
  const variable = (name: string) => `${kind.variablePrefix}${name}`;
  const points = positiveInteger(environment[variable('POINTS')], variable('POINTS')) ?? kind.pointsDefault;
  return {
    points,
    workloads: Math.max(1, Math.ceil(points / kind.pointsPerWorkloadExpected)),
    seed: integer(environment[variable('SEED')], variable('SEED')),
    path: environment[variable('PATH')] || undefined,
    afterEvent: integer(environment[variable('AFTER_EVENT')], variable('AFTER_EVENT')),
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
