import { Readable, Writable } from 'node:stream';
import { spawnNexus, type NexusProcess, type NexusResult } from '../../../test/zone/process/nexus-process.ts';
import { openTarget } from './open-target.ts';
import { runNexus } from './program.ts';

/**
 * Test helpers for the CLI: the real `nexus` CLI in a child process (spawnNexus, with stdin given,
 * empty by default), and the same program in this process.
 */

/** Generous: a process on a loaded machine that runs the sources through tsx takes seconds to start. */
const OUTPUT_TIMEOUT_MS = 120_000;

export type CliResult = NexusResult;

export interface CliRunOptions {
  readonly stdin?: Uint8Array | string;
  readonly environment?: Record<string, string>;
  readonly cwd?: string;
}

export interface RunningCli extends NexusProcess {
  readonly finished: Promise<CliResult>;
  /** Resolves once stdout matches `pattern`; rejects when the process ends first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

export function startCli(args: readonly string[], options: CliRunOptions = {}): RunningCli {
  const running = spawnNexus(`nexus ${args.join(' ')}`, args, { ...options, stdin: options.stdin ?? '' });
  const finished = running.exited.then((exit) => ({ exit, stdoutBytes: running.stdoutBytes(), stdout: running.stdout(), stderr: running.stderr() }));
  return { ...running, finished, waitForOutput: (pattern, timeoutMs = OUTPUT_TIMEOUT_MS) => running.waitForOutput(pattern, timeoutMs) };
}

/**
 * Sends `name` by pid: under Deno, `child.kill` reports the signal as the end of a child that
 * handled it and exited 0, so the exit code could not be checked.
 */
export function signal(cli: RunningCli, name: 'SIGINT' | 'SIGTERM'): void {
  process.kill(cli.pid, name);
}

/** Runs a command to its end. */
export async function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliResult> {
  return await startCli(args, options).finished;
}

/**
 * Runs a command line through the same program and target opener as bin/nexus.js, in this process
 * (a child process costs a few hundred milliseconds, seconds on a loaded machine): for the many
 * checks of output and errors that do not depend on the process itself. Exit codes are returned,
 * not exited with.
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
