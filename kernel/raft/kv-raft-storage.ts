import { assert } from '../assert.ts';
import { METASTORE_SCAN_LIMIT_MAX, type MetastoreOperation } from '../contracts/metastore.ts';
import { BusyError, ClosedError, CorruptionError, InvalidArgumentError } from '../errors.ts';
import type { KvDurability, KvStore } from '../kv/index.ts';
import {
  RAFT_STORAGE_GARBAGE_DELETES_PER_COMMIT_MAX,
  RAFT_STORAGE_KEY_PREFIX_BYTES_MAX,
  RAFT_STORAGE_LOG_BYTES_MAX,
  RAFT_STORAGE_PERSIST_ENTRIES_MAX,
  RAFT_STORAGE_SNAPSHOT_BYTES_MAX,
  RAFT_STORAGE_SNAPSHOT_CHUNK_BYTES,
} from './constants.ts';
import { entriesSizeBytes } from './entry-size.ts';
import { IndexRanges } from './index-ranges.ts';
import {
  chunkKey,
  decodeEntry,
  decodeHardState,
  decodeLastIndex,
  decodeSnapshotChunk,
  decodeSnapshotRecord,
  decodeCompaction,
  encodeCompaction,
  encodeEntry,
  encodeHardState,
  encodeLastIndex,
  encodeSnapshotChunk,
  encodeSnapshotRecord,
  entryKey,
  entryKeyIndex,
  KEY_COMPACTION,
  KEY_ENTRY,
  KEY_HARD_STATE,
  KEY_LOG,
  KEY_SNAPSHOT,
  storageKey,
} from './kv-raft-storage-format.ts';
import { MemoryRaftStorage } from './memory-storage.ts';
import { resolveCompactIndex, type CreateSnapshotOptions, type RaftPersistRequest, type WritableRaftStorage } from './storage.ts';
import { EMPTY_CONF_STATE, EMPTY_HARD_STATE, type ConfState, type Entry, type HardState, type Snapshot } from './types.ts';

export interface KvRaftStorageOptions {
  /**
   * Where this node's Raft state lives in the store: every key it writes starts with these bytes
   * (at most RAFT_STORAGE_KEY_PREFIX_BYTES_MAX), and no other user of the store may write keys
   * under them. No prefix may be a prefix of another user's.
   */
  keyPrefix: Uint8Array;
  /**
   * When the prefix holds no Raft state yet, start from this membership, recorded (durably) as a
   * snapshot at `index` of `term` with empty data, as MemoryRaftStorage's bootstrap options do.
   * Ignored when state exists, so a node passes the same options on every start.
   */
  bootstrap?: { confState: ConfState; index: number; term: number };
  /** Lowers RAFT_STORAGE_LOG_BYTES_MAX, the bound on the live log kept in memory. */
  logSizeBytesMax?: number;
}

/**
 * A durable `WritableRaftStorage` in a KvStore that it shares with other users (a zone keeps its
 * state machine under another prefix of the same store). The layout and record format are in
 * kv-raft-storage-format.ts.
 *
 * Writes: each `persist` is one KvStore commit, `durable` when `mustSync`, else `relaxed`; so is
 * each `createSnapshot` (always relaxed: losing it in a crash loses nothing Raft needs, the entries
 * it compacted come back with it). Since KvStore commits apply in call order and a crash keeps a
 * prefix of them, a crash leaves this storage as it was after some prefix of its writes, including
 * every write durable when it resolved. The writes are planned when called, against the state the
 * earlier calls left, so a caller may issue the next write before the previous one resolves.
 *
 * Memory: RaftStorage reads are synchronous, so the live log (the entries after the compaction point), the
 * hard state and the latest snapshot, data included, are loaded at open (one prefix scan) and kept
 * in memory, in a MemoryRaftStorage that mirrors what is stored. The log is bounded by
 * RAFT_STORAGE_LOG_BYTES_MAX (a persist beyond it is BusyError: snapshot first), the snapshot by
 * RAFT_STORAGE_SNAPSHOT_BYTES_MAX (larger is InvalidArgumentError).
 *
 * Compaction: `createSnapshot(index)` drops the entries up to its compaction index (`index`, or
 * below it to keep entries behind the snapshot for followers just behind), `compact` drops more of
 * them, up to the snapshot at most, and a persisted snapshot replaces the log. The compaction point
 * is stored with each of these writes (the compaction record), so a crash keeps a log and a
 * compaction point of the same write. The entry keys compaction leaves behind are deleted by the
 * following writes, at most RAFT_STORAGE_GARBAGE_DELETES_PER_COMMIT_MAX per commit, so no write
 * carries an unbounded deletion; until then reads ignore them (they lie outside the live log).
 *
 * Errors: CorruptionError from `open` when a record cannot be decoded or the stored log is not
 * contiguous; a failed commit leaves this storage failed (its state in memory may be ahead of the
 * store), and every later call throws that failure: reopen it.
 */
