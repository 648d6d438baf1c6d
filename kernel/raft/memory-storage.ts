import { assert } from '../assert.ts';
import { ClosedError, InvalidArgumentError } from '../errors.ts';
import { limitSize } from './entry-size.ts';
import { resolveCompactIndex, throwCompacted, type CreateSnapshotOptions, type RaftPersistRequest, type WritableRaftStorage } from './storage.ts';
import { EMPTY_CONF_STATE, EMPTY_HARD_STATE, type ConfState, type Entry, type HardState, type Snapshot } from './types.ts';

export interface MemoryRaftStorageOptions {
  /** Membership to start with, recorded as a snapshot at `bootstrapIndex`. */
  confState?: ConfState;
  /** Index (and term) of the bootstrap snapshot; 0 when the node starts with nothing. */
  bootstrapIndex?: number;
  bootstrapTerm?: number;
  hardState?: HardState;
}

/**
 * What a MemoryRaftStorage holds, as `image()` hands it out and `fromImage` starts from it: that
 * is its close and reopen, as a file-backed storage's is its files.
 */
export interface MemoryRaftStorageImage {
  readonly hardState: HardState;
  readonly snapshot: Snapshot;
  /** The compaction point: the index and term of the entry just before the first one kept. */
  readonly compacted: { readonly index: number; readonly term: number };
  /** The entries kept, from the one after the compaction point on. */
  readonly entries: readonly Entry[];
}

/**
 * `RaftStorage` in memory: the reference implementation, and the durable state of a node in
 * tests and simulations (a simulated crash keeps this object and drops the node).
 *
 * A driver loop writes through `WritableRaftStorage` (`persist`, `createSnapshot`, `compact`,
 * `close`): nothing is lost by a crash, so `mustSync` changes nothing. Tests and simulations that
 * drive nodes synchronously use the synchronous methods instead, in the order a `Ready` prescribes:
 * `applySnapshot`, then `append`, then `setHardState`; `createSnapshotSynchronously` and
 * `compactSynchronously` are their log compaction.
 */
export class MemoryRaftStorage implements WritableRaftStorage {
  private hardState: HardState;
  private closed = false;
  private currentSnapshot: Snapshot;
  /** `log[0]` is a placeholder for the entry at the compaction point: its index and term only. */
  private log: Entry[];

  constructor(options: MemoryRaftStorageOptions = {}) {
    const index = options.bootstrapIndex ?? 0;
    const term = options.bootstrapTerm ?? (index > 0 ? 1 : 0);
    assert(Number.isSafeInteger(index) && index >= 0 && Number.isSafeInteger(term) && term >= 0, 'bootstrap index and term must be non-negative integers');
    this.hardState = options.hardState ?? (index > 0 ? { term, vote: 0, commit: index } : EMPTY_HARD_STATE);
    this.currentSnapshot = {
      metadata: { index, term, confState: options.confState ?? EMPTY_CONF_STATE },
      data: new Uint8Array(0),
    };
    this.log = [placeholder(index, term)];
  }

