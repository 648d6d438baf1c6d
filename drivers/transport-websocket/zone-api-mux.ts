import { BusyError, InvalidArgumentError } from '../../kernel/errors.ts';
import { packValue, unpackStrict } from './frame-codec.ts';
import { CLOSE_CODES, truncateUtf8 } from './frame-socket.ts';
import { API_REQUEST_BYTES_MAX } from './limits.ts';
import { readArray, readBytes, readCount, readString, readTuple, wireError } from './wire-values.ts';
import { bodyTooLarge, ZONE_API_PATH, zoneApiError, type ZoneApiCore } from './zone-api-app.ts';

/**
 * The ZoneApi's multiplexed channel: many calls of one client on one WebSocket, the calls of one
 * turn of the client's event loop in one message and the answers of one turn of the node's in one
 * message, matched by id. Each call is what a `POST /zone/v1/<route>` carries (route and
 * MessagePack body) and each answer what the HTTP answer does (status and body, JSON for an
 * error), so a client sees the same answers and errors either way (runtimes/node/node-mux-exchange.ts
 * is the Node client; ZoneApiClient takes it as its exchange).
 *
 * Why: a closed-loop client of a busy node pays per HTTP call for its parsing, its request and
 * response objects and two system calls on each side. Measured with 64 concurrent callers and
 * 200-byte bodies on loopback (node:http kept alive against a batched WebSocket echo): 40-44 us of
 * client CPU and 28-31 us of server CPU per call over HTTP, 1.3-2.2 us and 0.9 us over the
 * WebSocket. etcd's clients share one HTTP/2 connection the same way.
 *
 * Who may call: the upgrade request carries the token (`Authorization: Bearer <token>`), checked
 * before the upgrade (401 EACCES without it, no socket), and every call on the socket runs with
 * it. The admin calls, whose credential is inside their body, are not served here (400 EINVAL
 * answers them): they stay plain POSTs.
 *
 * Messages are MessagePack (the library of the other frames):
 * - client to node: [ZONE_API_MUX_VERSION, [[id, route, body], ...]];
 * - node to client: [ZONE_API_MUX_VERSION, [[id, status, body], ...]].
 * A message that does not decode, or of another version, closes the socket with code 4007 (the
 * peer sockets' invalidData) and the reason; calls beyond ZONE_API_MUX_PENDING_CALLS_MAX under way
 * on one socket, or while it holds ZONE_API_MUX_BUFFERED_BYTES_MAX of answers unread, are answered
 * 503 EBUSY at once.
 */

/** The upgrade path of the channel. */
export const ZONE_API_MUX_PATH = `${ZONE_API_PATH}/mux`;

/** The route name the upgrade's token is checked for (a route that takes the token). */
export const ZONE_API_MUX_ROUTE = 'mux';

/** Version of the channel's messages; a node answers another with a close (4007). */
export const ZONE_API_MUX_VERSION = 1;

/** Calls (or answers) in one message at most. */
export const ZONE_API_MUX_CALLS_PER_MESSAGE_MAX = 4096;

/** Calls a node runs at once for one socket; more are answered 503 EBUSY. */
export const ZONE_API_MUX_PENDING_CALLS_MAX = 1024;

/**
 * Bytes of answers a socket may hold unsent (its client not reading them) before the node answers
 * new calls on it 503 EBUSY: with the pending calls, what bounds a node's memory for one channel.
 */
export const ZONE_API_MUX_BUFFERED_BYTES_MAX = 64 * 1024 * 1024;

/** A message's size at most: one call of the largest body, and its framing. */
export const ZONE_API_MUX_MESSAGE_BYTES_MAX = API_REQUEST_BYTES_MAX + 64 * 1024;

/** The longest route name on the channel. */
const ROUTE_LENGTH_MAX = 64;

export interface ZoneApiMuxCall {
  readonly id: number;
  readonly route: string;
  readonly body: Uint8Array;
}

export interface ZoneApiMuxAnswer {
  readonly id: number;
  readonly status: number;
  readonly body: Uint8Array;
}

export function encodeMuxCalls(calls: readonly ZoneApiMuxCall[]): Uint8Array {
  return packValue([ZONE_API_MUX_VERSION, calls.map(({ id, route, body }) => [id, route, body])]);
}

export function decodeMuxCalls(bytes: Uint8Array): ZoneApiMuxCall[] {
  return readMuxMessage(bytes, 'call').map((tuple) => {
    const [id, route, body] = readTuple(tuple, 'ZoneApi mux call', 3);
    return { id: readCount(id, 'call id'), route: readString(route, 'call route', ROUTE_LENGTH_MAX), body: readBytes(body, 'call body', ZONE_API_MUX_MESSAGE_BYTES_MAX) };
  });
}

export function encodeMuxAnswers(answers: readonly ZoneApiMuxAnswer[]): Uint8Array {
  return packValue([ZONE_API_MUX_VERSION, answers.map(({ id, status, body }) => [id, status, body])]);
}

