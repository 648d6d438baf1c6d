/**
 * ZoneTransport over WebSocket: versioned MessagePack frames, an HMAC handshake with the zone
 * secret, one connection per pair of nodes. `serveZoneTransport` (node-upgrade.ts) is the Node
 * server glue and is exported from `./node` so that other runtimes do not load `node:http` types.
 */
export { decodeFrame, encodeFrame, FRAME_FORMAT_VERSION, type Frame } from './frame-codec.ts';
export * from './limits.ts';
export { RAFT_SOCKET_PATH, raftSocketUrl, WebSocketZoneTransport, type WebSocketFactory, type WebSocketZoneTransportOptions } from './websocket-zone-transport.ts';
