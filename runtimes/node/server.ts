import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { AccessDeniedError, BusyError, InvalidArgumentError } from '../../kernel/errors.ts';
import { createHttpApi, type HttpApiLimits, ROUTES } from '../http-api/index.ts';
import { type DataDir, openDataDir } from './data-dir.ts';

/**
 * The nexus server of Node: a data dir (data-dir.ts) served through the HTTP API
 * (runtimes/http-api) on node:http, through @hono/node-server.
 *
 * Stopping (`close()`, which `nexus serve` calls on SIGTERM and SIGINT): the server stops accepting
 * connections, cuts the watch streams (their clients resume with `?since=`), lets every other
 * request in flight finish, for at most the drain timeout, then cuts what is left and closes the
 * data dir, so the stores are closed cleanly and the dir's lock released.
 */

/** How long `close()` waits for requests in flight before it cuts their connections. */
export const SERVER_DRAIN_TIMEOUT_MS_DEFAULT = 30_000;
/**
 * The longest one request may take, its body included. Node's own default (5 minutes) would cut a
 * large upload over a slow link; an hour bounds a stuck client without refusing honest ones.
 */
export const SERVER_REQUEST_TIMEOUT_MS = 60 * 60 * 1000;
/** The name of the admin key a server creates on its first start. */
export const FIRST_ADMIN_KEY_NAME = 'admin';

export interface StartServerOptions {
  /** The data dir, opened (and created) by the server, which holds it until `close()`. */
  readonly dir: string;
  readonly host: string;
  /** 0 lets the system pick a free port; `url` tells which. */
  readonly port: number;
  readonly drainTimeoutMs?: number;
  readonly limits?: Partial<HttpApiLimits>;
  /** Told of unexpected errors inside requests (answered 500 without details); console.error by default. */
  readonly onUnexpectedError?: (error: unknown) => void;
}

export interface NexusServer {
  /** Where it listens, e.g. `http://127.0.0.1:7070`. */
  readonly url: string;
  readonly dataDir: DataDir;
  /**
   * The admin key created by this start, present only on the first start of a data dir (one with
   * no key at all, revoked ones included). It is not stored anywhere else: show it once.
   */
  readonly adminKey?: string;
  /** Stops as described above; calling it again returns the same promise. */
  close(): Promise<void>;
}

export async function startServer(options: StartServerOptions): Promise<NexusServer> {
  validateAddress(options.host, options.port);
  const drainTimeoutMs = options.drainTimeoutMs ?? SERVER_DRAIN_TIMEOUT_MS_DEFAULT;
  if (!Number.isSafeInteger(drainTimeoutMs) || drainTimeoutMs < 0) {
    throw new InvalidArgumentError(`the drain timeout must be a whole number of milliseconds, not ${drainTimeoutMs}`);
  }
  const dataDir = await openDataDir({ dir: options.dir });
  try {
    const app = createHttpApi({
      fs: dataDir.fs,
      authenticate: dataDir.apiKeys.authenticate,
      keys: dataDir.apiKeys,
      limits: options.limits,
      onUnexpectedError: options.onUnexpectedError,
    });
    const requests = new RequestTracker();
    const listener = getRequestListener(app.fetch);
    const server = createServer({ requestTimeout: SERVER_REQUEST_TIMEOUT_MS }, (request, response) => {
      requests.add(request, response);
      void listener(request, response);
    });
    const address = await listen(server, options.host, options.port);
    // Listening first: a port in use fails before a key is made that nobody would ever see.
    const adminKey = await createFirstAdminKey(dataDir);
    const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    let closed: Promise<void> | undefined;
    const close = (): Promise<void> => (closed ??= stop({ server, requests, dataDir, drainTimeoutMs }));
    return { url, dataDir, ...(adminKey === undefined ? {} : { adminKey }), close };
  } catch (error) {
    await dataDir.close().catch(() => {}); // the error that stopped the start is the one to report
    throw error;
  }
}

async function createFirstAdminKey(dataDir: DataDir): Promise<string | undefined> {
  if ((await dataDir.apiKeys.list()).length > 0) return undefined;
  const created = await dataDir.apiKeys.create({ name: FIRST_ADMIN_KEY_NAME, admin: true });
  return created.key;
}

async function stop(parts: { server: Server; requests: RequestTracker; dataDir: DataDir; drainTimeoutMs: number }): Promise<void> {
  const { server, requests, dataDir, drainTimeoutMs } = parts;
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  requests.cutWatchStreams();
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  const drainTimedOut = new Promise<void>((resolve) => (drainTimer = setTimeout(resolve, drainTimeoutMs)));
  await Promise.race([requests.drained(), drainTimedOut]);
  clearTimeout(drainTimer);
  // Whatever is left: requests past the drain timeout, and keep-alive connections now idle.
  server.closeAllConnections();
  await stopped;
  await dataDir.close();
}

/**
 * The requests in flight, so that stopping can wait for them (node:http's `close` waits for
 * connections, not requests, and a keep-alive connection may stay open after its last request).
 */
class RequestTracker {
  readonly #inFlight = new Map<IncomingMessage, ServerResponse>();
  #stopping = false;
  #onDrained: (() => void) | undefined;

  add(request: IncomingMessage, response: ServerResponse): void {
    this.#inFlight.set(request, response);
    // After a stop began, answer on a connection that closes, so the client does not reuse it.
    if (this.#stopping) response.shouldKeepAlive = false;
    response.once('close', () => {
      this.#inFlight.delete(request);
      if (this.#stopping && this.#inFlight.size === 0) this.#onDrained?.();
    });
    if (this.#stopping && isWatchStream(request)) request.socket.destroy();
  }

  cutWatchStreams(): void {
    this.#stopping = true;
    for (const [request, response] of this.#inFlight) {
      response.shouldKeepAlive = false;
      if (isWatchStream(request)) request.socket.destroy();
    }
  }

  drained(): Promise<void> {
    if (this.#inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#onDrained = resolve));
  }
}

/** A watch is a stream without end: stopping cuts it rather than waiting for it. */
function isWatchStream(request: IncomingMessage): boolean {
  return request.method === 'GET' && (request.url?.startsWith(`${ROUTES.watch}/`) ?? false);
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.close();
      reject(translateListenError(error, host, port));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function translateListenError(error: Error, host: string, port: number): Error {
  const code = (error as { code?: unknown }).code;
  const where = `${host}:${port}`;
  if (code === 'EADDRINUSE') return new BusyError(`cannot listen on ${where}: the port is in use; choose another with --port or NEXUS_PORT (0 picks a free one)`);
  if (code === 'EACCES') return new AccessDeniedError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges)`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new InvalidArgumentError(`cannot listen on ${where}: ${host} is not an address of this machine`);
  }
  return error;
}

function validateAddress(host: string, port: number): void {
  if (typeof host !== 'string' || host.length === 0) throw new InvalidArgumentError('cannot listen: the host is empty');
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError(`cannot listen on port ${port}: a port is a whole number from 0 to 65535`);
  }
}
