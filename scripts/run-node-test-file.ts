/**
 * What scripts/sim.ts and scripts/test-crash.ts share: run one test file in vitest's Node project
 * with the environment variables a script's options became (an option not given keeps the
 * variable already in the environment), and exit with the test run's status.
 */
import { spawnSync } from 'node:child_process';

export function runNodeTestFile(options: { testFile: string; variables: Record<string, string | undefined> }): never {
  const environment: Record<string, string | undefined> = { ...process.env };
  for (const [name, value] of Object.entries(options.variables)) environment[name] = value ?? process.env[name];
  const result = spawnSync('npx', ['vitest', 'run', '--project', 'node', options.testFile], {
    stdio: 'inherit',
    env: environment,
  });
  process.exit(result.status ?? 1);
}