export function decodeMuxAnswers(bytes: Uint8Array): ZoneApiMuxAnswer[] {
  return readMuxMessage(bytes, 'answer').map((tuple) => {
    const [id, status, body] = readTuple(tuple, 'ZoneApi mux answer', 3);
    const code = readCount(status, 'answer status');
    if (code < 100 || code > 599) throw wireError('answer status', 'an HTTP status', status);
    return { id: readCount(id, 'answer id'), status: code, body: readBytes(body, 'answer body', Number.MAX_SAFE_INTEGER) };
  });
}

function readMuxMessage(bytes: Uint8Array, kind: string): readonly unknown[] {
  const [version, items] = readTuple(unpackStrict(bytes), `ZoneApi mux ${kind} message`, 2);
  if (readCount(version, 'ZoneApi mux version') !== ZONE_API_MUX_VERSION) {
    throw new InvalidArgumentError(`cannot read a ZoneApi mux message of version ${String(version)}: this side speaks version ${ZONE_API_MUX_VERSION}`);
  }
  return readArray(items, `ZoneApi mux ${kind}s`, ZONE_API_MUX_CALLS_PER_MESSAGE_MAX);
}

/** What a session needs of its socket and runtime. */
export interface ZoneApiMuxSocket {
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
  /** Bytes sent but not yet written out (the client not reading fast enough). */
  bufferedBytes(): number;
}

/**
 * The node's side of one channel: runs each call through the ZoneApiCore, as the HTTP routes do,
 * with the token the upgrade presented (already checked), and sends the answers of one turn in
 * one message (`scheduleFlush`: setImmediate in Node, so the answers of every call that finished
 * in the turn go together).
 */
export class ZoneApiMuxSession {
  readonly #core: ZoneApiCore;
  readonly #authorization: string;
  readonly #socket: ZoneApiMuxSocket;
  readonly #scheduleFlush: (flush: () => void) => void;
  #answers: ZoneApiMuxAnswer[] = [];
  #pending = 0;
  #closed = false;

  constructor(options: { core: ZoneApiCore; authorization: string; socket: ZoneApiMuxSocket; scheduleFlush: (flush: () => void) => void }) {
    this.#core = options.core;
    this.#authorization = options.authorization;
    this.#socket = options.socket;
    this.#scheduleFlush = options.scheduleFlush;
  }

  /** Calls still running. */
  get pending(): number {
    return this.#pending;
  }

  /** One message from the client. */
  receive(bytes: Uint8Array): void {
    if (this.#closed) return;
    let calls: ZoneApiMuxCall[];
    try {
      calls = decodeMuxCalls(bytes);
    } catch (error) {
      this.close(CLOSE_CODES.invalidData, error instanceof Error ? error.message : String(error));
      return;
    }
    for (const call of calls) {
      if (this.#pending >= ZONE_API_MUX_PENDING_CALLS_MAX) {
        this.#answerError(call.id, new BusyError(`this node runs at most ${ZONE_API_MUX_PENDING_CALLS_MAX} calls of one ZoneApi mux connection at once`));
        continue;
      }
      if (this.#socket.bufferedBytes() > ZONE_API_MUX_BUFFERED_BYTES_MAX) {
        this.#answerError(call.id, new BusyError(`this ZoneApi mux connection holds more than ${ZONE_API_MUX_BUFFERED_BYTES_MAX} bytes of answers its client has not read`));
        continue;
      }
      this.#pending++;
      void this.#run(call).finally(() => this.#pending--);
    }
  }

  /** The socket closed (or is to be closed): answers still running are dropped. */
  close(code?: number, reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#answers = [];
    if (code !== undefined) this.#socket.close(code, truncateUtf8(reason ?? '', 120));
  }

  async #run(call: ZoneApiMuxCall): Promise<void> {
    let body: Uint8Array;
    try {
      body = await this.#post(call);
    } catch (error) {
      this.#answerError(call.id, error);
      return;
    }
    this.#answer({ id: call.id, status: 200, body });
  }

  /** As the POST routes run a call, the token already checked; an unknown route is the core's 404. */
  async #post({ route, body }: ZoneApiMuxCall): Promise<Uint8Array> {
    const core = this.#core;
    if (!core.takesToken(route)) {
      throw new InvalidArgumentError(`the ZoneApi route ${route} is not served on the mux channel (its credential is in its body): POST ${ZONE_API_PATH}/${route}`);
    }
    const sizeBytesMax = core.requestBytesMax(route);
    if (body.byteLength > sizeBytesMax) throw bodyTooLarge(sizeBytesMax);
    return await core.post(route, this.#authorization, body);
  }

  #answerError(id: number, error: unknown): void {
    const { status, json } = zoneApiError(error);
    this.#answer({ id, status, body: new TextEncoder().encode(JSON.stringify(json)) });
  }

  #answer(answer: ZoneApiMuxAnswer): void {
    if (this.#closed) return;
    this.#answers.push(answer);
    if (this.#answers.length === 1) this.#scheduleFlush(() => this.#flush());
  }

  #flush(): void {
    if (this.#closed || this.#answers.length === 0) return;
    const answers = this.#answers;
    this.#answers = [];
    for (let first = 0; first < answers.length; first += ZONE_API_MUX_CALLS_PER_MESSAGE_MAX) {
      this.#socket.send(encodeMuxAnswers(answers.slice(first, first + ZONE_API_MUX_CALLS_PER_MESSAGE_MAX)));
    }
  }
}
