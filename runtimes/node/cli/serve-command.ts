import { Command, Option } from 'commander';
import { integerParser, configureCommand, type CliContext } from './command-support.ts';
import { resolveServeConfig, SERVER_ENVIRONMENT, SERVER_HOST_DEFAULT, SERVER_PORT_DEFAULT } from '../server-config.ts';
import { SERVER_DRAIN_TIMEOUT_MS_DEFAULT, startServer, type NexusServer } from '../server.ts';

interface ServeOptions {
  data?: string;
  host?: string;
  port?: string;
  drainTimeoutMs: number;
  json?: boolean;
}

/** The signals that stop the server cleanly: `kill PID` and Ctrl-C. */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * `nexus serve`: the HTTP API on a data dir, until SIGTERM or SIGINT. It prints where it listens
 * and, on the first start of a data dir, the admin key it created (once: only its hash is kept).
 * With `--json` that is one JSON line, `{"url", "dataDir", "adminKey"?}`, for scripts and tests.
 * The command returns once the server has stopped and its stores are closed.
 */
export function serveCommand(context: CliContext): Command {
  return configureCommand(context, new Command('serve'))
    .description('serve the HTTP API on a data directory until SIGTERM or SIGINT')
    .option('--data <dir>', `data directory (default ./nexus-data, or ${SERVER_ENVIRONMENT.data})`)
    .option('--host <address>', `address to listen on (default ${SERVER_HOST_DEFAULT}, or ${SERVER_ENVIRONMENT.host})`)
    .option('--port <port>', `port to listen on, 0 for a free one (default ${SERVER_PORT_DEFAULT}, or ${SERVER_ENVIRONMENT.port})`)
    .addOption(
      new Option('--drain-timeout-ms <ms>', 'on SIGTERM/SIGINT, how long requests in flight may take to finish')
        .argParser(integerParser(0))
        .default(SERVER_DRAIN_TIMEOUT_MS_DEFAULT),
    )
    .option('--json', 'print one JSON line {"url","dataDir","adminKey"?} once listening')
    .addHelpText('after', SERVE_HELP_AFTER)
    .action(async (options: ServeOptions) => {
      const config = resolveServeConfig({ flags: options, environment: process.env });
      // Listen for the signals before starting: one sent as soon as the address is printed, or
      // while the server starts, stops it cleanly rather than killing the process.
      const signalReceived = stopSignal();
      const server = await startServer({
        ...config,
        drainTimeoutMs: options.drainTimeoutMs,
        onUnexpectedError: (error) => context.streams.stderr.write(`nexus: unexpected error in a request: ${describe(error)}\n`),
      });
      printStarted(context, server, options.json === true);
      const signal = await signalReceived;
      // Closing stops accepting at once; the line after it tells a watcher that new connections fail now.
      const stopped = server.close();
      if (options.json !== true) {
        context.streams.stdout.write(`${signal}: stopping; requests in flight have up to ${options.drainTimeoutMs} ms (a second signal stops at once)\n`);
      }
      await stopped;
      if (options.json !== true) context.streams.stdout.write('stopped\n');
    });
}

const SERVE_HELP_AFTER = `
Flags win over variables. Stores, as URLs (DESIGN.md section 5): ${SERVER_ENVIRONMENT.metastore},
${SERVER_ENVIRONMENT.objectStore}, ${SERVER_ENVIRONMENT.recordStore} take local:DIR, the data directory
(e.g. local:./nexus-data); other drivers (s3://, postgresql://, ...) are not available yet and are
refused. ${SERVER_ENVIRONMENT.cacheStore} must be unset: the server runs without a CacheStore.

The data directory holds the metastore (metastore.kv), the blobs (blobs/), the records
(records.sqlite, with the API keys) and a lock: one process at a time. While the server runs,
reach it with --remote URL --token KEY rather than --data.

On its first start the server creates an admin key and prints it once. SIGTERM or SIGINT stops
it: no new connections, requests in flight finish (up to --drain-timeout-ms), watch streams are
cut (clients resume with ?since=), the stores are closed; then it exits 0.`;

function printStarted(context: CliContext, server: NexusServer, json: boolean): void {
  const { stdout } = context.streams;
  if (json) {
    const line = { url: server.url, dataDir: server.dataDir.directory, ...(server.adminKey === undefined ? {} : { adminKey: server.adminKey }) };
    stdout.write(`${JSON.stringify(line)}\n`);
    return;
  }
  stdout.write(`nexus serving ${server.dataDir.directory} at ${server.url}\n`);
  if (server.adminKey !== undefined) {
    stdout.write(`admin key (shown once, keep it secret; pass it as --token or NEXUS_TOKEN): ${server.adminKey}\n`);
  }
}

/** Resolves with the name of the first stop signal; the handlers go once it came. */
function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const handlers = STOP_SIGNALS.map((signal) => {
      const handler = (): void => {
        for (const [index, name] of STOP_SIGNALS.entries()) process.off(name, handlers[index]!);
        resolve(signal);
      };
      process.on(signal, handler);
      return handler;
    });
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
