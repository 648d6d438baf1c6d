import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

/**
 * A `fetch` on node:http for the CLI's remote target. Node 20's built-in fetch keeps a streamed
 * request body in memory until the request ends (measured: 463 MiB peak to upload 400 MiB), so
 * `nexus write` and `import` of a large file would need memory in proportion to it; node:http
 * writes the body with backpressure. Failures to connect are TypeErrors, as fetch's are.
 */
export const httpFetch: typeof fetch = async (input, init = {}) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const request = send(url, { method: init.method ?? 'GET', headers: Object.fromEntries(new Headers(init.headers).entries()), signal: init.signal ?? undefined });
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', (error) => reject(init.signal?.aborted === true ? error : new TypeError('fetch failed', { cause: error })));
  });
  const body = init.body;
  // The server may answer (413, 401) before the whole body is sent: its answer wins over the cut upload.
  const sent =
    body instanceof ReadableStream
      ? pipeline(Readable.fromWeb(body as NodeReadableStream<Uint8Array>), request).catch(() => {})
      : Promise.resolve(request.end(body === undefined || body === null ? undefined : (body as string | Uint8Array)));
  const response = await answered;
  void sent;
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, item);
  }
  const status = response.statusCode ?? 500;
  const bodyless = init.method === 'HEAD' || status === 204 || status === 304;
  if (bodyless) response.resume();
  return new Response(bodyless ? null : (Readable.toWeb(response) as unknown as ReadableStream<Uint8Array>), { status, statusText: response.statusMessage, headers });
};
