import { assert } from '../assert.ts';
import type {
  MetastoreEntry,
  MetastoreOperation,
  MetastorePrecondition,
  MetastoreScanOptions,
  MetastoreScanPage,
} from '../contracts/metastore.ts';
import {
  assertMetastoreBatch,
  assertMetastoreKey,
  assertMetastoreKeys,
  assertMetastoreValue,
  isEmptyMetastoreScan,
  resolveMetastoreScan,
} from '../contracts/metastore-validation.ts';
import type { StorageFile } from '../contracts/storage-file.ts';
import { BusyError, ClosedError, ConflictError, CorruptionError, InvalidArgumentError } from '../errors.ts';
import { type QueuedBatch, type QueuedWork, copyOperations, copyPreconditions, queuedBatch, queuedSync, takeGroup } from './commit-queue.ts';
import { CommitLog, type LoggedBatch, type ReadCommitLogs, logRecordBytes, readCommitLogs } from './commit-log.ts';
import {
  CACHE_PAGES_DEFAULT,
  CHECKPOINT_PAUSE_WORK_BYTES,
  COMMIT_LOGS_MAX,
  COMMIT_LOG_CHECKPOINT_BYTES,
  COMMIT_LOG_RECORD_BYTES_MAX,
  CACHE_PAGES_MIN,
  COMMIT_QUEUE_LENGTH_MAX,
  META_SLOT_COUNT,
  PAGE_BYTES,
  PREFETCH_READS_CONCURRENT_MAX,
  WRITE_BUFFER_BYTES_MAX,
  WRITE_BUFFER_ENTRY_OVERHEAD_BYTES,
} from './constants.ts';
import type {
  KvCommitOptions,
  KvDurability,
  KvSnapshot,
  KvStore,
  KvStoreOptions,
  KvStoreStats,
} from './kv-store-types.ts';
import { FreeSpace } from './free-space.ts';
import { type Meta, encodeMeta } from './meta.ts';
import type { PageReference } from './node.ts';
import { PageAllocator } from './page-allocator.ts';
import { pageOffsetBytes } from './page-format.ts';
import { PageStore } from './page-store.ts';
import { prefetchLeaves } from './prefetch.ts';
import { type LoadedFreelist, type RecoveredState, readCheckedFreelist, recoverState } from './recovery.ts';
import { NEEDS_FILE, readVersion } from './tree-read.ts';
import { writePages } from './write-coalescing.ts';
import { CheckpointPacer } from './checkpoint-pacer.ts';
import type { TreeChange } from './tree-merge.ts';
import { type FreelistChain, type PageWrite, WriteTransaction } from './write-transaction.ts';
import { applyBatches, bufferBatches, numberBatches, unconditional } from './commit-group.ts';
import { PinnedSnapshot, type PinnedState, type SnapshotHost } from './snapshot.ts';
import { readState, readStateCached, scanState } from './state-read.ts';
import { type FrozenEntries, WriteBuffer } from './write-buffer.ts';
import { ReplayedRun } from './replayed-run.ts';

/**
 * Opens the KV store kept in `file` (creating it when the file is empty), recovering the last
 * intact committed state. Reads only the meta slots and the pages of commits that may not have been
 * synced (see recovery.ts); everything else is read on demand through the page cache.
 */
export async function openKvStore(file: StorageFile, options: KvStoreOptions = {}): Promise<KvStore> {
  const cachePages = options.cachePages ?? CACHE_PAGES_DEFAULT;
  if (!Number.isSafeInteger(cachePages) || cachePages < CACHE_PAGES_MIN) {
    throw new InvalidArgumentError(`invalid cachePages ${String(cachePages)}: expected an integer of at least ${CACHE_PAGES_MIN}`);
  }
  const writeBufferBytes = options.writeBufferBytes ?? WRITE_BUFFER_BYTES_MAX;
  if (!Number.isSafeInteger(writeBufferBytes) || writeBufferBytes < 1) {
    throw new InvalidArgumentError(`invalid writeBufferBytes ${String(writeBufferBytes)}: expected a positive integer`);
  }
  const durability = options.durability ?? 'durable';
  assertDurability(durability);
  const scheduleGroup = options.scheduleGroup ?? inMicrotask;
  if (typeof scheduleGroup !== 'function') {
    throw new InvalidArgumentError(`invalid scheduleGroup: expected a function, got ${typeof scheduleGroup}`);
  }
  const checkpointPause = options.checkpointPause ?? inMicrotask;
  if (typeof checkpointPause !== 'function') {
    throw new InvalidArgumentError(`invalid checkpointPause: expected a function, got ${typeof checkpointPause}`);
  }
  const checkpointPauseWorkBytes = options.checkpointPauseWorkBytes ?? CHECKPOINT_PAUSE_WORK_BYTES;
  if (!Number.isSafeInteger(checkpointPauseWorkBytes) || checkpointPauseWorkBytes < 1) {
    throw new InvalidArgumentError(`invalid checkpointPauseWorkBytes ${String(checkpointPauseWorkBytes)}: expected a positive integer`);
  }
  const pages = new PageStore(file, cachePages);
  const recovered = await recoverState(pages);
  const engineOptions = { durability, cachePages, writeBufferBytes, scheduleGroup, checkpointPause: { schedule: checkpointPause, workBytes: checkpointPauseWorkBytes } };
  if (options.secondLog !== undefined && options.log === undefined) {
    throw new InvalidArgumentError('invalid secondLog: a second commit log needs a first (log)');
  }
  if (options.log === undefined) return new KvStoreEngine(pages, recovered, { ...engineOptions, logs: [] });
  const files = options.secondLog === undefined ? [options.log] : [options.log, options.secondLog];
  const logged = await readCommitLogs(files, recovered.meta.lastVersion);
  const logs: CommitLog[] = [];
  for (const file of files) logs.push(new CommitLog(file, { sizeBytes: await file.size() }));
  const engine = new KvStoreEngine(pages, { ...recovered, versionFloor: Math.max(recovered.versionFloor, logged.versionMax) }, { ...engineOptions, logs });
  await engine.replayLogs(logged);
  return engine;
}

