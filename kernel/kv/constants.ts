/**
 * Every limit and layout constant of the KV engine, in one place.
 *
 * Why the bounds exist: a page must always hold several entries (so splits terminate and the tree
 * stays shallow), a commit group must not grow without bound while the writer is busy, and the
 * page cache must bound memory however large the store is.
 */

/** Bytes of one page: the unit of I/O, checksumming, caching and copy-on-write. */
export const PAGE_BYTES = 4096;

/**
 * Pages encoded for writing are cut from shared buffers of this many pages (page-format.ts): one
 * allocation per slab instead of per page, while a cached page keeps at most this many alive.
 */
export const PAGE_SLAB_PAGES = 16;

/** Bytes of the header every page starts with (checksum, kind, format, count, page id, txn). */
export const PAGE_HEADER_BYTES = 24;

/** Payload bytes of one page after its header. */
export const PAGE_PAYLOAD_BYTES = PAGE_BYTES - PAGE_HEADER_BYTES;

/** Pages 0 and 1 are the two meta slots; tree pages start after them. */
export const META_SLOT_COUNT = 2;

/** The first page id a tree, overflow or freelist page may have. */
export const FIRST_DATA_PAGE_ID = META_SLOT_COUNT;

/**
 * Page ids are stored as unsigned 32-bit integers: at 4 KiB pages, a 16 TiB file. The allocator
 * refuses to grow beyond it.
 */
export const PAGE_ID_MAX = 0xffff_ffff;

/**
 * Keys longer than this live in an overflow run of their own, with a reference in the node. Chosen
 * with VALUE_INLINE_BYTES_MAX so that the largest inline entry fits at least four times in a leaf:
 * the tree never degenerates into pages of one or two entries.
 */
export const KEY_INLINE_BYTES_MAX = 448;

/** Values longer than this live in an overflow run, with a reference in the leaf. */
export const VALUE_INLINE_BYTES_MAX = 448;

/**
 * A node with fewer payload bytes than this after a delete is merged with a sibling when the two
 * fit in one page; a quarter page keeps pages reasonably full without merging on every delete.
 */
export const NODE_MERGE_THRESHOLD_BYTES = PAGE_PAYLOAD_BYTES / 4;

/** Decoded pages the cache keeps by default (16 MiB of pages at 4 KiB). */
export const CACHE_PAGES_DEFAULT = 4096;

/** The smallest cache a store may be opened with: the deepest path plus room for siblings. */
export const CACHE_PAGES_MIN = 16;

/**
 * Depth bound of the tree. With at least four entries per page, 32 levels would hold more keys
 * than 2^53; reaching it means a broken page, so descents assert on it.
 */
export const TREE_DEPTH_MAX = 32;

/** Batches one commit group takes from the queue at most; the rest wait for the next group. */
export const GROUP_COMMIT_BATCHES_MAX = 1024;

/**
 * Operations one commit group takes at most (a single larger batch still forms a group of its
 * own), so a flood of small batches cannot build an unbounded set of dirty pages.
 */
export const GROUP_COMMIT_OPERATIONS_MAX = 100_000;

/** Batches and sync requests waiting in the commit queue before `commit` rejects with EBUSY. */
export const COMMIT_QUEUE_LENGTH_MAX = 100_000;

/** Identifies a nexusfs KV store in its meta pages ("NXKV"). */
export const META_MAGIC = 0x4e584b56;

/**
 * The on-disk format; a store written in another format is refused, not guessed at.
 * 2: freelist delta pages (see freelist.ts).
 */
export const FORMAT_VERSION = 2;

/** Adjacent page writes of one commit are joined into single writes of at most this many bytes. */
export const WRITE_COALESCE_BYTES_MAX = 1024 * 1024;

/**
 * Before a commit group is applied, the leaves its keys lead to are read this many at a time, so
 * the reads of a large or random batch overlap instead of waiting one after another.
 */
export const PREFETCH_READS_CONCURRENT_MAX = 32;

/**
 * A freelist of at most this many pages lives in the meta page itself (12 bytes each), so the
 * common commit with a short freelist writes its path and the meta page, and no freelist page.
 */
export const META_INLINE_FREE_PAGES_MAX = 256;

/**
 * A freelist chain takes delta pages until they would outnumber its base pages or this many,
 * whichever is more; then a commit writes a new base. Each commit pays about one delta page, and
 * a base rewrite every so often, instead of the whole freelist every time.
 */
export const FREELIST_DELTA_PAGES_MIN = 16;

