/**
 * The Raft core: a deterministic, synchronous consensus state machine (see raw-node.ts for how an
 * application drives it, and storage.ts for what it reads). No timers, promises or I/O inside.
 */
export * from './constants.ts';
export { applyConfChangeTo, decodeConfChange, describeConfChange, encodeConfChange, isJoint } from './conf-change.ts';
export { entrySizeBytes } from './entry-size.ts';
export { ProposalDroppedError } from './errors.ts';
export { KvRaftStorage, type KvRaftStorageOptions } from './kv-raft-storage.ts';
export { MemoryRaftStorage, type MemoryRaftStorageImage, type MemoryRaftStorageOptions } from './memory-storage.ts';
export type * from './message.ts';
export { isResponseMessage } from './message.ts';
export type { ProgressState } from './progress.ts';
export { SeededRandom, type RandomSource } from './random.ts';
export type { CommitPropagation, RaftConfig, RaftLogger, ReadOnlyOption } from './raft-config.ts';
export { RawNode, type ProgressStatus, type RaftStatus, type Ready } from './raw-node.ts';
export type { CreateSnapshotOptions, RaftPersistRequest, RaftStorage, WritableRaftStorage } from './storage.ts';
export * from './types.ts';
