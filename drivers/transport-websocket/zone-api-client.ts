import type { MetastoreEntry, MetastoreOperation, MetastorePrecondition, MetastoreScanOptions, MetastoreScanPage } from '../../kernel/contracts/metastore.ts';
import { errorFromResponseText, jsonFromResponseText } from '../../kernel/errors.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import type { WriteToken } from '../../kernel/zone/types.ts';
import type { ZoneNodeStatus } from './zone-api-app.ts';
import { ZONE_API_PATH } from './zone-api-app.ts';
import {
  batchRequestPayload,
  decodeApiBody,
  encodeApiBody,
  readEntry,
  readJoinResponse,
  readScanPage,
  readVersion,
  readWriteToken,
  scanRequestPayload,
  writeTokenPayload,
  ZONE_API_CONTENT_TYPE,
  type JoinResponse,
} from './zone-api-codec.ts';

/** One HTTP request of the client. `body` belongs to the exchange until it resolves. */
export interface ZoneApiHttpRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
}

/** The answer to one request: its status and whole body (the caller owns the buffer). */
export interface ZoneApiHttpResponse {
  readonly status: number;
  readonly body: Uint8Array;
}

/**
 * How the client talks HTTP: one request, one whole response. Network failures reject (with the
 * runtime's error); any status resolves. By default it is built on `fetch`; in Node,
 * runtimes/node/node-http-exchange.ts is several times cheaper per request than fetch.
 */
export type ZoneApiHttpExchange = (request: ZoneApiHttpRequest) => Promise<ZoneApiHttpResponse>;

export interface ZoneApiClientOptions {
  /** The fetch to send requests with: the global one by default; an app's own in tests. */
  readonly fetch?: typeof fetch;
  /** Sends requests instead of `fetch` (which is then ignored). */
  readonly exchange?: ZoneApiHttpExchange;
}

/**
 * A ZoneApi client over `fetch` (every runtime) or an injected exchange. Errors the node reports
 * come back as the same NexusError classes (EBUSY as BusyError, ...), other codes and answers it
 * cannot read as RemoteApiError; network failures are the exchange's own errors (fetch's
 * TypeError by default).
 */
export class ZoneApiClient {
  readonly #baseUrl: string;
  readonly #token: string;
  readonly #exchange: ZoneApiHttpExchange;

  /** `address` is the node's base URL, e.g. `http://127.0.0.1:7001`. */
  constructor(address: string, token: string, options: ZoneApiClientOptions = {}) {
    this.#baseUrl = address.replace(/\/+$/, '');
    this.#token = token;
    this.#exchange = options.exchange ?? fetchExchange(options.fetch ?? ((input, init) => fetch(input, init)));
  }

  /** SC: resolves with the version once a majority committed the batch. */
  async commit(operations: readonly MetastoreOperation[], preconditions: readonly MetastorePrecondition[] = []): Promise<number> {
    return readVersion(await this.#post('batch', batchRequestPayload({ consistency: 'strong', operations, preconditions })));
  }

  /** EC: resolves with a write token once the leader's log holds the batch (leader only). */
  async write(operations: readonly MetastoreOperation[], preconditions: readonly MetastorePrecondition[] = []): Promise<WriteToken> {
    return readWriteToken((await this.#post('batch', batchRequestPayload({ consistency: 'eventual', operations, preconditions }))).token);
  }

  async waitFor(token: WriteToken): Promise<number> {
    return readVersion(await this.#post('wait', { token: writeTokenPayload(token) }));
  }

  /** Linearizable. */
  async get(key: Uint8Array): Promise<MetastoreEntry | undefined> {
    return readEntry((await this.#post('get', { key })).entry);
  }

  /** Linearizable (each page). */
  async scan(options: MetastoreScanOptions): Promise<MetastoreScanPage> {
    return readScanPage(await this.#post('scan', scanRequestPayload(options)));
  }

  /** Asks the zone to add the node serving at `address`, which proves its node id with `publicKey` (NodeKeyPair.publicKey). */
  async join(address: string, publicKey: Uint8Array): Promise<JoinResponse> {
    return readJoinResponse(await this.#post('join', { address, publicKey }));
  }

  async removeNode(nodeId: NodeId): Promise<void> {
    await this.#post('remove-node', { nodeId });
  }

  async status(): Promise<ZoneNodeStatus> {
    const response = await this.#exchange({ method: 'GET', url: `${this.#baseUrl}${ZONE_API_PATH}/status`, headers: { authorization: `Bearer ${this.#token}` } });
    if (!isSuccess(response.status)) throw errorOf(response);
    return jsonFromResponseText(response.status, new TextDecoder().decode(response.body)) as ZoneNodeStatus;
  }

  async #post(route: string, payload: unknown): Promise<Record<string, unknown>> {
    const response = await this.#exchange({
      method: 'POST',
      url: `${this.#baseUrl}${ZONE_API_PATH}/${route}`,
      headers: { authorization: `Bearer ${this.#token}`, 'content-type': ZONE_API_CONTENT_TYPE },
      body: encodeApiBody(payload),
    });
    if (!isSuccess(response.status)) throw errorOf(response);
    return decodeApiBody(response.body);
  }
}

/** The default exchange: the runtime's (or the given) fetch. */
function fetchExchange(fetchFunction: typeof fetch): ZoneApiHttpExchange {
  return async ({ method, url, headers, body }) => {
    const response = await fetchFunction(url, { method, headers, ...(body === undefined ? {} : { body: body as Uint8Array<ArrayBuffer> }) });
    return { status: response.status, body: new Uint8Array(await response.arrayBuffer()) };
  };
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function errorOf(response: ZoneApiHttpResponse): Error {
  return errorFromResponseText(response.status, new TextDecoder().decode(response.body));
}

