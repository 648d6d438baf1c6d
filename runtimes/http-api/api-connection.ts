import { errorFromResponseText, jsonFromResponseText } from '../../kernel/errors.ts';
import { JSON_CONTENT_TYPE } from './wire.ts';

export interface RemoteOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:7070` (the API is under `/api/v1` there). */
  readonly url: string;
  /** An API key, sent as `Authorization: Bearer <token>`. */
  readonly token: string;
  /** The fetch to send requests with: the global one by default; an app's own in tests. */
  readonly fetch?: typeof fetch;
}

export interface ApiRequest {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  /** The route and encoded file path, e.g. `/api/v1/files/a%20b`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | ReadableStream<Uint8Array>;
  /** A JSON body (instead of `body`). */
  readonly json?: unknown;
  readonly signal?: AbortSignal;
}

/**
 * One server, one key: builds URLs, sends requests through `fetch`, and turns every non-2xx answer
 * into the error it stands for (the kernel's class for its codes). Network failures are fetch's own
 * errors (a TypeError).
 */
export class ApiConnection {
  readonly #baseUrl: string;
  readonly #authorization: string;
  readonly #fetch: typeof fetch;

  constructor(options: RemoteOptions) {
    this.#baseUrl = options.url.replace(/\/+$/, '');
    this.#authorization = `Bearer ${options.token}`;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** Sends the request; resolves with a 2xx response whose body the caller owns, or throws. */
  async send(request: ApiRequest): Promise<Response> {
    const headers: Record<string, string> = { authorization: this.#authorization, ...request.headers };
    const init: RequestInit & { duplex?: 'half' } = { method: request.method, headers };
    if (request.signal !== undefined) init.signal = request.signal;
    if (request.json !== undefined) {
      headers['content-type'] = JSON_CONTENT_TYPE;
      init.body = JSON.stringify(request.json);
    } else if (request.body instanceof ReadableStream) {
      init.body = request.body;
      // A streamed request body must be half duplex: fetch sends it before reading the answer.
      init.duplex = 'half';
    } else if (request.body !== undefined) {
      init.body = request.body as Uint8Array<ArrayBuffer>;
    }
    const response = await this.#fetch(this.#url(request), init);
    if (response.ok) return response;
    const text = request.method === 'HEAD' ? '' : await response.text();
    throw errorFromResponseText(response.status, text);
  }

  /** Sends the request and parses the JSON answer. */
  async json(request: ApiRequest): Promise<unknown> {
    const response = await this.send(request);
    return jsonFromResponseText(response.status, await response.text());
  }

  #url(request: ApiRequest): string {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) query.set(name, String(value));
    }
    const encoded = query.toString();
    const search = encoded === '' ? '' : `?${encoded}`;
    return `${this.#baseUrl}${request.path}${search}`;
  }
}