export class KvRaftStorage implements WritableRaftStorage {
  private readonly store: KvStore;
  private readonly keyPrefix: Uint8Array;
  private readonly logSizeBytesMax: number;
  private readonly mirror: MemoryRaftStorage;
  /** The sum of `entrySizeBytes` over the live log. */
  private logSizeBytes: number;
  /** Chunks the stored snapshot's data takes. */
  private snapshotChunkCount: number;
  /** Entry keys outside the live log that may still be stored. */
  private readonly garbage: IndexRanges;
  private readonly pendingWrites = new Set<Promise<unknown>>();
  private failure: unknown = undefined;
  private closed = false;

  private constructor(store: KvStore, keyPrefix: Uint8Array, logSizeBytesMax: number, loaded: LoadedState) {
    this.store = store;
    this.keyPrefix = keyPrefix;
    this.logSizeBytesMax = logSizeBytesMax;
    this.mirror = loaded.mirror;
    this.logSizeBytes = loaded.logSizeBytes;
    this.snapshotChunkCount = loaded.snapshotChunkCount;
    this.garbage = loaded.garbage;
  }

  /** Loads the Raft state kept under `options.keyPrefix` (empty when there is none). */
  static async open(store: KvStore, options: KvRaftStorageOptions): Promise<KvRaftStorage> {
    const keyPrefix = options.keyPrefix;
    if (!(keyPrefix instanceof Uint8Array) || keyPrefix.length > RAFT_STORAGE_KEY_PREFIX_BYTES_MAX) {
      throw new InvalidArgumentError(`a raft storage key prefix must be a Uint8Array of at most ${RAFT_STORAGE_KEY_PREFIX_BYTES_MAX} bytes`);
    }
    const logSizeBytesMax = options.logSizeBytesMax ?? RAFT_STORAGE_LOG_BYTES_MAX;
    if (!Number.isSafeInteger(logSizeBytesMax) || logSizeBytesMax < 1 || logSizeBytesMax > RAFT_STORAGE_LOG_BYTES_MAX) {
      throw new InvalidArgumentError(`invalid logSizeBytesMax ${String(options.logSizeBytesMax)}: expected an integer from 1 to ${RAFT_STORAGE_LOG_BYTES_MAX}`);
    }
    const prefix = new Uint8Array(keyPrefix);
    const storage = new KvRaftStorage(store, prefix, logSizeBytesMax, await loadState(store, prefix));
    if (options.bootstrap !== undefined && storage.isEmpty()) await storage.bootstrap(options.bootstrap);
    return storage;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    this.throwIfFailed();
    return this.mirror.initialState();
  }

  entries(low: number, high: number, sizeBytesMax: number): Entry[] {
    this.throwIfFailed();
    return this.mirror.entries(low, high, sizeBytesMax);
  }

  term(index: number): number {
    this.throwIfFailed();
    return this.mirror.term(index);
  }

  firstIndex(): number {
    return this.mirror.firstIndex();
  }

  lastIndex(): number {
    return this.mirror.lastIndex();
  }

  snapshot(): Snapshot {
    this.throwIfFailed();
    return this.mirror.snapshot();
  }