  /**
   * A storage holding a copy of `image`. Throws InvalidArgumentError (EINVAL) for an image no
   * storage could have handed out: entries not numbered one after another from the compaction
   * point, or a snapshot before the compaction point or past the last entry.
   */
  static fromImage(image: MemoryRaftStorageImage): MemoryRaftStorage {
    const { index, term } = image.compacted;
    const snapshotIndex = image.snapshot.metadata.index;
    const lastIndex = index + image.entries.length;
    if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(term) || term < 0) {
      throw new InvalidArgumentError(`invalid memory raft storage image: compaction point ${String(index)} at term ${String(term)}`);
    }
    image.entries.forEach((entry, position) => {
      if (entry.index !== index + 1 + position) {
        throw new InvalidArgumentError(`invalid memory raft storage image: entry ${position} has index ${entry.index}, not ${index + 1 + position}`);
      }
    });
    if (snapshotIndex < index || snapshotIndex > lastIndex) {
      throw new InvalidArgumentError(`invalid memory raft storage image: the snapshot at ${snapshotIndex} is outside the log's ${index}-${lastIndex}`);
    }
    const storage = new MemoryRaftStorage();
    const copy = structuredClone(image);
    storage.hardState = copy.hardState;
    storage.currentSnapshot = copy.snapshot;
    storage.log = [placeholder(index, term), ...copy.entries];
    return storage;
  }

  /** A copy of everything the storage holds, also once it is closed. */
  image(): MemoryRaftStorageImage {
    const [compacted, ...entries] = this.log;
    return structuredClone({ hardState: this.hardState, snapshot: this.currentSnapshot, compacted: { index: compacted!.index, term: compacted!.term }, entries });
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.currentSnapshot.metadata.confState };
  }

  entries(low: number, high: number, sizeBytesMax: number): Entry[] {
    const offset = this.log[0]!.index;
    if (low <= offset) throwCompacted(low, offset + 1);
    assert(low <= high, `entries(${low}, ${high}): low is above high`);
    assert(high <= this.lastIndex() + 1, `entries(${low}, ${high}): high is beyond the last index ${this.lastIndex()}`);
    return limitSize(this.log.slice(low - offset, high - offset), sizeBytesMax);
  }

  term(index: number): number {
    const offset = this.log[0]!.index;
    if (index < offset) throwCompacted(index, offset + 1);
    assert(index <= this.lastIndex(), `term(${index}): beyond the last index ${this.lastIndex()}`);
    return this.log[index - offset]!.term;
  }

  firstIndex(): number {
    return this.log[0]!.index + 1;
  }

  lastIndex(): number {
    return this.log[0]!.index + this.log.length - 1;
  }

  snapshot(): Snapshot {
    return this.currentSnapshot;
  }

  setHardState(state: HardState): void {
    this.hardState = state;
  }

  /** Replaces the whole log with `snapshot`, as a node does when it installs one from its leader. */
  applySnapshot(snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    assert(index >= this.currentSnapshot.metadata.index, `applySnapshot: snapshot ${index} is older than the current one ${this.currentSnapshot.metadata.index}`);
    this.currentSnapshot = snapshot;
    this.log = [placeholder(index, term)];
  }

  /**
   * Appends entries, first dropping any entries at or after `entries[0].index` (a new leader
   * overwrote them). Entries below the compaction point are ignored: they are already in the snapshot.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const firstIndex = this.firstIndex();
    const lastNewIndex = entries[entries.length - 1]!.index;
    if (lastNewIndex < firstIndex) return;
    const kept = entries[0]!.index < firstIndex ? entries.slice(firstIndex - entries[0]!.index) : entries;
    const offset = kept[0]!.index - this.log[0]!.index;
    assert(offset <= this.log.length, `append: entry ${kept[0]!.index} would leave a gap after ${this.lastIndex()}`);
    // In place: copying the whole log on every append would make a long log quadratic.
    this.log.length = offset;
    for (const entry of kept) this.log.push(entry);
  }

  /**
   * Records the application's state as of `index` (at most the applied index, which the caller
   * knows) as the snapshot a leader sends to followers that are too far behind.
   */
  createSnapshotSynchronously(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.currentSnapshot.metadata.index) {
      throw new InvalidArgumentError(`cannot create a snapshot at ${index}: the current snapshot is already at ${this.currentSnapshot.metadata.index}`);
    }
    assert(index <= this.lastIndex(), `createSnapshot(${index}): beyond the last index ${this.lastIndex()}`);
    this.currentSnapshot = { metadata: { index, term: this.term(index), confState }, data };
    return this.currentSnapshot;
  }

  /**
   * Drops the entries before `compactIndex`, keeping the term of the entry at `compactIndex`. The
   * dropped entries must be covered by the snapshot, or a lagging follower could never catch up.
   */
  compactSynchronously(compactIndex: number): void {
    const offset = this.log[0]!.index;
    if (compactIndex <= offset) throwCompacted(compactIndex, offset + 1);
    if (compactIndex > this.currentSnapshot.metadata.index) {
      throw new InvalidArgumentError(`cannot compact the raft log up to ${compactIndex}: the snapshot only covers up to ${this.currentSnapshot.metadata.index}`);
    }
    const kept = this.log.slice(compactIndex - offset);
    kept[0] = placeholder(compactIndex, kept[0]!.term);
    this.log = kept;
  }

  async persist(request: RaftPersistRequest): Promise<void> {
    this.throwIfClosed('persist');
    const currentIndex = this.currentSnapshot.metadata.index;
    if (request.snapshot !== undefined && request.snapshot.metadata.index < currentIndex) {
      throw new InvalidArgumentError(`cannot persist a snapshot at ${request.snapshot.metadata.index}: the current snapshot is already at ${currentIndex}`);
    }
    if (request.snapshot !== undefined) this.applySnapshot(request.snapshot);
    this.append(request.entries);
    if (request.hardState !== undefined) this.setHardState(request.hardState);
  }

  async createSnapshot(index: number, confState: ConfState, data: Uint8Array, options?: CreateSnapshotOptions): Promise<Snapshot> {
    this.throwIfClosed('createSnapshot');
    if (index > this.lastIndex()) throw new InvalidArgumentError(`cannot create a snapshot at ${index}: the log ends at ${this.lastIndex()}`);
    const compactIndex = resolveCompactIndex(index, options);
    const snapshot = this.createSnapshotSynchronously(index, confState, data);
    if (compactIndex >= this.firstIndex()) this.compactSynchronously(compactIndex);
    return snapshot;
  }

  /** Unlike `compactSynchronously`, an index already compacted is not an error: there is nothing to do. */
  async compact(compactIndex: number): Promise<void> {
    this.throwIfClosed('compact');
    if (compactIndex < this.firstIndex()) return;
    this.compactSynchronously(compactIndex);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private throwIfClosed(operation: string): void {
    if (this.closed) throw new ClosedError(`cannot ${operation}: the raft storage is closed`);
  }
}

function placeholder(index: number, term: number): Entry {
  return { index, term, type: 'normal', data: new Uint8Array(0) };
}
