/**
 * Zones: a zone is a Raft group whose state machine is the zone's Metastore (see types.ts for the
 * API, zone-replica.ts for the driver loop, and kernel/contracts/zone-transport.ts for how the
 * members talk).
 */
export * from './constants.ts';
export * from './types.ts';
export { ManualTicker, type Ticker } from './ticker.ts';
export type { ZoneLoopPhase, ZoneLoopProfiler } from './loop-profiler.ts';
export { assertNodeId, assertPeerAddress, assertZoneId } from './zone-id.ts';
export { ZoneReplica } from './zone-replica.ts';
export { ZoneMetastore } from './zone-metastore.ts';
export { NotLeaderError, RemovedError, WriteLostError } from './errors.ts';
export type { SnapshotChunkMessage, SnapshotChunkResponseMessage, SnapshotTransferMessage } from './snapshot-chunk.ts';