  async persist(request: RaftPersistRequest): Promise<void> {
    this.throwIfUnusable('persist');
    if (request.entries.length > RAFT_STORAGE_PERSIST_ENTRIES_MAX) {
      throw new InvalidArgumentError(`cannot persist ${request.entries.length} entries at once: at most ${RAFT_STORAGE_PERSIST_ENTRIES_MAX}`);
    }
    const operations: MetastoreOperation[] = [];
    const snapshot = request.snapshot;
    if (snapshot !== undefined) this.checkNewSnapshot(snapshot.metadata.index, snapshot.data, { action: 'persist', sameIndexAllowed: true });
    const appended = this.planAppend(snapshot, request.entries);
    if (snapshot !== undefined) this.putSnapshot(operations, snapshot);
    for (const entry of appended.entries) operations.push({ type: 'put', key: entryKey(this.keyPrefix, entry.index), value: encodeEntry(entry) });
    if (snapshot !== undefined || appended.entries.length > 0) {
      operations.push({ type: 'put', key: storageKey(this.keyPrefix, KEY_LOG), value: encodeLastIndex(appended.lastIndex) });
    }
    if (request.hardState !== undefined) operations.push({ type: 'put', key: storageKey(this.keyPrefix, KEY_HARD_STATE), value: encodeHardState(request.hardState) });
    const oldFirst = this.mirror.firstIndex();
    const oldLast = this.mirror.lastIndex();
    if (snapshot !== undefined) this.mirror.applySnapshot(snapshot);
    this.mirror.append(request.entries);
    if (request.hardState !== undefined) this.mirror.setHardState(request.hardState);
    this.logSizeBytes = appended.logSizeBytes;
    // A persisted snapshot replaced the log: the compaction point is the snapshot's.
    if (snapshot !== undefined) this.putCompaction(operations);
    this.collectGarbage(operations, oldFirst, oldLast);
    if (operations.length > 0) await this.commit(operations, request.mustSync ? 'durable' : 'relaxed');
    // Nothing to write, but the caller may count on the earlier relaxed writes being durable now.
    else if (request.mustSync) await this.syncStore();
  }

  async createSnapshot(index: number, confState: ConfState, data: Uint8Array, options?: CreateSnapshotOptions): Promise<Snapshot> {
    this.throwIfUnusable('createSnapshot');
    this.checkNewSnapshot(index, data, { action: 'create', sameIndexAllowed: false });
    if (index > this.mirror.lastIndex()) {
      throw new InvalidArgumentError(`cannot create a snapshot at ${index}: the log ends at ${this.mirror.lastIndex()}`);
    }
    const compactIndex = resolveCompactIndex(index, options);
    const snapshot = this.mirror.createSnapshotSynchronously(index, confState, data);
    const operations: MetastoreOperation[] = [];
    this.putSnapshot(operations, snapshot);
    this.compactLog(operations, compactIndex);
    await this.commit(operations, 'relaxed');
    return snapshot;
  }

