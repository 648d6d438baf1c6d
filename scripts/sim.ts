/**
 * `npm run sim -- [--seeds N] [--first-seed S] [--seed S] [--steps K]`: runs the deterministic
 * Raft simulation's CI seeds (test/raft/simulation-seeds.node.test.ts) in Node, or as many other
 * seeds as asked, with other steps per seed, or replays the one seed a failure printed (with the
 * steps it printed). The options become the environment test/raft/simulation-seeds.ts reads.
 */
import { parseArgs } from 'node:util';
import { runNodeTestFile } from './run-node-test-file.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    'first-seed': { type: 'string' },
    seed: { type: 'string' },
    steps: { type: 'string' },
  },
  strict: true,
});

runNodeTestFile({
  testFile: 'test/raft/simulation-seeds.node.test.ts',
  variables: {
    RAFT_SIMULATION_SEEDS: values.seeds,
    RAFT_SIMULATION_FIRST_SEED: values['first-seed'],
    RAFT_SIMULATION_SEED: values.seed,
    RAFT_SIMULATION_STEPS: values.steps,
  },
});
