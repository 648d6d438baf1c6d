/**
 * `npm run test:crash -- [--points N] [--seed S --path P] [--after-event K]`: runs the KV crash
 * test in Node with more crash points than CI's default, or replays a failure it printed. The
 * options become the environment test/crash/crash-test-settings.ts reads.
 */
import { parseArgs } from 'node:util';
import { runNodeTestFile } from './run-node-test-file.ts';

const { values } = parseArgs({
  options: {
    points: { type: 'string' },
    seed: { type: 'string' },
    path: { type: 'string' },
    'after-event': { type: 'string' },
  },
  strict: true,
});

runNodeTestFile({
  testFile: 'test/crash/kv-crash.test.ts',
  variables: {
    CRASH_POINTS: values.points,
    CRASH_SEED: values.seed,
    CRASH_PATH: values.path,
    CRASH_AFTER_EVENT: values['after-event'],
  },
});