  async compact(compactIndex: number): Promise<void> {
    this.throwIfUnusable('compact');
    const snapshotIndex = this.mirror.snapshot().metadata.index;
    if (!Number.isSafeInteger(compactIndex) || compactIndex < 0 || compactIndex > snapshotIndex) {
      throw new InvalidArgumentError(`cannot compact the raft log up to ${compactIndex}: the snapshot only covers up to ${snapshotIndex}`);
    }
    if (compactIndex < this.mirror.firstIndex()) return;
    const operations: MetastoreOperation[] = [];
    this.compactLog(operations, compactIndex);
    await this.commit(operations, 'relaxed');
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pendingWrites]);
  }

  /** Entry bytes of the live log, for tests and metrics. */
  get logSizeBytesNow(): number {
    return this.logSizeBytes;
  }

  /** Entry keys left to delete, for tests. */
  get garbageEntryCount(): number {
    return this.garbage.count();
  }

  /** No hard state, no entries, no membership: nothing was ever persisted under the prefix. */
  private isEmpty(): boolean {
    const { hardState } = this.mirror.initialState();
    return hardState.term === 0 && hardState.vote === 0 && hardState.commit === 0 && this.mirror.lastIndex() === 0 && this.mirror.snapshot().metadata.confState.voters.length === 0;
  }

  private async bootstrap(bootstrap: { confState: ConfState; index: number; term: number }): Promise<void> {
    const { confState, index, term } = bootstrap;
    if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(term) || term < 0 || (index > 0 && term === 0)) {
      throw new InvalidArgumentError(`cannot bootstrap raft storage at index ${index}, term ${term}: expected non-negative integers, a positive term after index 0`);
    }
    await this.persist({
      snapshot: { metadata: { index, term, confState }, data: new Uint8Array(0) },
      entries: [],
      hardState: index > 0 ? { term, vote: 0, commit: index } : undefined,
      mustSync: true,
    });
  }

  /** A persisted snapshot may repeat the current index (a bootstrap snapshot at 0); a created one may not. */
  private checkNewSnapshot(index: number, data: Uint8Array, options: { action: string; sameIndexAllowed: boolean }): void {
    const { action } = options;
    const currentIndex = this.mirror.snapshot().metadata.index;
    if (!Number.isSafeInteger(index) || index < currentIndex || (index === currentIndex && !options.sameIndexAllowed)) {
      throw new InvalidArgumentError(`cannot ${action} a snapshot at ${index}: the current snapshot is already at ${currentIndex}`);
    }
    if (data.byteLength > RAFT_STORAGE_SNAPSHOT_BYTES_MAX) {
      throw new InvalidArgumentError(`cannot ${action} a snapshot of ${data.byteLength} bytes: at most ${RAFT_STORAGE_SNAPSHOT_BYTES_MAX}`);
    }
  }

  /**
   * What appending `entries` (after installing `snapshot`, if any) keeps and where the log ends, and
   * the log's new size; throws BusyError, before anything changes, when that size is over the bound.
   */
  private planAppend(snapshot: Snapshot | undefined, entries: readonly Entry[]): { entries: readonly Entry[]; lastIndex: number; logSizeBytes: number } {
    const firstIndex = snapshot === undefined ? this.mirror.firstIndex() : snapshot.metadata.index + 1;
    const lastIndex = snapshot === undefined ? this.mirror.lastIndex() : snapshot.metadata.index;
    let sizeBytes = snapshot === undefined ? this.logSizeBytes : 0;
    const lastNew = entries[entries.length - 1];
    if (lastNew === undefined || lastNew.index < firstIndex) return { entries: [], lastIndex, logSizeBytes: sizeBytes };
    const kept = entries[0]!.index < firstIndex ? entries.slice(firstIndex - entries[0]!.index) : entries;
    const start = kept[0]!.index;
    assert(start <= lastIndex + 1, `persist: entry ${start} would leave a gap after ${lastIndex}`);
    if (snapshot === undefined && start <= lastIndex) sizeBytes -= entriesSizeBytes(this.mirror.entries(start, lastIndex + 1, Infinity));
    sizeBytes += entriesSizeBytes(kept);
    if (sizeBytes > this.logSizeBytesMax) {
      throw new BusyError(`cannot persist: the raft log would hold ${sizeBytes} bytes, more than ${this.logSizeBytesMax}; create a snapshot to compact it first`);
    }
    return { entries: kept, lastIndex: lastNew.index, logSizeBytes: sizeBytes };
  }

  /**
   * Drops the entries up to `compactIndex` (at most the snapshot's index; nothing when already
   * compacted) from the mirror, and adds the compaction record and garbage deletes to `operations`.
   */
  private compactLog(operations: MetastoreOperation[], compactIndex: number): void {
    const oldFirst = this.mirror.firstIndex();
    const oldLast = this.mirror.lastIndex();
    if (compactIndex >= oldFirst) {
      this.logSizeBytes -= entriesSizeBytes(this.mirror.entries(oldFirst, compactIndex + 1, Infinity));
      this.mirror.compactSynchronously(compactIndex);
    }
    this.putCompaction(operations);
    this.collectGarbage(operations, oldFirst, oldLast);
  }

  /** The compaction point as it is in the mirror now. */
  private putCompaction(operations: MetastoreOperation[]): void {
    const index = this.mirror.firstIndex() - 1;
    operations.push({ type: 'put', key: storageKey(this.keyPrefix, KEY_COMPACTION), value: encodeCompaction({ index, term: this.mirror.term(index) }) });
  }

  private putSnapshot(operations: MetastoreOperation[], snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    const chunkCount = Math.ceil(snapshot.data.byteLength / RAFT_STORAGE_SNAPSHOT_CHUNK_BYTES);
    operations.push({
      type: 'put',
      key: storageKey(this.keyPrefix, KEY_SNAPSHOT),
      value: encodeSnapshotRecord({ metadata: snapshot.metadata, dataSizeBytes: snapshot.data.byteLength, chunkCount }),
    });
    for (let chunk = 0; chunk < chunkCount; chunk++) {
      const bytes = snapshot.data.subarray(chunk * RAFT_STORAGE_SNAPSHOT_CHUNK_BYTES, (chunk + 1) * RAFT_STORAGE_SNAPSHOT_CHUNK_BYTES);
      operations.push({ type: 'put', key: chunkKey(this.keyPrefix, chunk), value: encodeSnapshotChunk({ index, term }, chunk, bytes) });
    }
    for (let chunk = chunkCount; chunk < this.snapshotChunkCount; chunk++) operations.push({ type: 'delete', key: chunkKey(this.keyPrefix, chunk) });
    this.snapshotChunkCount = chunkCount;
  }

  /**
   * Records the entry keys the write made garbage (the old live log outside the new one) and adds
   * deletes for up to RAFT_STORAGE_GARBAGE_DELETES_PER_COMMIT_MAX of all garbage to `operations`.
   */
  private collectGarbage(operations: MetastoreOperation[], oldFirst: number, oldLast: number): void {
    const first = this.mirror.firstIndex();
    const last = this.mirror.lastIndex();
    this.garbage.add(oldFirst, oldLast);
    this.garbage.remove(first, last);
    for (const index of this.garbage.take(RAFT_STORAGE_GARBAGE_DELETES_PER_COMMIT_MAX)) {
      operations.push({ type: 'delete', key: entryKey(this.keyPrefix, index) });
    }
  }

  private async syncStore(): Promise<void> {
    await this.track(this.store.sync());
  }

  private async commit(operations: MetastoreOperation[], durability: KvDurability): Promise<void> {
    await this.track(this.store.commit(operations, [], { durability }));
  }

  /** Waits for a write of the store; a failure leaves this storage failed (see the class comment). */
  private async track(write: Promise<unknown>): Promise<void> {
    this.pendingWrites.add(write);
    try {
      await write;
    } catch (error) {
      this.failure ??= error;
      throw error;
    } finally {
      this.pendingWrites.delete(write);
    }
  }

  private throwIfUnusable(operation: string): void {
    if (this.closed) throw new ClosedError(`cannot ${operation}: the raft storage is closed`);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

interface LoadedState {
  mirror: MemoryRaftStorage;
  logSizeBytes: number;
  snapshotChunkCount: number;
  garbage: IndexRanges;
}

async function loadState(store: KvStore, prefix: Uint8Array): Promise<LoadedState> {
  const [hardStateEntry, logEntry, snapshotEntry, compactionEntry] = await store.getMany([
    storageKey(prefix, KEY_HARD_STATE),
    storageKey(prefix, KEY_LOG),
    storageKey(prefix, KEY_SNAPSHOT),
    storageKey(prefix, KEY_COMPACTION),
  ]);
  const hardState = hardStateEntry === undefined ? EMPTY_HARD_STATE : decodeHardState(hardStateEntry.value);
  const snapshotRecord = snapshotEntry === undefined ? undefined : decodeSnapshotRecord(snapshotEntry.value);
  const snapshot: Snapshot =
    snapshotRecord === undefined
      ? { metadata: { index: 0, term: 0, confState: EMPTY_CONF_STATE }, data: new Uint8Array(0) }
      : { metadata: snapshotRecord.metadata, data: await loadSnapshotData(store, prefix, snapshotRecord) };
  const snapshotIndex = snapshot.metadata.index;
  const compaction = compactionEntry === undefined ? { index: snapshotIndex, term: snapshot.metadata.term } : decodeCompaction(compactionEntry.value);
  if (compaction.index > snapshotIndex) throw new CorruptionError(`the raft log is compacted up to ${compaction.index}, beyond its snapshot at ${snapshotIndex}`);
  const lastIndex = logEntry === undefined ? snapshotIndex : decodeLastIndex(logEntry.value);
  if (lastIndex < snapshotIndex) throw new CorruptionError(`the raft log ends at ${lastIndex}, before its snapshot at ${snapshotIndex}`);
  const { entries, garbage } = await loadEntries(store, prefix, compaction.index, lastIndex);
  checkLog(compaction, snapshot, entries, hardState, lastIndex);
  const mirror = new MemoryRaftStorage({
    bootstrapIndex: compaction.index,
    bootstrapTerm: compaction.term,
    confState: snapshot.metadata.confState,
    hardState,
  });
  // A snapshot at the compaction point starts the log; one above it leaves the entries kept behind
  // it in the log (checkLog saw that the log has the snapshot's term at its index).
  if (compaction.index === snapshotIndex) mirror.applySnapshot(snapshot);
  mirror.append(entries);
  if (compaction.index < snapshotIndex) mirror.createSnapshotSynchronously(snapshotIndex, snapshot.metadata.confState, snapshot.data);
  return { mirror, logSizeBytes: entriesSizeBytes(entries), snapshotChunkCount: snapshotRecord?.chunkCount ?? 0, garbage };
}

async function loadSnapshotData(store: KvStore, prefix: Uint8Array, record: ReturnType<typeof decodeSnapshotRecord>): Promise<Uint8Array> {
  const { index, term } = record.metadata;
  const expectedChunks = Math.ceil(record.dataSizeBytes / RAFT_STORAGE_SNAPSHOT_CHUNK_BYTES);
  if (record.chunkCount !== expectedChunks || record.dataSizeBytes > RAFT_STORAGE_SNAPSHOT_BYTES_MAX) {
    throw new CorruptionError(`the raft snapshot at ${index} claims ${record.dataSizeBytes} bytes in ${record.chunkCount} chunks`);
  }
  const data = new Uint8Array(record.dataSizeBytes);
  const keys = Array.from({ length: record.chunkCount }, (_, chunk) => chunkKey(prefix, chunk));
  const stored = keys.length === 0 ? [] : await store.getMany(keys);
  stored.forEach((entry, chunk) => {
    if (entry === undefined) throw new CorruptionError(`chunk ${chunk} of the raft snapshot at ${index} is missing`);
    const bytes = decodeSnapshotChunk(entry.value, { index, term, chunk });
    const offset = chunk * RAFT_STORAGE_SNAPSHOT_CHUNK_BYTES;
    const expectedBytes = Math.min(RAFT_STORAGE_SNAPSHOT_CHUNK_BYTES, record.dataSizeBytes - offset);
    if (bytes.length !== expectedBytes) throw new CorruptionError(`chunk ${chunk} of the raft snapshot at ${index} has ${bytes.length} bytes, expected ${expectedBytes}`);
    data.set(bytes, offset);
  });
  return data;
}

/**
 * Scans every entry key once: decodes the live log (compactIndex, lastIndex], which must be all
 * there, and notes every other entry key as garbage without decoding it.
 */
async function loadEntries(store: KvStore, prefix: Uint8Array, compactIndex: number, lastIndex: number): Promise<{ entries: Entry[]; garbage: IndexRanges }> {
  const entries: Entry[] = [];
  const garbage = new IndexRanges();
  const scanPrefix = storageKey(prefix, KEY_ENTRY);
  let cursor: string | undefined;
  do {
    const page = await store.scan({ prefix: scanPrefix, limit: METASTORE_SCAN_LIMIT_MAX, ...(cursor === undefined ? {} : { cursor }) });
    for (const stored of page.entries) {
      const index = entryKeyIndex(prefix, stored.key);
      if (index <= compactIndex || index > lastIndex) {
        garbage.add(index, index);
        continue;
      }
      const expected = compactIndex + entries.length + 1;
      if (index !== expected) throw new CorruptionError(`the raft log is missing entry ${expected} (found ${index} next)`);
      entries.push(decodeEntry(stored.value, index));
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  if (entries.length !== lastIndex - compactIndex) {
    throw new CorruptionError(`the raft log should hold entries ${compactIndex + 1} to ${lastIndex}, but ends at ${compactIndex + entries.length}`);
  }
  return { entries, garbage };
}

/** What every persisted state satisfies; a stored state that does not is damaged. */
function checkLog(compaction: { index: number; term: number }, snapshot: Snapshot, entries: readonly Entry[], hardState: HardState, lastIndex: number): void {
  let previousTerm = compaction.term;
  for (const entry of entries) {
    if (entry.term < previousTerm) throw new CorruptionError(`raft log entry ${entry.index} has term ${entry.term}, below the term ${previousTerm} before it`);
    previousTerm = entry.term;
  }
  const { index, term } = snapshot.metadata;
  const termAtSnapshot = index === compaction.index ? compaction.term : entries[index - compaction.index - 1]?.term;
  if (termAtSnapshot !== term) throw new CorruptionError(`the raft snapshot at ${index} has term ${term}, but the log has term ${String(termAtSnapshot)} there`);
  if (hardState.commit > lastIndex) throw new CorruptionError(`the raft hard state commits ${hardState.commit}, beyond the last entry ${lastIndex}`);
}
