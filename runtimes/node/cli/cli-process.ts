import { spawn, type ChildProcess } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { openTarget } from './open-target.ts';
import { runNexus } from './program.ts';

/**
 * Test helpers: the real `nexus` CLI (bin/nexus.js) in a child process, as a user runs it, with
 * stdin given and stdout kept as bytes (`cat` writes raw bytes).
 */

const NEXUS_BIN = fileURLToPath(new URL('../../../bin/nexus.js', import.meta.url));

/** Node's own executable under Node; `node` from PATH when the test runs in Deno. */
export const NODE_EXECUTABLE = /node(\.exe)?$/.test(process.execPath) ? process.execPath : 'node';

/** The variables the CLI reads, removed so that the machine's own cannot change a test's target. */
const NEXUS_VARIABLES = ['NEXUS_DATA', 'NEXUS_URL', 'NEXUS_TOKEN'];

export interface CliResult {
  readonly exit: number | string;
  readonly stdoutBytes: Uint8Array;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunningCli {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly finished: Promise<CliResult>;
  /** Resolves once stdout matches `pattern`; rejects when the process ends first. */
  waitForOutput(pattern: RegExp): Promise<RegExpMatchArray>;
}

export interface CliRunOptions {
  readonly stdin?: Uint8Array | string;
  readonly environment?: Record<string, string>;
  readonly cwd?: string;
}

export function startCli(args: readonly string[], options: CliRunOptions = {}): RunningCli {
  const environment: Record<string, string | undefined> = { ...process.env };
  for (const name of NEXUS_VARIABLES) delete environment[name];
  const child = spawn(NODE_EXECUTABLE, [NEXUS_BIN, ...args], { cwd: options.cwd, env: { ...environment, ...options.environment }, stdio: ['pipe', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin!.on('error', () => {}); // a command that does not read stdin may exit before it is written
  child.stdin!.end(options.stdin ?? '');
  const stdout = (): string => Buffer.concat(chunks).toString('utf8');
  const finished = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      const bytes = Buffer.concat(chunks);
      resolve({ exit: code ?? signal ?? 'unknown', stdoutBytes: new Uint8Array(bytes), stdout: bytes.toString('utf8'), stderr });
    });
  });
  let ended = false;
  void finished.then(() => (ended = true));
  const waitForOutput = async (pattern: RegExp): Promise<RegExpMatchArray> => {
    for (;;) {
      const match = stdout().match(pattern);
      if (match !== null) return match;
      if (ended) throw new Error(`nexus ${args.join(' ')} ended before printing ${pattern}\nstdout:\n${stdout()}\nstderr:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, stdout, stderr: () => stderr, finished, waitForOutput };
}

/**
 * Sends `name` by pid: under Deno, `child.kill` reports the signal as the end of a child that
 * handled it and exited 0, so the exit code could not be checked.
 */
export function signal(cli: RunningCli, name: 'SIGINT' | 'SIGTERM'): void {
  process.kill(cli.child.pid!, name);
}

/** Runs a command to its end. */
export async function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliResult> {
  return await startCli(args, options).finished;
}

/**
 * Runs a command line through the same program and target opener as bin/nexus.js, in this process
 * (a child process costs seconds on a loaded machine): for the many checks of output and errors
 * that do not depend on the process itself. Exit codes are returned, not exited with.
 */
export async function runInProcess(args: readonly string[], options: { stdin?: Uint8Array | string } = {}): Promise<CliResult> {
  const stdoutChunks: Buffer[] = [];
  let stderr = '';
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      stdoutChunks.push(Buffer.from(chunk));
      done();
    },
  });
  const stderrStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      stderr += chunk.toString('utf8');
      done();
    },
  });
  const stdin = Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]);
  const exit = await runNexus(args, { streams: { stdout, stderr: stderrStream, stdin }, openTarget });
  const bytes = Buffer.concat(stdoutChunks);
  return { exit, stdoutBytes: new Uint8Array(bytes), stdout: bytes.toString('utf8'), stderr };
}
