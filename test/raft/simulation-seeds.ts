import type { SimulationOptions } from './simulation.ts';

/**
 * Which Raft simulation seeds run where, and how each seed sets its options, in one place:
 * - simulation.test.ts runs `CROSS_RUNTIME_SEEDS` long seeds in every runtime (Node, Deno,
 *   workerd, Chromium): the same kernel must behave the same everywhere.
 * - simulation-seeds.node.test.ts runs `CI_SEEDS` (1,000) shorter seeds in Node and Deno, the
 *   count the project promises per CI run; `npm run sim` runs it with other seeds or steps.
 * A seed fixes everything (group size, PreVote, CheckQuorum, fault level, storage, commit
 * propagation), so the
 * printed `npm run sim -- --seed S --steps N` replays a failure exactly.
 */

/** Steps of the long seeds that run in every runtime. */
export const CROSS_RUNTIME_STEPS = 2_000;
export const CROSS_RUNTIME_SEEDS = 40;

/**
 * Steps of the 1,000 CI seeds: shorter, so that 1,000 seeds (each with its liveness phase and
 * linearizability check) fit in about a minute in Node, yet long enough for several elections,
 * crashes, snapshots and membership changes per seed.
 */
export const CI_STEPS = 500;
export const CI_SEEDS = 1_000;
/** The CI seeds start past the cross-runtime ones, so the two sets differ. */
export const CI_FIRST_SEED = 1_001;

/** Seeds per test case, so that no single case runs long in a slow runtime. */
export const SEEDS_PER_CASE = 10;

/**
 * A case takes about a second in Node; workerd and Chromium are slower, and some projects
 * default to a 5 s timeout, so the simulation says what it needs.
 */
export const CASE_TIMEOUT_MS = 120_000;

const FAULT_LEVELS = [1, 0.3, 3, 8];

/**
 * Varies group size, options and storage with the seed, so every combination is covered. Every
 * other pair of seeds runs on KvRaftStorage over a crash-simulating file (storage faults), the
 * rest on MemoryRaftStorage (more steps per second, so more protocol interleavings).
 */
export function optionsForSeed(seed: number, steps: number): SimulationOptions {
  return {
    seed,
    nodeCount: seed % 2 === 0 ? 3 : 5,
    steps,
    preVote: seed % 3 !== 0,
    checkQuorum: seed % 4 < 2,
    faultLevel: FAULT_LEVELS[seed % FAULT_LEVELS.length]!,
    storage: Math.floor(seed / 2) % 2 === 0 ? 'kv' : 'memory',
    // Apart from the bits above, so that each propagation meets every other option.
    commitPropagation: Math.floor(seed / 4) % 2 === 0 ? 'eager' : 'lazy',
  };
}

function environmentVariable(name: string): string | undefined {
  const processObject = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const value = processObject?.env?.[name];
  return value === '' ? undefined : value;
}

function integerVariable(name: string): number | undefined {
  const text = environmentVariable(name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return value;
}

/**
 * The CI seeds, or what the environment asks for (set by `npm run sim`, see scripts/sim.ts):
 * RAFT_SIMULATION_SEED replays one seed; RAFT_SIMULATION_SEEDS and RAFT_SIMULATION_FIRST_SEED
 * choose a range; RAFT_SIMULATION_STEPS changes the steps per seed.
 */
export function ciSeedsToRun(): { seeds: number[]; steps: number } {
  const steps = integerVariable('RAFT_SIMULATION_STEPS') ?? CI_STEPS;
  const single = integerVariable('RAFT_SIMULATION_SEED');
  if (single !== undefined) return { seeds: [single], steps };
  const count = integerVariable('RAFT_SIMULATION_SEEDS') ?? CI_SEEDS;
  const first = integerVariable('RAFT_SIMULATION_FIRST_SEED') ?? CI_FIRST_SEED;
  return { seeds: Array.from({ length: count }, (_, index) => first + index), steps };
}
