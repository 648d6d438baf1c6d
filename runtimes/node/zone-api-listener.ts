import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { bodyTooLarge, checkContentLength, ZONE_API_PATH, zoneApiError, type ZoneApiCore } from '../../drivers/transport-websocket/zone-api-app.ts';
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
    // The token from the headers before any body is read: a stranger makes this node read nothing.
    core.checkAuthorization(route, request.headers.authorization);
    const body = await readBody(request, core.requestBytesMax(route));
    answer = await core.post(route, request.headers.authorization, body);
  } catch (error) {
    const { status, json } = zoneApiError(error);
    const text = JSON.stringify(json);
    // A body left unread (refused from the headers, or cut off past its limit) must not be read as
    // the next request: the connection closes after this answer.
    if (!request.complete) response.shouldKeepAlive = false;
    response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    response.end(text);
    return;
  }
  response.writeHead(200, { 'content-type': ZONE_API_CONTENT_TYPE, 'content-length': answer.byteLength });
  response.end(answer);
}

/**
 * The whole body, at most `sizeBytesMax` bytes (the route's requestBytesMax): a declared length
 * over it is refused from the header, before any byte is read; a streamed body is refused once it
 * passes it, without waiting for its end (its bytes past the limit are not kept).
 */
function readBody(request: IncomingMessage, sizeBytesMax: number): Promise<Uint8Array> {
  const declared = request.headers['content-length'];
  if (declared !== undefined) checkContentLength(declared, sizeBytesMax);
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let sizeBytes = 0;
    let ended = false;
    let refused = false;
    request.on('data', (chunk: Uint8Array) => {
      sizeBytes += chunk.byteLength;
      if (sizeBytes <= sizeBytesMax) chunks.push(chunk);
      else if (!refused) {
        refused = true;
        chunks.length = 0;
        reject(bodyTooLarge(sizeBytesMax));
      }
    });
    request.on('end', () => {
      ended = true;
      if (!refused) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, sizeBytes));
    });
    request.on('error', reject);
    request.on('close', () => {
      if (!ended) reject(new InvalidArgumentError('the ZoneApi request was closed before its body ended'));
    });
  });
}
