import type { MetastoreEntry, MetastoreOperation, MetastorePrecondition, MetastoreScanOptions, MetastoreScanPage } from '../../kernel/contracts/metastore.ts';
import { errorFromResponseText, jsonFromResponseText } from '../../kernel/errors.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import type { WriteToken } from '../../kernel/zone/types.ts';
import { ADMIN_CHALLENGE_BYTES, signAdminRequest, type AdminSigner } from './admin-request.ts';
import { readExactBytes } from './wire-values.ts';
import type { ZoneNodeStatus } from './zone-api-app.ts';
import { ADMIN_CHALLENGE_ROUTE, ZONE_API_PATH } from './zone-api-app.ts';
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
  /** The headers of the calls that carry the token (all but the admin calls), made once. */
  readonly #tokenHeaders: Readonly<Record<string, string>>;
  readonly #postHeaders: Readonly<Record<string, string>>;
  readonly #exchange: ZoneApiHttpExchange;

  /**
   * `address` is the node's base URL, e.g. `http://127.0.0.1:7001`; `token` the zone's join token,
   * sent with every call but the admin calls (undefined for a client that makes only those).
   */
  constructor(address: string, token: string | undefined, options: ZoneApiClientOptions = {}) {
    this.#baseUrl = address.replace(/\/+$/, '');
    this.#tokenHeaders = token === undefined ? {} : { authorization: `Bearer ${token}` };
    this.#postHeaders = { ...this.#tokenHeaders, 'content-type': ZONE_API_CONTENT_TYPE };
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

  /**
   * Removes a member: an admin call, signed with `signer`'s key (a voting member's node id and
   * private key, as in its data directory) over a challenge this client first asks the node for.
   * The token is not sent: it does not admit to admin calls. AccessDeniedError when the node does
   * not admit the signature (see admin-request.ts).
   */
  async removeNode(nodeId: NodeId, signer: AdminSigner): Promise<void> {
    await this.#admin('remove-node', { nodeId }, signer);
  }

  /** Asks the node for a challenge, signs the call over it, and sends it. */
  async #admin(route: string, payload: unknown, signer: AdminSigner): Promise<Record<string, unknown>> {
    const answer = await this.#post(ADMIN_CHALLENGE_ROUTE, {}, { authorize: false });
    const challenge = readExactBytes(answer.challenge, 'admin challenge', ADMIN_CHALLENGE_BYTES);
    const request = await signAdminRequest({ route, challenge, request: encodeApiBody(payload), signer });
    return await this.#post(route, request, { authorize: false });
  }

  async status(): Promise<ZoneNodeStatus> {
    const response = await this.#exchange({ method: 'GET', url: `${this.#baseUrl}${ZONE_API_PATH}/status`, headers: this.#tokenHeaders });
    if (!isSuccess(response.status)) throw errorOf(response);
    return jsonFromResponseText(response.status, new TextDecoder().decode(response.body)) as ZoneNodeStatus;
  }

  /** `authorize: false` leaves the token out (the admin calls, which it does not admit to). */
  async #post(route: string, payload: unknown, { authorize } = { authorize: true }): Promise<Record<string, unknown>> {
    const response = await this.#exchange({
      method: 'POST',
      url: `${this.#baseUrl}${ZONE_API_PATH}/${route}`,
      headers: authorize ? this.#postHeaders : ADMIN_HEADERS,
      body: encodeApiBody(payload),
    });
    if (!isSuccess(response.status)) throw errorOf(response);
    return decodeApiBody(response.body);
  }
}

/** The headers of an admin call: no token, which does not admit to it. */
const ADMIN_HEADERS: Readonly<Record<string, string>> = { 'content-type': ZONE_API_CONTENT_TYPE };

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

