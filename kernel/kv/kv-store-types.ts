import type {
  Metastore,
  MetastoreEntry,
  MetastoreOperation,
  MetastorePrecondition,
  MetastoreScanOptions,
  MetastoreScanPage,
} from '../contracts/metastore.ts';
import type { StorageFile } from '../contracts/storage-file.ts';

/**
 * How a commit is made durable:
 * - `durable`: the commit resolves only after its pages and meta page are synced; it survives a
 *   crash or power loss from then on.
 * - `relaxed`: the commit resolves once written, without a sync. A crash may lose it (and every
 *   later relaxed commit) but never the last durable state, and never half of it. The next durable
 *   commit, `sync()` or `close()` makes it durable.
 */
export type KvDurability = 'durable' | 'relaxed';

export interface KvCommitOptions {
  durability: KvDurability;
}

export interface KvStoreOptions {
  /** Decoded pages the cache keeps (`CACHE_PAGES_DEFAULT`; at least `CACHE_PAGES_MIN`). */
  cachePages?: number;
  /** The durability of `put`, `delete` and `batch` (the Metastore calls); `durable` by default. */
  durability?: KvDurability;
  /**
   * A second file for the commit log (see commit-log.ts): a commit appends its operations to it
   * (and syncs it when durable) and goes into an in-memory write buffer (write-buffer.ts) instead
   * of the tree; a checkpoint now and then merges the buffer into the tree and syncs it. A store
   * opened with a log must always be opened with the same log: its latest commits may be only there.
   */
  log?: StorageFile;
  /**
   * With `log`: a second commit-log file, which lets checkpoints run while commits go on. A
   * checkpoint freezes the write buffer and the log its commits are in; new commits go to a fresh
   * buffer and the other log while the frozen buffer is merged into the tree, which is then synced,
   * and the frozen log started over (see kv-store.ts). Without it a checkpoint holds commits back
   * until it ends. One checkpoint at a time: should the fresh buffer fill first, commits wait for
   * it, so the buffers hold at most twice `writeBufferBytes`. A store once opened with two logs
   * must be opened with both (in either order: replay orders them by version).
   */
  secondLog?: StorageFile;
  /**
   * With a log: checkpoint once the write buffer holds this many bytes (WRITE_BUFFER_BYTES_MAX by
   * default). Lower means less memory and a shorter replay after a crash, and more frequent merges.
   */
  writeBufferBytes?: number;
  /**
   * Runs `takeGroup` once the callers of a commit group of several commits have had the chance to
   * commit again. A pool of committers commits again as soon as it hears back; the commit loop
   * waits for that before it takes the next group, so they join it instead of waiting a whole sync
   * for the group after. By default a microtask, which catches only callers that commit again at
   * once; where the runtime has one, pass a turn of the event loop (Node and Deno: setImmediate,
   * which runs after every queued microtask).
   */
  scheduleGroup?: (takeGroup: () => void) => void;
  /**
   * Runs `resume` once the runtime has had a turn: a checkpoint (with a log) pauses so after each
   * `checkpointPauseWorkBytes` of work, so that commits, reads and I/O callbacks run between its
   * stretches. A checkpoint of a full write buffer is a second of CPU work and, on Node, of
   * synchronous reads and writes, which would otherwise hold the event loop the whole time (with
   * `secondLog`, commits go on while it runs only if they get turns). By default a microtask, which
   * lets only work already queued in promises run; where the runtime has one, pass a turn of the
   * event loop (Node and Deno: setImmediate; browsers and Workers: a MessageChannel message or
   * setTimeout(0)). A function that calls `resume` at once disables the pauses. A pause also ends
   * after CHECKPOINT_PAUSE_CALLS_MAX calls on the store (a loop of reads that never lets the event
   * loop turn shares its turn with the checkpoint), and a checkpoint pauses less often as the fresh
   * write buffer fills, and not at all once the store closes (see checkpoint-pacer.ts).
   */
  checkpointPause?: (resume: () => void) => void;
  /**
   * The work a checkpoint does between pauses (see checkpointPause), in bytes of pages read, built,
   * written or decoded and of changes merged: CHECKPOINT_PAUSE_WORK_BYTES by default. Counted in
   * work, not time, so a checkpoint pauses at the same points on every run.
   */
  checkpointPauseWorkBytes?: number;
}

/**
 * A read transaction on one consistent state of the store: every read sees exactly the commits
 * that completed before `snapshot()` was called, whatever is committed meanwhile. The pages that
 * state needs are kept (not reused) until `release()`, so release snapshots promptly: a forgotten
 * one makes the file grow. Reads after `release()` or after the store closed throw ClosedError.
 * Buffers returned belong to the caller, as with Metastore reads.
 */
export interface KvSnapshot {
  /** The version of the last commit this snapshot sees (0 for an empty, never written store). */
  readonly version: number;
  get(key: Uint8Array): Promise<MetastoreEntry | undefined>;
  getMany(keys: readonly Uint8Array[]): Promise<(MetastoreEntry | undefined)[]>;
  scan(options: MetastoreScanOptions): Promise<MetastoreScanPage>;
  /** Unpins the state. Idempotent. */
  release(): void;
}

export interface KvStoreStats {
  /** The size of the StorageFile now. */
  fileSizeBytes: number;
  /** Pages the committed state accounts for (tree, overflow, freelist, free and the meta slots). */
  pageCount: number;
  /** Pages on the freelist (reusable now, or once older snapshots and commits allow). */
  freePageCount: number;
  cacheHits: number;
  cacheMisses: number;
  /** Pages in the cache now. */
  cachedPages: number;
  /** Syncs the store asked of its StorageFile since it opened. */
  syncCount: number;
  /** Write transactions (commit groups) since it opened; each may carry several commits. */
  writeTransactionCount: number;
  /** The version of the last commit. */
  lastVersion: number;
}

/**
 * The KV engine's store: a Metastore (whose writes are `durable` unless the store was opened with
 * another default) with explicit durability, read snapshots, sync and statistics.
 *
 * The store owns its StorageFile from `openKvStore` on: nothing else may write it, and `close()`
 * closes it. After an I/O failure while writing a commit the store cannot know what reached the
 * medium, so it refuses every later call with that failure; reopen it to recover.
 */
export interface KvStore extends Metastore {
  /**
   * Like `Metastore.batch`, with the durability chosen explicitly. Commits that arrive while the
   * writer is busy form a group: each is checked against the state including the commits queued
   * before it, each gets its own version, and the group is written once and synced at most once.
   */
  commit(
    operations: readonly MetastoreOperation[],
    preconditions?: readonly MetastorePrecondition[],
    options?: KvCommitOptions,
  ): Promise<number>;

  /** Pins the current state for reads; see KvSnapshot. */
  snapshot(): KvSnapshot;

  /** Makes every commit that resolved before the call durable (one sync when any was relaxed). */
  sync(): Promise<void>;

  stats(): Promise<KvStoreStats>;

  /** Waits for queued commits, syncs, and closes the StorageFile. Idempotent. */
  close(): Promise<void>;
}
