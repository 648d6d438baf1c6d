/**
 * Zones across processes: the WebSocket ZoneTransport (versioned MessagePack frames, an HMAC
 * handshake with the zone secret, one connection per pair of nodes), the ZoneApi over HTTP (a hono
 * app and a fetch client) and its mux channel (many calls on one WebSocket: codec and the node's
 * session; Node's client is runtimes/node/node-mux-exchange.ts) and join tokens. Everything here is runtime-neutral; the Node server glue
 * for the raft socket, `serveZoneTransport`, is in node-upgrade.ts and is imported from there, so
 * that other runtimes never load `node:http` or `ws`'s server.
 */
export { decodeFrame, encodeFrame, FRAME_FORMAT_VERSION, type Frame } from './frame-codec.ts';
export { createZoneSecret, formatJoinToken, parseJoinToken, type JoinToken } from './join-token.ts';
export * from './limits.ts';
export { RAFT_SOCKET_PATH, raftSocketUrl, WebSocketZoneTransport, type WebSocketFactory, type WebSocketZoneTransportOptions } from './websocket-zone-transport.ts';
export { createZoneApi, ZONE_API_PATH, type ZoneApiOptions, type ZoneNodeStatus } from './zone-api-app.ts';
export { ZoneApiClient, type ZoneApiClientOptions } from './zone-api-client.ts';
export { ZONE_API_CONTENT_TYPE, ZONE_API_FORMAT_VERSION } from './zone-api-codec.ts';
export {
  decodeMuxAnswers,
  decodeMuxCalls,
  encodeMuxAnswers,
  encodeMuxCalls,
  ZONE_API_MUX_BUFFERED_BYTES_MAX,
  ZONE_API_MUX_CALLS_PER_MESSAGE_MAX,
  ZONE_API_MUX_MESSAGE_BYTES_MAX,
  ZONE_API_MUX_PATH,
  ZONE_API_MUX_PENDING_CALLS_MAX,
  ZONE_API_MUX_VERSION,
  ZoneApiMuxSession,
  type ZoneApiMuxAnswer,
  type ZoneApiMuxCall,
  type ZoneApiMuxSocket,
} from './zone-api-mux.ts';