/**
 * How far txn numbering jumps when a store opens after a crash. Pages of commits lost in the crash
 * may still be on the disk, stamped with txns just above the recovered one, and their metas may be
 * torn beyond reading; a later commit reusing such a txn could, after a second crash, have its meta
 * verified against those stale pages. No run of commits without a durable one comes near 2^32, and
 * txns are 53-bit, so two million crashes fit.
 */
export const TXN_GAP_AFTER_CRASH = 2 ** 32;

/**
 * The commit log (commit-log.ts). A group whose record would be larger than this skips the log:
 * it is written to the tree and synced there, as without a log.
 */
export const COMMIT_LOG_RECORD_BYTES_MAX = 4 * 1024 * 1024;

/**
 * A commit log encodes records up to this size into one buffer it keeps (CommitLog.appendRecord);
 * a larger group's record gets a buffer of its own. 64 KiB: a group of 64 single-key commits of
 * small values is about 14 KiB.
 */
export const COMMIT_LOG_SCRATCH_BYTES = 64 * 1024;

/** The log file grows ahead of its records in steps of this many bytes, and never shrinks. */
export const COMMIT_LOG_GROWTH_BYTES = 1024 * 1024;

/** A checkpoint (the tree synced, the log started over) once the log holds this many bytes. */
export const COMMIT_LOG_CHECKPOINT_BYTES = 16 * 1024 * 1024;

/**
 * A checkpoint (the write buffer merged into the tree, the tree synced, the log started over) once
 * the write buffer holds this many bytes (see write-buffer.ts). It bounds the buffer's memory, the
 * log a crash leaves to replay, and how long a merge takes; larger means each leaf is rewritten
 * for more commits at once.
 */
export const WRITE_BUFFER_BYTES_MAX = 24 * 1024 * 1024;

/**
 * What the write buffer counts for one entry beyond its value's bytes (and its key's, once per
 * key): the arrays and objects that hold it, so that many small entries are bounded too.
 */
export const WRITE_BUFFER_ENTRY_OVERHEAD_BYTES = 48;

/** Commit log files of a store: one, or two so that checkpoints run while commits go on. */
export const COMMIT_LOGS_MAX = 2;

/**
 * Write buffers a state reads: the live one and at most one frozen one, which the checkpoint in
 * flight merges into the tree (one checkpoint at a time).
 */
export const WRITE_BUFFERS_MAX = 2;

/** Keys in one sorted chunk of the write buffer: an insert moves at most this many references. */
export const WRITE_BUFFER_CHUNK_KEYS_MAX = 256;

/**
 * A checkpoint's merge (tree-merge.ts) cuts a run of leaves that no longer fits a page into
 * leaves of about this many payload bytes: room for a few entries more, so that the next merge's
 * inserts into a leaf rewrite it rather than split it into two half-empty ones.
 */
export const MERGE_FILL_BYTES = Math.floor((PAGE_PAYLOAD_BYTES * 7) / 8);

/**
 * The first size of the buffer a merge encodes a run's merged entries into (see EntrySequence in
 * tree-merge.ts); it doubles when a run needs more, and is reused from run to run.
 */
export const MERGE_SCRATCH_BYTES = 64 * 1024;

/**
 * A merge reads the leaves it changes that lie at consecutive page ids in one read of at most
 * this many pages (256 KiB): one call and one buffer instead of one per page.
 */
export const MERGE_READ_PAGES_MAX = 64;

/**
 * A checkpoint gives the runtime a turn (KvStoreOptions.checkpointPause) after about this much
 * work, unless the store was opened with checkpointPauseWorkBytes: pages it reads, builds, writes
 * or decodes, and the bytes of the changes it merges (see CheckpointPacer). Counted in work, not
 * time, so a checkpoint pauses at the same points on every run. A few milliseconds of a merge on a
 * shared server core (bench/kv-stall.mts), where a checkpoint of a full write buffer into a tree of
 * 300,000 keys ran for 0.5 to 1 s in one stretch; 1 MiB let the checkpoints fall behind the commits
 * more often, which then all waited for them (see CHECKPOINT_PAUSE_PRESSURE_SCALE_MAX).
 */
export const CHECKPOINT_PAUSE_WORK_BYTES = 256 * 1024;

/**
 * A checkpoint pauses up to this many times less often as the fresh write buffer fills (see
 * CheckpointPacer): with the fresh buffer full to 1 - 1/16, after 16 times the work.
 */
export const CHECKPOINT_PAUSE_PRESSURE_SCALE_MAX = 16;

/**
 * Calls on the store (reads, commits) during one pause of a checkpoint after which it resumes
 * without waiting for the runtime's turn (see CheckpointPacer.noteCall): a caller looping on
 * promises alone never lets the event loop turn, and would hold the checkpoint back meanwhile.
 */
export const CHECKPOINT_PAUSE_CALLS_MAX = 64;
