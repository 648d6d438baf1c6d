import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { FRAME_BYTES_MAX } from './limits.ts';
import { RAFT_SOCKET_PATH, type WebSocketZoneTransport } from './websocket-zone-transport.ts';

/**
 * Serves a WebSocketZoneTransport's raft socket on a Node `http.Server` (the one that serves the
 * ZoneApi, so a node has one port): upgrade requests to `RAFT_SOCKET_PATH` become peer
 * connections; other upgrade requests are answered 404. `ws` enforces `FRAME_BYTES_MAX` on every
 * incoming frame before buffering it whole. Returns a function that detaches.
 */
export function serveZoneTransport(server: Server, transport: WebSocketZoneTransport): () => void {
  const sockets = new WebSocketServer({ noServer: true, maxPayload: FRAME_BYTES_MAX });
  const onUpgrade = (request: IncomingMessage, stream: Duplex, head: Buffer): void => {
    if (new URL(request.url ?? '/', 'http://localhost').pathname !== RAFT_SOCKET_PATH) {
      stream.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, stream, head, (socket) => transport.acceptSocket(socket as unknown as WebSocket));
  };
  server.on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
    for (const client of sockets.clients) client.terminate();
    sockets.close();
  };
}
