import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * Helpers for zone nodes in real processes, shared by these tests and bench:raft: the `nexus` CLI
 * (bin/nexus.js) started with `node`, its output captured, stopped by PID.
 */

const NEXUS_BIN = fileURLToPath(new URL('../../../bin/nexus.js', import.meta.url));

/** Node's own executable under Node; `node` from PATH when the test runs in Deno. */
const NODE_EXECUTABLE = /node(\.exe)?$/.test(process.execPath) ? process.execPath : 'node';

export interface NexusProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly name: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Resolves with the first match of `pattern` in stdout; rejects if the process exits first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

export interface SpawnNexusOptions {
  /** Added to this process's environment. */
  readonly environment?: Record<string, string>;
  /** Options for `node` itself, before the script (e.g. `--cpu-prof`, which NODE_OPTIONS refuses). */
  readonly nodeArguments?: readonly string[];
}

export function spawnNexus(name: string, args: readonly string[], options: SpawnNexusOptions = {}): NexusProcess {
  const child = spawn(NODE_EXECUTABLE, [...(options.nodeArguments ?? []), NEXUS_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.environment },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const waitForOutput = async (pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = stdout.match(pattern);
      if (match !== null) return match;
      if (hasExited || Date.now() > deadline) {
        throw new Error(`${name} ${hasExited ? 'exited' : 'timed out'} before printing ${pattern}\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`);
      }
      await sleep(20);
    }
  };
  assertPid(child.pid, name);
  return { child, pid: child.pid, name, stdout: () => stdout, stderr: () => stderr, exited, waitForOutput };
}

function assertPid(pid: number | undefined, name: string): asserts pid is number {
  if (pid === undefined) throw new Error(`${name} did not start`);
}

/** A port free on 127.0.0.1 right now (the OS picks it; a race with other processes is unlikely). */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Polls `probe` until it returns a value other than undefined; errors count as "not yet". */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError === undefined ? '' : `: ${String(lastError)}`}`);
    await sleep(25);
  }
}

/** Runs a short `nexus` command to its end: exit code (or signal), stdout and stderr. */
export async function runNexus(args: readonly string[], environment: Record<string, string> = {}): Promise<{ exit: number | string; stdout: string; stderr: string }> {
  const running = spawnNexus(`nexus ${args.slice(0, 2).join(' ')}`, args, { environment });
  const exit = await running.exited;
  return { exit, stdout: running.stdout(), stderr: running.stderr() };
}
