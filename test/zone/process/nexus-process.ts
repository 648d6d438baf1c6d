import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * The real `nexus` CLI (bin/nexus.js) in child processes, as a user runs it, for these tests, the
 * CLI's and the server's, and bench:raft: started with `node`, stdin given or closed, stdout kept
 * as bytes (`cat` writes raw bytes), stopped by PID.
 */

const NEXUS_BIN = fileURLToPath(new URL('../../../bin/nexus.js', import.meta.url));

/** Node's own executable under Node; `node` from PATH when the test runs in Deno. */
export const NODE_EXECUTABLE = /node(\.exe)?$/.test(process.execPath) ? process.execPath : 'node';

/**
 * The variables nexus reads (NEXUS_DATA, NEXUS_URL, NEXUS_PORT, ...) are not passed on from this
 * process, so that the machine's own cannot change a test's target: a process gets those its
 * caller names in `environment`.
 */
const NEXUS_VARIABLE = /^NEXUS_/;

export interface NexusProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly name: string;
  stdout(): string;
  stdoutBytes(): Uint8Array;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) once the process has exited and its output ended. */
  readonly exited: Promise<number | string>;
  /** Resolves with the first match of `pattern` in stdout; rejects if the process exits first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

export interface SpawnNexusOptions {
  /** Added to this process's environment, less its NEXUS_ variables. */
  readonly environment?: Record<string, string>;
  /** Options for `node` itself, before the script (e.g. `--cpu-prof`, which NODE_OPTIONS refuses). */
  readonly nodeArguments?: readonly string[];
  /** Written to the process's stdin, which is then closed; without it, stdin is /dev/null. */
  readonly stdin?: Uint8Array | string;
  readonly cwd?: string;
}

export function spawnNexus(name: string, args: readonly string[], options: SpawnNexusOptions = {}): NexusProcess {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([variable]) => !NEXUS_VARIABLE.test(variable)));
  const child = spawn(NODE_EXECUTABLE, [...(options.nodeArguments ?? []), NEXUS_BIN, ...args], {
    cwd: options.cwd,
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: { ...inherited, ...options.environment },
  });
  if (options.stdin !== undefined) {
    child.stdin!.on('error', () => {}); // a command that does not read stdin may exit before it is written
    child.stdin!.end(options.stdin);
  }
  const stdoutChunks: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const stdoutBytes = (): Uint8Array => new Uint8Array(Buffer.concat(stdoutChunks));
  const stdout = (): string => Buffer.concat(stdoutChunks).toString('utf8');
  // 'close', not 'exit': by then stdout and stderr have ended too, so the output is whole.
  const exited = new Promise<number | string>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const waitForOutput = async (pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = stdout().match(pattern);
      if (match !== null) return match;
      if (hasExited || Date.now() > deadline) {
        throw new Error(`${name} ${hasExited ? 'exited' : 'timed out'} before printing ${pattern}\nstdout:\n${stdout()}\nstderr:\n${stderr.slice(-4000)}`);
      }
      await sleep(20);
    }
  };
  assertPid(child.pid, name);
  return { child, pid: child.pid, name, stdout, stdoutBytes, stderr: () => stderr, exited, waitForOutput };
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

export interface NexusResult {
  readonly exit: number | string;
  readonly stdoutBytes: Uint8Array;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a short `nexus` command to its end: exit code (or signal), stdout and stderr. */
export async function runNexus(args: readonly string[], options: SpawnNexusOptions = {}): Promise<NexusResult> {
  const running = spawnNexus(`nexus ${args.slice(0, 2).join(' ')}`, args, options);
  const exit = await running.exited;
  return { exit, stdoutBytes: running.stdoutBytes(), stdout: running.stdout(), stderr: running.stderr() };
}
