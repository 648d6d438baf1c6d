/**
 * Zones across processes: the WebSocket ZoneTransport (versioned MessagePack frames, an HMAC
 * handshake with the zone secret, one connection per pair of nodes), the ZoneApi over HTTP (a hono
 * app and a fetch client) and join tokens. Everything here is runtime-neutral; the Node server glue
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