/**
 * The committed state: the tree's last meta written, and where; the write buffer over it (empty
 * without a commit log), the frozen buffer a checkpoint in flight is merging into the tree (if
 * any), and the version of the last commit, which the buffers are read at.
 */
interface CommittedState extends PinnedState {
  slot: number;
}

/**
 * The engine behind KvStore.
 *
 * Readers work on a pinned committed state without locks: a pin keeps the writer from reusing the
 * pages that state can reach (see FreeSpace). A single commit loop is the only writer: it takes
 * every queued batch as one group and applies them, syncs once if any batch asked for durability,
 * and only then publishes the new state and resolves the batches.
 *
 * Without a commit log, a group is one WriteTransaction: its pages and meta page are written to
 * the tree. With one, a group goes into the write buffer (write-buffer.ts) and one log record; a
 * checkpoint merges the buffer into the tree in key order once it or the log is large enough, and
 * (one log) at close; with two, a close leaves the buffer's commits in the log for the next open to
 * read back (see replayLogs).
 *
 * With two logs a checkpoint runs beside the commit loop (LevelDB's immutable memtable): the loop
 * syncs the log it was writing, freezes that log and the write buffer, and goes on with a fresh
 * buffer and the other log, which the last checkpoint started over. Reads see the fresh buffer,
 * the frozen one, then the tree. The checkpoint merges the frozen buffer into the tree, syncs it,
 * publishes the tree without the frozen buffer and starts the frozen log over. One checkpoint at a
 * time: when the next one is due before it ends, the commit loop waits for it (back-pressure), so
 * at most two buffers are ever held. The tree has one writer at a time all the same: the
 * checkpoint in flight, or (with it awaited first) a close, replay or oversized group.
 */
class KvStoreEngine implements KvStore, SnapshotHost {
  readonly #pages: PageStore;
  readonly #defaultDurability: KvDurability;
  readonly #cachePages: number;
  #committed: CommittedState;
  /**
   * Free pages of the committed state, and the pages of its freelist chain (which the next write
   * transaction frees); undefined until the first write transaction reads them.
   */
  #freeSpace: FreeSpace | undefined;
  #freelistChain: FreelistChain = { head: undefined, pageIds: [], basePageCount: 0 };
  /** The txn of the last state known durable, and the meta slot holding it (never overwritten). */
  #durableTxn: number;
  #durableSlot: number;
  /** How many readers pin each txn's state. */
  readonly #pins = new Map<number, number>();
  readonly #queue: QueuedWork[] = [];
  #writerRunning = false;
  /** Set by a failed write or sync: the medium's state is unknown, so nothing more is done. */
  #failure: { error: unknown } | undefined;
  #closing: Promise<void> | undefined;
  #syncCount = 0;
  #writeTransactionCount = 0;
  /** Numbers a state rejected at open used; every commit numbers itself above them. */
  readonly #txnFloor: number;
  readonly #versionFloor: number;
  /**
   * The commit logs (none, one or two): durability comes from the active one, checkpoints sync the
   * tree. With two, the other is frozen while a checkpoint runs, and empty otherwise.
   */
  readonly #logs: readonly CommitLog[];
  #activeLogIndex = 0;
  /** The checkpoint running beside the commit loop (two logs only); it never rejects. */
  #checkpointInFlight: Promise<void> | undefined;
  /** The commits opening replayed, frozen with their log until the first commit group checkpoints them. */
  #replayed: { run: ReplayedRun; version: number; log: CommitLog } | undefined;
  /** With a log: a checkpoint once the write buffer holds this many bytes. */
  readonly #writeBufferBytes: number;
  readonly #scheduleGroup: (takeGroup: () => void) => void;
  /** How checkpoints pause (see CheckpointPacer): each makes a pacer of these. */
  readonly #checkpointPause: { schedule: (resume: () => void) => void; workBytes: number };
  /** The pacer of the checkpoint under way, told of every call on the store (see noteCall). */
  #checkpointPacer: CheckpointPacer | undefined;

  constructor(
    pages: PageStore,
    recovered: RecoveredState,
    options: {
      durability: KvDurability;
      cachePages: number;
      writeBufferBytes: number;
      scheduleGroup: (takeGroup: () => void) => void;
      checkpointPause: { schedule: (resume: () => void) => void; workBytes: number };
      logs: readonly CommitLog[];
    },
  ) {
    this.#pages = pages;
    assert(options.logs.length <= COMMIT_LOGS_MAX, `a store has at most ${COMMIT_LOGS_MAX} commit logs`);
    this.#logs = options.logs;
    this.#writeBufferBytes = options.writeBufferBytes;
    this.#scheduleGroup = options.scheduleGroup;
    this.#checkpointPause = options.checkpointPause;
    this.#defaultDurability = options.durability;
    this.#cachePages = options.cachePages;
    const version = recovered.meta.lastVersion;
    this.#committed = { meta: recovered.meta, slot: recovered.slot, buffer: new WriteBuffer(version), frozenBuffers: [], version };
    if (recovered.freelist !== undefined) this.#useFreelist(recovered.freelist);
    this.#durableTxn = recovered.meta.txn;
    this.#durableSlot = recovered.slot;
    this.#txnFloor = recovered.txnFloor;
    this.#versionFloor = recovered.versionFloor;
  }

