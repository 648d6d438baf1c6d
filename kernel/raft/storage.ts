import { CompactedError, InvalidArgumentError } from '../errors.ts';
import type { ConfState, Entry, HardState, Snapshot } from './types.ts';

/**
 * What Raft reads of a node's durable state. Raft never writes through this interface: the
 * application persists what each `Ready` hands it (see raw-node.ts) and then makes it visible
 * here, so that every value read here is already durable.
 *
 * The log is contiguous: it holds entries `firstIndex()` through `lastIndex()` (both inclusive),
 * preceded by the compaction point `firstIndex() - 1`, whose term `term()` still answers. The
 * latest snapshot is at the compaction point or, when the log keeps entries behind it (for
 * followers just behind, as etcd's SnapshotCatchUpEntries), above it. An empty log has
 * `lastIndex() === firstIndex() - 1`.
 *
 * Calls are synchronous: an implementation over asynchronous media keeps the log's tail and the
 * terms it needs in memory. Errors: reading below `firstIndex()` throws `CompactedError`; reading
 * above `lastIndex()` is a bug in the caller and fails an assertion.
 */
export interface RaftStorage {
  /** The persisted HardState and the membership as of the latest snapshot. */
  initialState(): { hardState: HardState; confState: ConfState };

  /**
   * Entries in the half-open range [low, high), in index order, stopping early once their sizes
   * (see `entrySizeBytes`) would exceed `sizeBytesMax`, but always at least one entry when the
   * range is not empty. The array is the caller's; the entries are shared and immutable.
   */
  entries(low: number, high: number, sizeBytesMax: number): Entry[];

  /** The term of the entry at `index`, for `index` in [firstIndex() - 1, lastIndex()]. */
  term(index: number): number;

  /** The index of the first entry still in the log (the compaction point + 1, at most the snapshot's index + 1). */
  firstIndex(): number;

  /** The index of the last entry, or the snapshot's index when no entry follows it. */
  lastIndex(): number;

  /** The latest snapshot; its index is at least `firstIndex() - 1`. */
  snapshot(): Snapshot;
}

/**
 * What a driver loop writes: the durable part of one Ready (step 1 of the `Ready` contract in
 * raw-node.ts). Buffers are shared, never copied or mutated by the storage.
 */
export interface RaftPersistRequest {
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  /** When false the write may be relaxed (not synced); see Ready.mustSync. */
  readonly mustSync: boolean;
}

/**
 * A RaftStorage that the driver loop writes through. After a write resolves, reads see it.
 *
 * Durability: a `persist` with `mustSync` is durable when it resolves. One without `mustSync`, and
 * `createSnapshot` and `compact`, may be lost by a crash, but only whole: after a crash the
 * storage holds exactly the state after some prefix of the writes that were started, and at least
 * every write that was durable when it resolved (each durable write also makes the writes before
 * it durable).
 *
 * Ordering: writes are applied in the order they are called; a caller may start the next one
 * before the previous one resolves. Reads (the `RaftStorage` methods) are synchronous and see a
 * write once it has resolved.
 *
 * Errors: `InvalidArgumentError` (EINVAL) for a snapshot or compaction the log cannot take (older
 * than the current snapshot, beyond the log or beyond what the snapshot covers); `BusyError`
 * (EBUSY) when the storage's bound on the log it holds is reached (create a snapshot first);
 * `ClosedError` (ECLOSED) after `close()`;
 * `CorruptionError` (ECORRUPT) when stored state cannot be decoded. A write that rejects with any
 * other error (the medium failed) leaves the storage unusable: close it and reopen.
 */
export interface WritableRaftStorage extends RaftStorage {
  /** Persists snapshot (if any) then entries (replacing any conflicting tail) then hard state, atomically. */
  persist(request: RaftPersistRequest): Promise<void>;
  /**
   * Records a snapshot of the applied state at `index` (<= applied) with the state machine's bytes,
   * and compacts the log up to `options.compactIndex` (by default `index`; at most `index`; one
   * already compacted compacts nothing), in one write. `index` must lie above the current snapshot
   * and within the log.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array, options?: CreateSnapshotOptions): Promise<Snapshot>;
  /**
   * Discards entries up to and including `compactIndex` (must be <= the latest snapshot's index or
   * applied). Compacting an index that is already compacted does nothing.
   */
  compact(compactIndex: number): Promise<void>;
  /** Releases the storage: later writes reject with ClosedError. Idempotent; does not close a shared KvStore or file. */
  close(): Promise<void>;
}

export interface CreateSnapshotOptions {
  /**
   * Where the log is compacted up to, at most the snapshot's index: below it, the entries between
   * stay in the log, so a follower that lacks only those is sent entries, not the snapshot.
   */
  readonly compactIndex?: number;
}

/** The compaction index `createSnapshot` uses; InvalidArgumentError when it is above the snapshot's index. */
export function resolveCompactIndex(index: number, options: CreateSnapshotOptions | undefined): number {
  const compactIndex = options?.compactIndex ?? index;
  if (!Number.isSafeInteger(compactIndex) || compactIndex < 0 || compactIndex > index) {
    throw new InvalidArgumentError(`cannot compact the raft log up to ${String(compactIndex)} with a snapshot at ${index}: expected an integer from 0 to ${index}`);
  }
  return compactIndex;
}

export function throwCompacted(index: number, firstIndex: number): never {
  throw new CompactedError(`cannot read raft log index ${index}: the log is compacted up to ${firstIndex - 1}`);
}
