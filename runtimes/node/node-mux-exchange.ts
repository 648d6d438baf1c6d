import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import type { ZoneApiHttpExchange, ZoneApiHttpRequest, ZoneApiHttpResponse } from '../../drivers/transport-websocket/zone-api-client.ts';
import { ZONE_API_PATH } from '../../drivers/transport-websocket/zone-api-app.ts';
import {
  decodeMuxAnswers,
  encodeMuxCalls,
  ZONE_API_MUX_CALLS_PER_MESSAGE_MAX,
  ZONE_API_MUX_PATH,
  type ZoneApiMuxCall,
} from '../../drivers/transport-websocket/zone-api-mux.ts';
import { concatChunks } from '../../kernel/contracts/bytes.ts';
import { ClosedError, errorFromResponseText, InvalidArgumentError } from '../../kernel/errors.ts';
import { createNodeHttpExchange, NODE_HTTP_RESPONSE_BYTES_MAX } from './node-http-exchange.ts';

export interface NodeMuxExchange {
  readonly exchange: ZoneApiHttpExchange;
  /** Closes the channels (calls still unanswered reject with ClosedError) and the fallback's connections. */
  close(): void;
}

/**
 * A ZoneApiHttpExchange that sends the calls carrying the token (batch, wait, get, scan, join) over
 * one ZoneApi mux channel per node and token (drivers/transport-websocket/zone-api-mux.ts says
 * why), and everything else (status, the admin calls) through node:http. The calls of one turn
 * of the event loop go in one message. A channel is opened at the first call and again after it
 * closes; when it closes, its unanswered calls reject with ClosedError (ECLOSED), since whether
 * they took effect is unknown, as with an HTTP connection reset. A refused upgrade (a wrong
 * token: 401) rejects the calls waiting for it with the node's error, as a POST would.
 */
export function createNodeMuxExchange(options: { responseBytesMax?: number } = {}): NodeMuxExchange {
  const responseBytesMax = options.responseBytesMax ?? NODE_HTTP_RESPONSE_BYTES_MAX;
  const http = createNodeHttpExchange({ responseBytesMax });
  const channels = new Map<string, MuxChannel>();
  const exchange: ZoneApiHttpExchange = async (request) => {
    const target = muxTarget(request);
    if (target === undefined) return await http.exchange(request);
    const channelKey = `${target.origin} ${target.authorization}`;
    let channel = channels.get(channelKey);
    if (channel === undefined || channel.closed) {
      channel = new MuxChannel(target.origin, target.authorization, responseBytesMax);
      channels.set(channelKey, channel);
    }
    return await channel.call(target.route, request.body ?? new Uint8Array(0));
  };
  return {
    exchange,
    close: () => {
      for (const channel of channels.values()) channel.close();
      channels.clear();
      http.close();
    },
  };
}

/** Where a request goes on a channel: a POST to a ZoneApi route with the token; undefined otherwise. */
function muxTarget(request: ZoneApiHttpRequest): { origin: string; route: string; authorization: string } | undefined {
  const authorization = request.headers.authorization;
  if (request.method !== 'POST' || authorization === undefined) return undefined;
  const url = new URL(request.url);
  if (url.protocol !== 'http:') throw new InvalidArgumentError(`the node mux exchange takes http: URLs, not ${JSON.stringify(request.url)}`);
  const prefix = `${ZONE_API_PATH}/`;
  if (!url.pathname.startsWith(prefix) || url.search !== '') return undefined;
  return { origin: url.origin, route: url.pathname.slice(prefix.length), authorization };
}

interface PendingCall {
  resolve(response: ZoneApiHttpResponse): void;
  reject(error: unknown): void;
}

class MuxChannel {
  readonly #origin: string;
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, PendingCall>();
  #outbox: ZoneApiMuxCall[] = [];
  #open = false;
  #nextId = 1;
  closed = false;

  constructor(origin: string, authorization: string, responseBytesMax: number) {
    this.#origin = origin;
    const url = `${origin.replace(/^http:/, 'ws:')}${ZONE_API_MUX_PATH}`;
    this.#socket = new WebSocket(url, { headers: { authorization }, maxPayload: responseBytesMax, perMessageDeflate: false });
    this.#socket.binaryType = 'nodebuffer';
    this.#socket.on('open', () => {
      this.#open = true;
      this.#flush();
    });
    this.#socket.on('message', (data: Buffer, isBinary: boolean) => this.#receive(data, isBinary));
    this.#socket.on('unexpected-response', (_request, response: IncomingMessage) => this.#refused(response));
    this.#socket.on('error', (error) => this.#fail(error));
    this.#socket.on('close', (code, reason) => {
      this.#fail(new ClosedError(`the ZoneApi mux channel to ${this.#origin} closed (${code}${reason.length > 0 ? `: ${reason.toString()}` : ''})`));
    });
  }

  call(route: string, body: Uint8Array): Promise<ZoneApiHttpResponse> {
    if (this.closed) return Promise.reject(new ClosedError(`the ZoneApi mux channel to ${this.#origin} is closed`));
    const id = this.#nextId++;
    return new Promise<ZoneApiHttpResponse>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#outbox.push({ id, route, body });
      if (this.#outbox.length === 1 && this.#open) setImmediate(() => this.#flush());
    });
  }

  close(): void {
    this.#fail(new ClosedError(`the ZoneApi mux channel to ${this.#origin} was closed by its client`));
  }

  #flush(): void {
    if (this.closed || !this.#open || this.#outbox.length === 0) return;
    const calls = this.#outbox;
    this.#outbox = [];
    for (let first = 0; first < calls.length; first += ZONE_API_MUX_CALLS_PER_MESSAGE_MAX) {
      this.#socket.send(encodeMuxCalls(calls.slice(first, first + ZONE_API_MUX_CALLS_PER_MESSAGE_MAX)));
    }
  }

  #receive(data: Buffer, isBinary: boolean): void {
    let answers;
    try {
      if (!isBinary) throw new InvalidArgumentError('the node sent a text message on the ZoneApi mux channel');
      answers = decodeMuxAnswers(data);
    } catch (error) {
      this.#fail(error);
      return;
    }
    for (const { id, status, body } of answers) {
      const pending = this.#pending.get(id);
      if (pending === undefined) continue; // Not ours (any more): nothing waits for it.
      this.#pending.delete(id);
      pending.resolve({ status, body });
    }
  }

  /** The node answered the upgrade with an HTTP response (401 for a wrong token): every call gets its error. */
  #refused(response: IncomingMessage): void {
    const chunks: Uint8Array[] = [];
    response.on('data', (chunk: Uint8Array) => chunks.push(chunk));
    response.on('end', () => {
      const text = new TextDecoder().decode(concatChunks(chunks));
      this.#fail(errorFromResponseText(response.statusCode ?? 0, text));
    });
    response.on('error', (error) => this.#fail(error));
  }

  /** Ends the channel: the calls not yet answered reject with `error`. */
  #fail(error: unknown): void {
    if (!this.closed) {
      this.closed = true;
      this.#socket.terminate();
    }
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#outbox = [];
    for (const call of pending) call.reject(error);
  }
}
