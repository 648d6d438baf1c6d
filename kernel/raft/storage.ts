import { CompactedError } from '../errors.ts';
import type { ConfState, Entry, HardState, Snapshot } from './types.ts';

/**
 * What Raft reads of a node's durable state. Raft never writes through this interface: the
 * application persists what each `Ready` hands it (see raw-node.ts) and then makes it visible
 * here, so that every value read here is already durable.
 *
 * The log is contiguous: it holds entries `firstIndex()` through `lastIndex()` (both inclusive),
 * preceded by a snapshot at index `firstIndex() - 1` whose term `term()` still answers. An empty
 * log has `lastIndex() === firstIndex() - 1`.
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

  /** The index of the first entry still in the log (the snapshot's index + 1). */
  firstIndex(): number;

  /** The index of the last entry, or the snapshot's index when no entry follows it. */
  lastIndex(): number;

  /** The latest snapshot; its index is at least `firstIndex() - 1`. */
  snapshot(): Snapshot;
}

export function throwCompacted(index: number, firstIndex: number): never {
  throw new CompactedError(`cannot read raft log index ${index}: the log is compacted up to ${firstIndex - 1}`);
}
