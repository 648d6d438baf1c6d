import { Command, CommanderError, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import type { Readable, Writable } from 'node:stream';
import { NexusError } from '../../../kernel/errors.ts';
import { DATA_DIR_DEFAULT } from '../data-dir.ts';
import { resolveServeConfig } from '../server-config.ts';
import type { FileSystem } from '../../../kernel/fs/types.ts';
import type { ApiKeyAdmin } from '../../../kernel/services/api-key-types.ts';

/**
 * What every file and key command shares: where it acts (a local data dir or a server), how it
 * prints (human text or one JSON document), and how it fails (exit codes, error lines).
 */

export const EXIT_OK = 0;
/** An operating error: the kernel's (or the server's) error, printed with its code. */
export const EXIT_OPERATING_ERROR = 1;
/** A usage error: a missing argument, an unknown option, options that exclude each other. */
export const EXIT_USAGE_ERROR = 2;

/** The code printed for usage errors in `--json` mode: the kernel's code for a malformed argument. */
const USAGE_ERROR_CODE = 'EINVAL';
/** The code printed for a failure that carries no code of its own (neither the kernel's nor the OS's). */
const UNKNOWN_ERROR_CODE = 'EIO';

export const ENVIRONMENT = {
  data: 'NEXUS_DATA',
  url: 'NEXUS_URL',
  token: 'NEXUS_TOKEN',
} as const;

export interface OutputStream extends Writable {
  isTTY?: boolean;
}

/** The process's streams, passed in so that a test can run the program in its own process. */
export interface CliStreams {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly stdin: Readable;
}

/** What a command acts on. The command code sees only these two interfaces, local or remote. */
export interface Target {
  readonly fs: FileSystem;
  readonly keys: ApiKeyAdmin;
  close(): Promise<void>;
}

export type TargetLocation = { readonly kind: 'local'; readonly dir: string } | { readonly kind: 'remote'; readonly url: string; readonly token: string };

export type TargetOpener = (location: TargetLocation) => Promise<Target>;

export interface CliContext {
  readonly streams: CliStreams;
  readonly openTarget: TargetOpener;
  /** Whether the command line asked for `--json`, known before parsing so usage errors honour it. */
  readonly jsonRequested: boolean;
}

interface TargetOptions {
  data: string;
  remote?: string;
  token?: string;
  json?: boolean;
}

/**
 * A command that acts on a target: `--data`, `--remote`, `--token` (each with its variable) and
 * `--json`. Usage errors leave with exit code 2 (through the runner), printed as JSON in `--json` mode.
 */
export function targetCommand(context: CliContext, name: string): Command {
  return configureCommand(context, new Command(name))
    .addOption(new Option('--data <dir>', 'local data directory (also: the local:DIR of NEXUS_METASTORE and the other store URLs)').env(ENVIRONMENT.data).default(DATA_DIR_DEFAULT))
    .addOption(new Option('--remote <url>', 'a nexus server instead of a data directory, e.g. http://127.0.0.1:7070').env(ENVIRONMENT.url))
    .addOption(new Option('--token <key>', 'API key for --remote').env(ENVIRONMENT.token))
    .option('--json', 'print one JSON document on stdout; errors as {"error":{"code","message"}} on stderr');
}

/** Exit override and error output for a command of ours (settings that `addCommand` does not pass down). */
export function configureCommand(context: CliContext, command: Command): Command {
  return command
    .exitOverride()
    .showHelpAfterError(context.jsonRequested ? false : '(add --help for usage)')
    .configureOutput({
      writeOut: (text) => context.streams.stdout.write(text),
      writeErr: (text) => context.streams.stderr.write(text),
      outputError: (text, write) => write(context.jsonRequested ? `${errorJson(USAGE_ERROR_CODE, text.replace(/^error: /, '').trim())}\n` : text),
    });
}

/**
 * Opens the target the options name, runs `action` on it, and closes it (also when the action
 * fails). A flag beats its variable: `--data DIR` acts locally even when NEXUS_URL is set.
 */
export async function onTarget<T>(context: CliContext, command: Command, action: (target: Target, output: Output) => Promise<T>): Promise<T> {
  const location = targetLocation(command);
  const target = await context.openTarget(location);
  try {
    return await action(target, new Output(context.streams.stdout, command.opts<TargetOptions>().json === true));
  } finally {
    await target.close();
  }
}

function targetLocation(command: Command): TargetLocation {
  const options = command.opts<TargetOptions>();
  const dataSource = command.getOptionValueSource('data');
  const remoteSource = command.getOptionValueSource('remote');
  if (dataSource === 'cli' && remoteSource === 'cli') usageError(command, 'options --data and --remote exclude each other');
  if (dataSource === 'env' && remoteSource === 'env') usageError(command, `both ${ENVIRONMENT.data} and ${ENVIRONMENT.url} are set: choose one, or pass --data or --remote`);
  const remote = dataSource === 'cli' ? undefined : options.remote;
  if (remote === undefined) return { kind: 'local', dir: localDataDir(dataSource === 'cli' ? options.data : undefined) };
  if (!isHttpUrl(remote)) usageError(command, `--remote ${JSON.stringify(remote)}: expected a server URL such as http://127.0.0.1:7070`);
  if (options.token === undefined || options.token === '') usageError(command, `--remote needs an API key: pass --token KEY or set ${ENVIRONMENT.token}`);
  return { kind: 'remote', url: remote, token: options.token };
}

function isHttpUrl(text: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

/**
 * The data dir as `nexus serve` finds it: the flag, else NEXUS_DATA, else the NEXUS_METASTORE /
 * NEXUS_OBJECT_STORE / NEXUS_RECORD_STORE URLs (`local:DIR`; a driver that does not exist yet is
 * refused with EINVAL), else ./nexus-data. So the CLI and the server agree on where data lives.
 */
function localDataDir(flag: string | undefined): string {
  return resolveServeConfig({ flags: { data: flag }, environment: process.env }).dir;
}

/** Leaves through commander with exit code 2 (printed as JSON in `--json` mode). */
export function usageError(command: Command, message: string): never {
  command.error(`error: ${message}`, { exitCode: EXIT_USAGE_ERROR, code: 'nexus.usage' });
}

/** Prints a command's result: one JSON document in `--json` mode, its human form otherwise. */
export class Output {
  readonly #stream: OutputStream;
  readonly json: boolean;

  constructor(stream: OutputStream, json: boolean) {
    this.#stream = stream;
    this.json = json;
  }

  get stream(): OutputStream {
    return this.#stream;
  }

  /** `value` as JSON, or `human(value)` (lines without their final newline; empty prints nothing). */
  result<T>(value: T, human: (value: T) => string): void {
    if (this.json) this.#stream.write(`${JSON.stringify(value, null, 2)}\n`);
    else {
      const text = human(value);
      if (text !== '') this.#stream.write(`${text}\n`);
    }
  }

  line(text: string): void {
    this.#stream.write(`${text}\n`);
  }
}

/** The runner's end for every error: its exit code, and the error printed on stderr. */
export function reportFailure(context: CliContext, error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === EXIT_OK ? EXIT_OK : EXIT_USAGE_ERROR;
  const { code, message } = describeError(error);
  context.streams.stderr.write(context.jsonRequested ? `${errorJson(code, message)}\n` : `nexus: ${code} ${message}\n`);
  return EXIT_OPERATING_ERROR;
}

/** The kernel's code when there is one; else the OS's (ENOENT for a missing local file, ECONNREFUSED). */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof NexusError) return { code: error.code, message: error.message };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const causeCode = (error.cause as { code?: unknown } | undefined)?.code;
    const osCode = [code, causeCode].find((candidate): candidate is string => typeof candidate === 'string' && /^E[A-Z0-9]+$/.test(candidate));
    const causeMessage = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    // The OS puts its code first ("ENOENT: no such file or directory, open 'x'"): print it once.
    const message = osCode === undefined ? error.message : error.message.replace(`${osCode}: `, '');
    return { code: osCode ?? UNKNOWN_ERROR_CODE, message: `${message}${causeMessage}` };
  }
  return { code: UNKNOWN_ERROR_CODE, message: String(error) };
}

function errorJson(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** For numeric options: a whole number of at least `minimum`, else a usage error. */
export function integerParser(minimum: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isSafeInteger(value) || value < minimum) throw new CommanderArgumentError(`expected a whole number of at least ${minimum}`);
    return value;
  };
}
