import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { API_REQUEST_BYTES_MAX } from '../../drivers/transport-websocket/limits.ts';
import { checkContentLength, ZONE_API_PATH, zoneApiError, type ZoneApiCore } from '../../drivers/transport-websocket/zone-api-app.ts';
import { ZONE_API_CONTENT_TYPE } from '../../drivers/transport-websocket/zone-api-codec.ts';
import { InvalidArgumentError } from '../../kernel/errors.ts';

const ROUTE_PREFIX = `${ZONE_API_PATH}/`;

/**
 * A node:http request listener for a zone node: the ZoneApi's POST routes straight from node:http
 * into the ZoneApiCore, and every other request to `fallback` (the hono app, which answers them
 * and the errors). Same routes, token checks, limits and error answers as the hono app; what it
 * saves is a web Request, a body stream and a Response per call, which were most of a busy
 * leader's time in @hono/node-server.
 */
export function zoneApiListener(core: ZoneApiCore, fallback: RequestListener): RequestListener {
  return (request, response) => {
    const route = postRouteOf(request);
    if (route === undefined || !core.hasPostRoute(route)) {
      fallback(request, response);
      return;
    }
    void answerPost(core, route, request, response);
  };
}

function postRouteOf(request: IncomingMessage): string | undefined {
  const url = request.url;
  if (request.method !== 'POST' || url === undefined || !url.startsWith(ROUTE_PREFIX)) return undefined;
  const route = url.slice(ROUTE_PREFIX.length);
  return /^[a-z-]+$/.test(route) ? route : undefined;
}

async function answerPost(core: ZoneApiCore, route: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  let answer: Uint8Array;
  try {
    const body = await readBody(request);
    answer = await core.post(route, request.headers.authorization, body);
  } catch (error) {
    const { status, json } = zoneApiError(error);
    const text = JSON.stringify(json);
    // A body left unread (refused by its declared length) must not be read as the next request.
    if (!request.complete) response.shouldKeepAlive = false;
    response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    response.end(text);
    return;
  }
  response.writeHead(200, { 'content-type': ZONE_API_CONTENT_TYPE, 'content-length': answer.byteLength });
  response.end(answer);
}

/** The whole body, at most API_REQUEST_BYTES_MAX bytes, declared or streamed. */
function readBody(request: IncomingMessage): Promise<Uint8Array> {
  const declared = request.headers['content-length'];
  if (declared !== undefined) checkContentLength(declared);
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let sizeBytes = 0;
    let ended = false;
    request.on('data', (chunk: Uint8Array) => {
      sizeBytes += chunk.byteLength;
      if (sizeBytes <= API_REQUEST_BYTES_MAX) chunks.push(chunk);
    });
    request.on('end', () => {
      ended = true;
      if (sizeBytes > API_REQUEST_BYTES_MAX) reject(new InvalidArgumentError(`a ZoneApi request body holds at most ${API_REQUEST_BYTES_MAX} bytes`));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, sizeBytes));
    });
    request.on('error', reject);
    request.on('close', () => {
      if (!ended) reject(new InvalidArgumentError('the ZoneApi request was closed before its body ended'));
    });
  });
}
