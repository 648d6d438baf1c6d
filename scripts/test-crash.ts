/**
 * `npm run test:crash -- [--points N] [--seed S --path P] [--after-event K]`: runs the KV crash
 * test in Node with more crash points than CI's default, or replays a failure it printed. The
 * options become the environment test/crash/crash-test-settings.ts reads.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    points: { type: 'string' },
    seed: { type: 'string' },
    path: { type: 'string' },
    'after-event': { type: 'string' },
  },
  strict: true,
});

const environment: Record<string, string | undefined> = {
  ...process.env,
  CRASH_POINTS: values.points ?? process.env.CRASH_POINTS,
  CRASH_SEED: values.seed ?? process.env.CRASH_SEED,
  CRASH_PATH: values.path ?? process.env.CRASH_PATH,
  CRASH_AFTER_EVENT: values['after-event'] ?? process.env.CRASH_AFTER_EVENT,
};

const result = spawnSync('npx', ['vitest', 'run', '--project', 'node', 'test/crash/kv-crash.test.ts'], {
  stdio: 'inherit',
  env: environment,
});
process.exit(result.status ?? 1);
