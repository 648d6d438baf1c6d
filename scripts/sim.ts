/**
 * `npm run sim -- [--seeds N] [--first-seed S] [--seed S]`: runs the deterministic Raft simulation
 * (test/raft/simulation.test.ts) in Node with more seeds than CI's default, or replays the one seed
 * a failure printed. The options become the environment the simulation test reads.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    'first-seed': { type: 'string' },
    seed: { type: 'string' },
  },
  strict: true,
});

const environment: Record<string, string | undefined> = {
  ...process.env,
  RAFT_SIMULATION_SEEDS: values.seeds ?? process.env.RAFT_SIMULATION_SEEDS,
  RAFT_SIMULATION_FIRST_SEED: values['first-seed'] ?? process.env.RAFT_SIMULATION_FIRST_SEED,
  RAFT_SIMULATION_SEED: values.seed ?? process.env.RAFT_SIMULATION_SEED,
};

const result = spawnSync('npx', ['vitest', 'run', '--project', 'node', 'test/raft/simulation.test.ts'], {
  stdio: 'inherit',
  env: environment,
});
process.exit(result.status ?? 1);
