/**
 * `npm run sim -- [--seeds N] [--first-seed S] [--seed S] [--steps K]`: runs the deterministic
 * Raft simulation's CI seeds (test/raft/simulation-seeds.node.test.ts) in Node, or as many other
 * seeds as asked, with other steps per seed, or replays the one seed a failure printed (with the
 * steps it printed). The options become the environment test/raft/simulation-seeds.ts reads.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    'first-seed': { type: 'string' },
    seed: { type: 'string' },
    steps: { type: 'string' },
  },
  strict: true,
});

const environment: Record<string, string | undefined> = {
  ...process.env,
  RAFT_SIMULATION_SEEDS: values.seeds ?? process.env.RAFT_SIMULATION_SEEDS,
  RAFT_SIMULATION_FIRST_SEED: values['first-seed'] ?? process.env.RAFT_SIMULATION_FIRST_SEED,
  RAFT_SIMULATION_SEED: values.seed ?? process.env.RAFT_SIMULATION_SEED,
  RAFT_SIMULATION_STEPS: values.steps ?? process.env.RAFT_SIMULATION_STEPS,
};

const result = spawnSync('npx', ['vitest', 'run', '--project', 'node', 'test/raft/simulation-seeds.node.test.ts'], {
  stdio: 'inherit',
  env: environment,
});
process.exit(result.status ?? 1);
