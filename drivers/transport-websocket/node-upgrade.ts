import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { CLOSE_CODES } from './frame-socket.ts';
import { FRAME_BYTES_MAX } from './limits.ts';
import { RAFT_SOCKET_PATH, type WebSocketZoneTransport } from './websocket-zone-transport.ts';
import { zoneApiError, type ZoneApiCore } from './zone-api-app.ts';
import { ZONE_API_MUX_MESSAGE_BYTES_MAX, ZONE_API_MUX_PATH, ZONE_API_MUX_ROUTE, ZoneApiMuxSession } from './zone-api-mux.ts';

/**
 * Serves a WebSocketZoneTransport's raft socket (when given) on a Node `http.Server` (the one that serves the
 * ZoneApi, so a node has one port): upgrade requests to `RAFT_SOCKET_PATH` become peer
 * connections; with `api`, upgrade requests to ZONE_API_MUX_PATH become ZoneApi mux channels
 * (zone-api-mux.ts) once their token is checked (401 EACCES without it, before any upgrade);
 * other upgrade requests are answered 404. `ws` enforces each path's message limit on every
 * incoming message before buffering it whole. Returns a function that detaches.
 */
export function serveZoneTransport(server: Server, transport: WebSocketZoneTransport | undefined, api?: ZoneApiCore): () => void {
  const sockets = new WebSocketServer({ noServer: true, maxPayload: FRAME_BYTES_MAX });
  const muxSockets = new WebSocketServer({ noServer: true, maxPayload: ZONE_API_MUX_MESSAGE_BYTES_MAX, perMessageDeflate: false });
  const onUpgrade = (request: IncomingMessage, stream: Duplex, head: Buffer): void => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === RAFT_SOCKET_PATH && transport !== undefined) {
      sockets.handleUpgrade(request, stream, head, (socket) => transport.acceptSocket(socket as unknown as WebSocket));
      return;
    }
    if (path === ZONE_API_MUX_PATH && api !== undefined) {
      acceptMux(muxSockets, api, request, stream, head);
      return;
    }
    stream.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  };
  server.on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
    for (const client of [...sockets.clients, ...muxSockets.clients]) client.terminate();
    sockets.close();
    muxSockets.close();
  };
}

function acceptMux(muxSockets: WebSocketServer, api: ZoneApiCore, request: IncomingMessage, stream: Duplex, head: Buffer): void {
  const authorization = request.headers.authorization;
  try {
    api.checkAuthorization(ZONE_API_MUX_ROUTE, authorization);
  } catch (error) {
    const { status, json } = zoneApiError(error);
    const text = JSON.stringify(json);
    stream.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
    return;
  }
  muxSockets.handleUpgrade(request, stream, head, (socket) => {
    const session = new ZoneApiMuxSession({
      core: api,
      authorization: authorization!,
      socket: { send: (bytes) => socket.send(bytes), close: (code, reason) => socket.close(code, reason), bufferedBytes: () => socket.bufferedAmount },
      scheduleFlush: (flush) => setImmediate(flush),
    });
    socket.on('message', (data, isBinary) => {
      if (!isBinary) session.close(CLOSE_CODES.invalidData, 'the ZoneApi mux channel takes binary messages');
      else session.receive(data as Buffer);
    });
    socket.on('close', () => session.close());
    socket.on('error', () => session.close());
  });
}