  async get(key: Uint8Array): Promise<MetastoreEntry | undefined> {
    this.#assertUsable('get');
    assertMetastoreKey(key);
    const cached = readStateCached(this.#pages, this.#committed, key);
    if (cached !== NEEDS_FILE) return cached;
    return this.#withPinnedState((state) => readState(this.#pages, state, key));
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(MetastoreEntry | undefined)[]> {
    this.#assertUsable('getMany');
    assertMetastoreKeys(keys);
    return this.#withPinnedState((state) => this.#readMany(state, keys));
  }

  async scan(options: MetastoreScanOptions): Promise<MetastoreScanPage> {
    this.#assertUsable('scan');
    const scan = resolveMetastoreScan(options);
    if (isEmptyMetastoreScan(scan)) return { entries: [] };
    return this.#withPinnedState((state) => scanState(this.#pages, state, scan));
  }

  // The commit calls are not async functions: each hands back the writer's promise as it is, where
  // an async function would wrap it in one more promise and two more turns of the microtask queue
  // (a lone durable commit runs its code cold after sleeping through its sync, and each turn shows
  // there). Bad input and a closed store still reject rather than throw.

  put(key: Uint8Array, value: Uint8Array): Promise<number> {
    try {
      this.#assertUsable('put');
      assertMetastoreKey(key);
      assertMetastoreValue(value, key);
      return this.#enqueueBatch([{ type: 'put', key, value }], [], this.#defaultDurability);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  delete(key: Uint8Array): Promise<number> {
    try {
      this.#assertUsable('delete');
      assertMetastoreKey(key);
      return this.#enqueueBatch([{ type: 'delete', key }], [], this.#defaultDurability);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  batch(operations: readonly MetastoreOperation[], preconditions: readonly MetastorePrecondition[] = []): Promise<number> {
    return this.commit(operations, preconditions, { durability: this.#defaultDurability });
  }

  commit(
    operations: readonly MetastoreOperation[],
    preconditions: readonly MetastorePrecondition[] = [],
    options: KvCommitOptions = { durability: this.#defaultDurability },
  ): Promise<number> {
    try {
      this.#assertUsable('commit');
      assertMetastoreBatch(operations, preconditions);
      if (typeof options !== 'object' || options === null) {
        throw new InvalidArgumentError(`invalid commit options: expected an object, got ${String(options)}`);
      }
      assertDurability(options.durability);
      return this.#enqueueBatch(operations, preconditions, options.durability);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  snapshot(): KvSnapshot {
    this.#assertUsable('snapshot');
    return new PinnedSnapshot(this, this.#pin());
  }

  async sync(): Promise<void> {
    this.#assertUsable('sync');
    await this.#enqueueSync();
  }

  async stats(): Promise<KvStoreStats> {
    this.#assertUsable('stats');
    return {
      fileSizeBytes: await this.#pages.file.size(),
      pageCount: this.#committed.meta.pageCount,
      freePageCount: this.#committed.meta.freelistEntryCount,
      cacheHits: this.#pages.cache.hits,
      cacheMisses: this.#pages.cache.misses,
      cachedPages: this.#pages.cache.size,
      syncCount: this.#syncCount,
      writeTransactionCount: this.#writeTransactionCount,
      lastVersion: this.#committed.version,
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#closeOnce();
    return this.#closing;
  }

  async #closeOnce(): Promise<void> {
    try {
      if (this.#failure === undefined) {
        await this.#enqueueSync();
        await this.#checkpointInFlight;
        // A checkpoint in flight may have failed meanwhile: then the store is failed, as after a write.
        if ((this.#failure as { error: unknown } | undefined) !== undefined) return;
        if (this.#logs.length === 1) {
          await this.#checkpoint();
          // The tree holds everything: the next open finds an empty log, and has none to empty and sync.
          await this.#logs[0]!.discard({ sync: false });
        }
        // Two logs: the commits since the last checkpoint stay in the active one, synced above, and
        // the next open reads them back into its write buffer (see replayLogs). Closing costs a sync,
        // not a merge of the buffer into the tree, as LevelDB leaves its memtable in its log.
        await this.#markClean();
      }
    } catch {
      // A failed final sync leaves the store failed; closing still releases the file.
    } finally {
      // Not under a checkpoint's writes (it never rejects).
      await this.#checkpointInFlight;
      await this.#pages.file.close();
      for (const log of this.#logs) await log.file.close();
      this.#releaseMemory();
    }
  }

  /**
   * Lets go of what the closed store held in memory, since its caller may keep the object: the
   * page cache (up to `cachePages` decoded pages), the write buffers and the commits opening
   * replayed. Nothing reads them again: every call on a closed store throws ClosedError. Measured:
   * a closed store of 100,000 keys, read through once, held 26.5 MiB until its object was dropped.
   */
  #releaseMemory(): void {
    this.#pages.cache.clear();
    const { meta, slot, version } = this.#committed;
    this.#committed = { meta, slot, buffer: new WriteBuffer(version), frozenBuffers: [], version };
    this.#replayed = undefined;
    this.#freeSpace = undefined;
  }

  /**
   * Takes the batches of the commit logs that the recovered tree lacks (see readCommitLogs) at the
   * versions they were logged with, as a ReplayedRun: the log's records, indexed by key.
   *
   * With two logs, when one log alone gave them and nothing above them was seen (the state a clean
   * close leaves: see #closeOnce), the run is a frozen buffer with its log, as a checkpoint freezes
   * them, and the commits to come go to the other log, which the first commit group empties before
   * it starts the run's checkpoint, which then empties the run's log (see #checkpointReplayed). Opening
   * costs reading the log and sorting its entries, not merging them into the tree. A log is never
   * written again after the batches replay read from it, so a whole record a crash left past where
   * replay stopped is never read as following new ones: the frozen log is emptied, not started over.
   *
   * Otherwise (one log; batches in both, a crash during a checkpoint; or versions seen above them,
   * which the tree must record as the version floor) the run is merged into the tree now, which
   * then also records the version floor (a rejected state's, or one a whole record in the logs
   * held, see commit-log.ts): later replays continue from it, new commits number themselves above
   * it. Then both logs are emptied, synced, before any commit: a whole record left past where replay
   * stopped would otherwise wait there for new records to reach it. A crash before that finds the
   * logs as they were, and the tree with at most what they give again.
   */
  async replayLogs(logged: ReadCommitLogs): Promise<void> {
    assert(this.#logs.length > 0, 'only a store with a commit log replays one');
    const { batches, replayedLogs } = logged;
    const run = ReplayedRun.fromBatches(batches);
    const version = Math.max(this.#committed.version, batches.at(-1)?.version ?? 0, this.#versionFloor);
    // New commits go to a buffer above every replayed version.
    this.#committed = { ...this.#committed, buffer: new WriteBuffer(version), version };
    if (this.#logs.length === COMMIT_LOGS_MAX && replayedLogs.length === 1 && version === batches.at(-1)!.version) {
      const replayedIndex = replayedLogs[0]!;
      this.#activeLogIndex = 1 - replayedIndex;
      this.#committed = { ...this.#committed, frozenBuffers: [run] };
      this.#replayed = { run, version, log: this.#logs[replayedIndex]! };
      return;
    }
    if (version > this.#committed.meta.lastVersion) await this.#mergeBuffer(run, version);
    for (const log of this.#logs) await log.discard({ sync: true });
  }

  /**
   * Before the first commit group after a replay that froze its run (see replayLogs): empties the
   * other log, synced, so that no record a crash left in it can follow the new ones; then starts
   * the run's checkpoint, before any other tree writer, whose changes are newer. The checkpoint
   * empties the run's log once the tree holds it. Here rather than at open: a store opened only to
   * be read writes nothing. The caller asks whether there is a run first: most groups come after
   * it, and an async call costs each a turn.
   */
  async #checkpointReplayed(): Promise<void> {
    const replayed = this.#replayed;
    assert(replayed !== undefined, 'a replayed run is checkpointed only when there is one');
    this.#replayed = undefined;
    assert(this.#checkpointInFlight === undefined, 'the replayed run is checkpointed first');
    await this.#logs[this.#activeLogIndex]!.discard({ sync: true });
    this.#checkpointInFlight = this.#checkpointFrozen(replayed.run, replayed.version, () => replayed.log.discard({ sync: true }));
  }

  /**
   * Makes everything committed durable in the tree and starts the commit logs over: merges the
   * write buffer into the tree (written and synced), then restarts the logs, whose records the tree
   * now has. Not beside a checkpoint in flight (the caller awaited it).
   */
  async #checkpoint(): Promise<void> {
    assert(this.#logs.length > 0, 'only a store with a commit log checkpoints');
    assert(this.#checkpointInFlight === undefined && this.#committed.frozenBuffers.length === 0, 'one checkpoint at a time');
    // By version, not by entries: a commit of no operations still took a version the tree must keep.
    if (this.#committed.version > this.#committed.meta.lastVersion) await this.#mergeBuffer(this.#committed.buffer, this.#committed.version);
    for (const log of this.#logs) await log.restart();
    this.#activeLogIndex = 0;
  }

  /**
   * Starts the checkpoint `#checkpointDue` calls for (the write buffer or the active log is large
   * enough): with two logs beside the commit loop (after waiting for the one in flight), with one in it.
   */
  async #startCheckpoint(): Promise<void> {
    if (this.#logs.length === 1) return this.#checkpoint();
    // Back-pressure: the buffer filled again before the last checkpoint ended.
    await this.#checkpointInFlight;
    if (this.#failure !== undefined) return;
    const frozenLog = this.#logs[this.#activeLogIndex]!;
    // The other log's records must never be on the medium without the commits before them.
    if (frozenLog.unsynced) await frozenLog.sync();
    const base = this.#committed;
    assert(base.frozenBuffers.length === 0, 'one checkpoint at a time');
    assert(this.#logs[1 - this.#activeLogIndex]!.tailBytes === 0, 'the log a checkpoint freezes the other for is empty');
    this.#activeLogIndex = 1 - this.#activeLogIndex;
    this.#committed = { ...base, buffer: new WriteBuffer(base.version), frozenBuffers: [base.buffer] };
    this.#checkpointInFlight = this.#checkpointFrozen(base.buffer, base.version, () => frozenLog.restart());
  }

  #checkpointDue(): boolean {
    return this.#committed.buffer.sizeBytes > this.#writeBufferBytes || this.#logs[this.#activeLogIndex]!.tailBytes > COMMIT_LOG_CHECKPOINT_BYTES;
  }

  /** Merges a frozen buffer into the tree beside the commit loop, then starts its log over. */
  async #checkpointFrozen(frozen: FrozenEntries, version: number, startLogOver: () => Promise<void>): Promise<void> {
    try {
      if (version > this.#committed.meta.lastVersion) await this.#mergeBuffer(frozen, version);
      else this.#committed = { ...this.#committed, frozenBuffers: [] };
      await startLogOver();
    } catch (error) {
      // Whatever the tree file now holds, the logs still hold every commit; a reopen recovers them.
      this.#failure ??= { error };
    } finally {
      this.#checkpointInFlight = undefined;
    }
  }

  /**
   * One write transaction that merges the write buffer's newest entries into the tree in one pass
   * in key order (see tree-merge.ts), so each leaf the buffer reaches is rewritten once however
   * many commits changed it, and no other is; the tree is written and synced,
   * and the new state, with a new empty buffer, published. The old buffer is left as it is for
   * readers that pinned it. `version`: the last version the buffer holds (a group too large to
   * log is merged before it is published).
   *
   * It pauses after each budget of work (CheckpointPacer), while it collects the changes, merges,
   * writes and decodes leaves for the cache: commits go on into the fresh buffer meanwhile, readers
   * read the state published before it, and a close waits for it. Nothing it holds changes across a
   * pause: the buffer is frozen (or, for a group too large to log, the commit loop is here), the
   * tree has no other writer, and the pages of the tree it started from are not reused before the
   * transaction is published (see #reuseThroughTxn).
   */
  async #mergeBuffer(buffer: FrozenEntries, version: number): Promise<void> {
    // The fresh buffer's fill, when commits go on beside this merge.
    const pressure = (): number => (this.#committed.buffer === buffer ? 0 : this.#committed.buffer.sizeBytes / this.#writeBufferBytes);
    const pacer = new CheckpointPacer({ ...this.#checkpointPause, pressure, hurry: () => this.#closing !== undefined });
    this.#checkpointPacer = pacer;
    try {
      await this.#mergeBufferPaced(buffer, version, pacer);
    } finally {
      this.#checkpointPacer = undefined;
    }
  }

  /** #mergeBuffer with its pacer, which every call on the store is told of meanwhile. */
  async #mergeBufferPaced(buffer: FrozenEntries, version: number, pacer: CheckpointPacer): Promise<void> {
    const { transaction, allocator } = await this.#beginTreeTransaction();
    const layoutChanges = buffer.layoutChanges;
    try {
      const changes = await bufferedChanges(buffer, pacer);
      await transaction.merge(changes, { readsConcurrentMax: PREFETCH_READS_CONCURRENT_MAX, pacer, keyPrefixes: buffer.keyPrefixes() });
    } catch (error) {
      allocator.abandon();
      throw error;
    }
    assert(buffer.layoutChanges === layoutChanges, 'the write buffer did not change while it was merged');
    const slot = (this.#durableSlot + 1) % META_SLOT_COUNT;
    const finished = transaction.finish({ freelistChain: this.#freelistChain, lastVersion: version, durableTxn: this.#durableTxn });
    const written = { meta: finished.meta, slot };
    await this.#writeTree(finished.writes, written, pacer);
    await this.#syncFile(written);
    // Commits went on beside a frozen buffer's merge: the state published is theirs, over the new tree.
    const current = this.#committed;
    const committed: CommittedState =
      current.buffer === buffer
        ? { ...written, buffer: new WriteBuffer(version), frozenBuffers: [], version }
        : { ...written, buffer: current.buffer, frozenBuffers: current.frozenBuffers.filter((frozen) => frozen !== buffer), version: current.version };
    this.#publishTree({ transaction, allocator, committed, freelistChain: finished.freelistChain });
    await this.#cacheMergedLeaves(transaction, pacer);
  }

  /**
   * Decodes the last leaves a merge wrote (up to the cache's size) into the page cache, pausing
   * as the merge did: readers after a checkpoint find them as they find the ones a commit wrote.
   * After the transaction is published (a reader meanwhile may read and cache one itself), and
   * before the next tree writer starts (the checkpoint is not over). Not once the store closes.
   */
  async #cacheMergedLeaves(transaction: WriteTransaction, pacer: CheckpointPacer): Promise<void> {
    for (const leaf of transaction.mergedLeaves(this.#cachePages)) {
      if (this.#closing !== undefined) return;
      this.#pages.cache.set(leaf);
      if (pacer.spend(PAGE_BYTES)) await pacer.pause();
    }
  }

  /**
   * After the final sync, copies the durable meta into the other slot, recording that all of its
   * pages are synced: the next open then verifies nothing and reads only the meta slots and the
   * freelist. Not synced, and need not be: until it reaches the medium the other slot only costs
   * the next open that verification, and the synced slot is not touched.
   */
  async #markClean(): Promise<void> {
    const { meta, slot } = this.#committed;
    if (meta.txn !== this.#durableTxn || meta.durableTxnAtWrite === meta.txn) return;
    const otherSlot = (slot + 1) % META_SLOT_COUNT;
    await this.#pages.file.write(pageOffsetBytes(otherSlot), encodeMeta(otherSlot, { ...meta, durableTxnAtWrite: meta.txn }));
  }

  // ---- reads on pinned states (also used by PinnedSnapshot) ----

  /** @internal */
  assertReadable(operation: string): void {
    if (this.#closing !== undefined) throw new ClosedError(`cannot ${operation}: the KV store is closed`);
    this.#checkpointPacer?.noteCall();
  }

  /** @internal */
  pages(): PageStore {
    return this.#pages;
  }

  /** @internal */
  unpin(state: PinnedState): void {
    const txn = state.meta.txn;
    const count = this.#pins.get(txn);
    assert(count !== undefined && count > 0, `unpinning txn ${txn}, which nothing pins`);
    if (count === 1) this.#pins.delete(txn);
    else this.#pins.set(txn, count - 1);
  }

  async #readMany(state: CommittedState, keys: readonly Uint8Array[]): Promise<(MetastoreEntry | undefined)[]> {
    const entries: (MetastoreEntry | undefined)[] = [];
    for (const key of keys) {
      const cached = readStateCached(this.#pages, state, key);
      entries.push(cached === NEEDS_FILE ? await readState(this.#pages, state, key) : cached);
    }
    return entries;
  }

  #pin(): CommittedState {
    const state = this.#committed;
    this.#pins.set(state.meta.txn, (this.#pins.get(state.meta.txn) ?? 0) + 1);
    return state;
  }

  async #withPinnedState<T>(read: (state: CommittedState) => Promise<T>): Promise<T> {
    const state = this.#pin();
    try {
      return await read(state);
    } finally {
      this.unpin(state);
    }
  }

  /** Pages freed by this txn or earlier can be overwritten: durable, and seen by no pinned reader. */
  #reuseThroughTxn(): number {
    return this.#oldestPinnedTxn(this.#durableTxn);
  }

  /** The oldest txn a reader pins, or `bound` when none pins an older one. */
  #oldestPinnedTxn(bound: number): number {
    let oldest = bound;
    for (const txn of this.#pins.keys()) oldest = Math.min(oldest, txn);
    return oldest;
  }

  // ---- the commit loop ----

  #enqueueBatch(
    operations: readonly MetastoreOperation[],
    preconditions: readonly MetastorePrecondition[],
    durability: KvDurability,
  ): Promise<number> {
    this.#assertQueueRoom();
    // Copied now: the caller may reuse its buffers as soon as the call returns.
    const copiedOperations = copyOperations(operations);
    const copiedPreconditions = copyPreconditions(preconditions);
    return new Promise<number>((resolve, reject) => {
      this.#queue.push(queuedBatch(copiedOperations, copiedPreconditions, durability, resolve, reject));
      this.#startWriter();
    });
  }

  #enqueueSync(): Promise<void> {
    this.#assertQueueRoom();
    return new Promise<void>((resolve, reject) => {
      this.#queue.push(queuedSync(resolve, reject));
      this.#startWriter();
    });
  }

  #assertQueueRoom(): void {
    if (this.#queue.length >= COMMIT_QUEUE_LENGTH_MAX) {
      throw new BusyError(`cannot queue a commit: ${COMMIT_QUEUE_LENGTH_MAX} commits are already waiting for the writer`);
    }
  }

  #startWriter(): void {
    if (this.#writerRunning) return;
    this.#writerRunning = true;
    void this.#runWriter();
  }

  async #runWriter(): Promise<void> {
    try {
      // Started by a call: the commits queued in the same synchronous run join the first group.
      await Promise.resolve();
      while (this.#queue.length > 0) {
        const group = takeGroup(this.#queue);
        if (this.#failure !== undefined) {
          for (const item of group) item.reject(this.#failure.error);
          continue;
        }
        try {
          await this.#commitGroup(group);
          // Several callers just heard back; those that commit again join the next group (see
          // KvStoreOptions.scheduleGroup). A lone caller goes on at once, so it waits for nothing.
          if (group.length > 1) await new Promise<void>((resolve) => this.#scheduleGroup(resolve));
        } catch (error) {
          // A broken invariant inside the writer (an assertion, or a scheduleGroup that threw): its
          // state cannot be trusted, so the store fails like after an I/O error, and every waiting
          // caller hears of it.
          this.#failGroup(group, error);
        }
      }
    } finally {
      this.#writerRunning = false;
    }
  }

  /** Not async itself, for the same reason as `commit`: it hands back the promise of the path it takes. */
  #commitGroup(group: QueuedWork[]): Promise<void> {
    const { batches, durable } = splitGroup(group);
    if (batches.length === 0) return this.#syncGroup(group);
    if (this.#logs.length > 0) return this.#commitGroupToBuffer({ group, batches, durable });
    return this.#commitGroupToTree({ group, batches, durable });
  }

  /** A group on a store without a commit log: one write transaction on the tree, synced when durable. */
  async #commitGroupToTree(work: { group: QueuedWork[]; batches: QueuedBatch[]; durable: boolean }): Promise<void> {
    const { group, batches, durable } = work;
    const base = this.#committed;
    let tree: { transaction: WriteTransaction; allocator: PageAllocator };
    try {
      tree = await this.#beginTreeTransaction();
    } catch (error) {
      for (const item of group) item.reject(error);
      return;
    }
    let outcomes: Map<QueuedBatch, number | ConflictError>;
    try {
      outcomes = await applyBatches(tree.transaction, batches, {
        lastVersion: Math.max(base.version, this.#versionFloor),
        prefetch: this.#prefetchIn(base.meta.root),
        prefetchWindowKeys: this.#prefetchWindowKeys(),
        operationsRead: true,
      });
    } catch (error) {
      // Only reads failed (nothing is written before every batch is applied): the store stays usable.
      tree.allocator.abandon();
      for (const item of group) item.reject(error);
      return;
    }
    try {
      await this.#writeGroup(tree, outcomes, durable);
    } catch (error) {
      this.#failGroup(group, error);
      return;
    }
    settle(group, outcomes);
  }

  /**
   * A group on a store with a commit log: its batches go into the write buffer (preconditions read
   * the buffer, then the tree), one record of them into the log, synced when any is durable; then
   * the new version is published and the batches resolved. A checkpoint follows when due.
   */
  async #commitGroupToBuffer(work: { group: QueuedWork[]; batches: QueuedBatch[]; durable: boolean }): Promise<void> {
    const { group, batches, durable } = work;
    if (this.#replayed !== undefined) {
      try {
        await this.#checkpointReplayed();
      } catch (error) {
        // The other log's state is unknown: nothing more is written.
        this.#failGroup(group, error);
        return;
      }
    }
    // Preconditions read the buffer, so a conditional group is applied to it first; one without
    // any is numbered now and buffered by #logGroup once its record is written.
    const buffered = !unconditional(batches);
    const outcomes = buffered
      ? await this.#applyConditionalBatches(group, batches)
      : numberBatches(batches, Math.max(this.#committed.version, this.#versionFloor));
    if (outcomes === undefined) return;
    const logged: LoggedBatch[] = [];
    for (const [batch, outcome] of outcomes) {
      if (typeof outcome === 'number') logged.push({ version: outcome, operations: batch.operations });
    }
    try {
      if (logged.length > 0) await this.#logGroup(logged, durable, buffered);
      else if (durable) await this.#syncCommitted();
    } catch (error) {
      this.#failGroup(group, error);
      return;
    }
    settle(group, outcomes);
    // Checked here, not in #startCheckpoint: most groups start none, and an async call costs them a turn.
    if (!this.#checkpointDue()) return;
    try {
      await this.#startCheckpoint();
    } catch (error) {
      // The group is durable in the log already; the store cannot go on without its tree.
      this.#failure ??= { error };
    }
  }

  /** Applies a group with preconditions to the write buffer; undefined when its reads failed (the group was rejected). */
  async #applyConditionalBatches(group: QueuedWork[], batches: QueuedBatch[]): Promise<Map<QueuedBatch, number | ConflictError> | undefined> {
    // Pinned: a checkpoint in flight may publish a new tree while the preconditions read this one.
    const base = this.#pin();
    const buffer = base.buffer;
    try {
      return await applyBatches(buffer.batchTarget(this.#versionBelowBuffer(base)), batches, {
        lastVersion: Math.max(base.version, this.#versionFloor),
        prefetch: this.#prefetchIn(base.meta.root),
        prefetchWindowKeys: this.#prefetchWindowKeys(),
        operationsRead: false,
      });
    } catch (error) {
      // Only reads of preconditions failed: the group's entries leave the buffer, the store stays usable.
      buffer.discardUnpublished();
      for (const item of group) item.reject(error);
      return undefined;
    } finally {
      this.unpin(base);
    }
  }

  /** The version of a key below a state's live buffer: in its frozen buffers, else in its tree. */
  #versionBelowBuffer(state: CommittedState): (key: Uint8Array) => Promise<number | null> {
    return async (key) => {
      for (const frozen of state.frozenBuffers) {
        const entry = frozen.lookup(key, state.version);
        if (entry !== undefined) return entry.value === null ? null : entry.version;
      }
      return readVersion(this.#pages, state.meta.root, key);
    };
  }

  /**
   * Makes the group durable and publishes it: one log record, synced when `durable`; a record too
   * large to log is made durable by a checkpoint instead, which merges it into the tree. `buffered`:
   * whether the group is in the write buffer already; if not, it goes there while the log syncs.
   *
   * Why then: a commit's time is its sync and the JavaScript from one sync's end to the next one's
   * start. Putting the group into the buffer after the sync has started takes that work off the
   * path: the disk and the buffer work at once, and nothing reads the new entries before `publish`.
   * Measured in 8 alternating pairs of runs, before and after: 5,000 commits from 64 committers
   * took 73-91 ms where they took 91-111 (7 pairs of 8 faster), 100 transactions of 1,000 inserts
   * 257-390 ms where 298-409 (6 of 8); a lone commit's one insert made no difference measurable.
   */
  async #logGroup(logged: LoggedBatch[], durable: boolean, buffered: boolean): Promise<void> {
    const version = logged.at(-1)!.version;
    const log = this.#logs[this.#activeLogIndex]!;
    const recordBytes = logRecordBytes(logged);
    if (recordBytes > COMMIT_LOG_RECORD_BYTES_MAX) {
      if (!buffered) bufferBatches(this.#committed.buffer, logged);
      // The tree takes it directly: after the checkpoint in flight, whose frozen buffer is older.
      await this.#checkpointInFlight;
      if (this.#failure !== undefined) throw this.#failure.error;
      await this.#mergeBuffer(this.#committed.buffer, version);
      await log.restart();
      return;
    }
    await log.appendRecord(logged, recordBytes);
    const syncing = durable ? log.sync() : undefined;
    if (!buffered) {
      try {
        bufferBatches(this.#committed.buffer, logged);
      } catch (error) {
        // The store fails on the error thrown (#commitGroupToBuffer's catch); the sync's own outcome is moot.
        syncing?.catch(() => undefined);
        throw error;
      }
    }
    if (syncing !== undefined) await syncing;
    this.#committed.buffer.publish(version);
    // Field by field, not `{ ...state, version }`: V8 copies a spread object on a slow path
    // (CloneObjectIC_Slow), which cost a lone durable commit 4-8 us of its JavaScript between two
    // syncs (measured: 31-34 us against 36-39 in 4 alternating pairs of 2,000 commits).
    const { meta, slot, buffer, frozenBuffers } = this.#committed;
    this.#committed = { meta, slot, buffer, frozenBuffers, version };
  }

  /**
   * Reads ahead the leaves of the tree at `root` that keys lead to, for a commit group. Returned
   * from here rather than written inline in an options object: tsx names every such arrow with a
   * defineProperty, once per group.
   */
  #prefetchIn(root: PageReference | undefined): (keys: readonly Uint8Array[]) => Promise<void> {
    return (keys) => prefetchLeaves(this.#pages, root, keys, PREFETCH_READS_CONCURRENT_MAX);
  }

  /** A quarter of the cache: the window's pages stay cached while the window is applied. */
  #prefetchWindowKeys(): number {
    return Math.max(1, Math.floor(this.#cachePages / 4));
  }

  /** A write transaction on the committed tree, its new pages from the free space. */
  async #beginTreeTransaction(): Promise<{ transaction: WriteTransaction; allocator: PageAllocator }> {
    const base = this.#committed;
    const freeSpace = this.#freeSpace ?? (await this.#loadFreelist());
    freeSpace.promote(this.#reuseThroughTxn());
    const txn = Math.max(base.meta.txn, this.#txnFloor) + 1;
    const allocator = new PageAllocator({ txn, pageCount: base.meta.pageCount, space: freeSpace });
    return { transaction: new WriteTransaction({ txn, pages: this.#pages, allocator, root: base.meta.root }), allocator };
  }

  /** Publishes a written tree transaction: its nodes into the cache, its state, its frees. */
  #publishTree(written: { transaction: WriteTransaction; allocator: PageAllocator; committed: CommittedState; freelistChain: FreelistChain }): void {
    // A merge's leaves have no nodes: the merge decodes the last ones for the cache afterwards.
    for (const node of written.transaction.dirtyNodes) this.#pages.cache.set(node);
    this.#committed = written.committed;
    this.#freelistChain = written.freelistChain;
    written.allocator.commit();
    this.#writeTransactionCount++;
  }

  /**
   * The store fails with `error` (an I/O error, or a broken invariant of the writer: its state can
   * no longer be trusted), and every caller of `group` hears of it; later calls reject with it too.
   */
  #failGroup(group: readonly QueuedWork[], error: unknown): void {
    this.#failure = { error };
    for (const item of group) item.reject(error);
  }

  /** A group of sync requests alone: one sync when something committed is not yet durable. */
  async #syncGroup(group: readonly QueuedWork[]): Promise<void> {
    try {
      await this.#syncCommitted();
    } catch (error) {
      this.#failGroup(group, error);
      return;
    }
    for (const item of group) {
      assert(item.kind === 'sync', 'a group without batches holds sync requests only');
      item.resolve();
    }
  }

  /** Writes the transaction (when any batch committed) and syncs when asked; then publishes. */
  async #writeGroup(
    tree: { transaction: WriteTransaction; allocator: PageAllocator },
    outcomes: Map<QueuedBatch, number | ConflictError>,
    durable: boolean,
  ): Promise<void> {
    const { transaction, allocator } = tree;
    const versions = [...outcomes.values()].filter((outcome): outcome is number => typeof outcome === 'number');
    if (versions.length === 0) {
      allocator.abandon();
      if (durable) await this.#syncCommitted();
      return;
    }
    const slot = (this.#durableSlot + 1) % META_SLOT_COUNT;
    const version = Math.max(...versions);
    const finished = transaction.finish({ freelistChain: this.#freelistChain, lastVersion: version, durableTxn: this.#durableTxn });
    const committed: CommittedState = { meta: finished.meta, slot, buffer: this.#committed.buffer, frozenBuffers: this.#committed.frozenBuffers, version };
    await this.#writeTree(finished.writes, committed);
    if (durable) await this.#syncFile(committed);
    this.#publishTree({ transaction, allocator, committed, freelistChain: finished.freelistChain });
  }

  /** Writes a commit's pages and its meta page into its slot (not synced); a checkpoint's with its pacer. */
  async #writeTree(pageWrites: readonly PageWrite[], state: { meta: Meta; slot: number }, pacer?: CheckpointPacer): Promise<void> {
    const file = this.#pages.file;
    await writePages(file, pageWrites, pacer);
    await file.write(pageOffsetBytes(state.slot), encodeMeta(state.slot, state.meta));
  }

  /** Makes every published commit durable: syncs the log, or the tree without one, when needed. */
  async #syncCommitted(): Promise<void> {
    if (this.#logs.length > 0) {
      // A frozen log was synced when it was frozen.
      const log = this.#logs[this.#activeLogIndex]!;
      if (log.unsynced) await log.sync();
    } else if (this.#committed.meta.txn > this.#durableTxn) {
      await this.#syncFile(this.#committed);
    }
  }

  /** Reads the committed freelist, which opening left unread (its pages were synced). */
  async #loadFreelist(): Promise<FreeSpace> {
    assert(this.#durableTxn === this.#committed.meta.txn, 'the freelist is read before the first commit after open');
    this.#useFreelist(await readCheckedFreelist(this.#pages, this.#committed.meta));
    return this.#freeSpace!;
  }

  #useFreelist(freelist: LoadedFreelist): void {
    this.#freeSpace = FreeSpace.fromFreelist(freelist.entries, this.#committed.meta.txn);
    this.#freelistChain = { head: this.#committed.meta.freelist, pageIds: freelist.pageIds, basePageCount: freelist.basePageCount };
  }

  async #syncFile(state: { meta: Meta; slot: number }): Promise<void> {
    await this.#pages.file.sync();
    this.#syncCount++;
    this.#durableTxn = state.meta.txn;
    this.#durableSlot = state.slot;
  }

  #assertUsable(operation: string): void {
    if (this.#closing !== undefined) throw new ClosedError(`cannot ${operation}: the KV store is closed`);
    if (this.#failure !== undefined) throw this.#failure.error;
    // Every call: a loop of calls that never lets the runtime turn shares its turn with a paused checkpoint.
    this.#checkpointPacer?.noteCall();
  }
}

/** The batches of a group, and whether any of its items asks for durability. */
function splitGroup(group: readonly QueuedWork[]): { batches: QueuedBatch[]; durable: boolean } {
  const batches: QueuedBatch[] = [];
  let durable = false;
  for (const item of group) {
    if (item.kind === 'sync') {
      durable = true;
      continue;
    }
    batches.push(item);
    if (item.durability === 'durable') durable = true;
  }
  return { batches, durable };
}

/** Resolves each batch of a written group with its version, or rejects it with its conflict. */
function settle(group: readonly QueuedWork[], outcomes: Map<QueuedBatch, number | ConflictError>): void {
  for (const item of group) {
    if (item.kind === 'sync') {
      item.resolve();
      continue;
    }
    const outcome = outcomes.get(item)!;
    if (outcome instanceof ConflictError) item.reject(outcome);
    else item.resolve(outcome);
  }
}

/** The changes a checkpoint merges: the buffer's newest entries, in key order, collected with pauses. */
async function bufferedChanges(buffer: FrozenEntries, pacer: CheckpointPacer): Promise<TreeChange[]> {
  const changes: TreeChange[] = [];
  for (const entry of buffer.newestEntries()) {
    changes.push(entry);
    if (pacer.spend(WRITE_BUFFER_ENTRY_OVERHEAD_BYTES)) await pacer.pause();
  }
  return changes;
}

/** The kernel's default for scheduleGroup and checkpointPause: a microtask (runtimes pass a turn of their event loop). */
function inMicrotask(callback: () => void): void {
  void Promise.resolve().then(callback);
}

function assertDurability(durability: unknown): asserts durability is KvDurability {
  if (durability !== 'durable' && durability !== 'relaxed') {
    throw new InvalidArgumentError(`invalid durability ${JSON.stringify(durability)}: expected "durable" or "relaxed"`);
  }
}

