/**
 * Metastore: the ordered key-value pillar. The kernel keeps every piece of metadata in it (file
 * entries, the change log, blob reference counts), so it is the one store the kernel requires.
 *
 * Keys and values are byte strings (`Uint8Array`), ordered by unsigned byte-wise comparison
 * (a shorter key that is a prefix of a longer one sorts first). Keys are 1..`METASTORE_KEY_BYTES_MAX`
 * bytes, values 0..`METASTORE_VALUE_BYTES_MAX` bytes; larger ones are rejected with EINVAL.
 *
 * Versions: every successful `put`, `delete` or `batch` is one commit and gets a commit version, a
 * positive integer larger than every version the store handed out before (like etcd's revision).
 * Each key carries the version of the commit that last wrote it. Versions are only compared and
 * echoed back in preconditions; callers must not do arithmetic on them.
 *
 * Buffers: the store copies every key and value it is given before the call returns, so a caller
 * may reuse its buffers at once. Buffers the store returns belong to the caller; the store never
 * changes them afterwards.
 *
 * Atomicity: a `batch` applies all of its operations or none of them. Its preconditions are checked
 * and its writes applied as one step: no other commit can come between the check and the writes.
 * Operations in a batch apply in order, so a later operation on the same key wins.
 *
 * Reads see every commit that completed before the read started. A `scan` that resumes with a
 * cursor continues after the last key it returned, so entries written meanwhile behind the cursor
 * are not seen and entries ahead of it are.
 *
 * Errors: ConflictError (ECONFLICT) when a precondition fails, InvalidArgumentError (EINVAL) for a
 * bad key, value, range or cursor, ClosedError (ECLOSED) after `close()`, CorruptionError
 * (ECORRUPT) when stored bytes fail their checks. Nothing else is thrown for bad input.
 */
export interface Metastore {
  /** The entry stored under `key`, or `undefined`. */
  get(key: Uint8Array): Promise<MetastoreEntry | undefined>;

  /**
   * One result per key, in the order asked; `undefined` where a key is absent. At most
   * `METASTORE_BATCH_OPERATIONS_MAX` keys.
   */
  getMany(keys: readonly Uint8Array[]): Promise<(MetastoreEntry | undefined)[]>;

  /** Stores `value` under `key` unconditionally. Returns the commit version. */
  put(key: Uint8Array, value: Uint8Array): Promise<number>;

  /** Removes `key` (a no-op commit when absent). Returns the commit version. */
  delete(key: Uint8Array): Promise<number>;

  /**
   * Checks every precondition, then applies every operation, atomically. Returns the commit
   * version. Throws ConflictError, naming the first failing key, and applies nothing when a
   * precondition fails. Preconditions are checked against the state before the batch, never against
   * its own operations. At most `METASTORE_BATCH_OPERATIONS_MAX` operations and preconditions
   * together. A batch with no operations is still a commit (a way to check preconditions alone).
   */
  batch(operations: readonly MetastoreOperation[], preconditions?: readonly MetastorePrecondition[]): Promise<number>;

  /**
   * Entries in key order (reverse order with `reverse`) within the range, at most `limit` of them
   * (default and ceiling `METASTORE_SCAN_LIMIT_MAX`: a larger limit is clamped to it; zero, negative
   * or fractional limits are EINVAL). `cursor` is set when more entries may follow, never on a page
   * shorter than the limit; passing it back in `options.cursor` with the same range and direction
   * continues the scan after the last key returned.
   */
  scan(options: MetastoreScanOptions): Promise<MetastoreScanPage>;

  /** Releases the store. Every later call throws ClosedError. Idempotent. */
  close(): Promise<void>;
}

/**
 * An entry a read returns. Its key and value are the caller's: nothing else writes them. They may
 * be views of a larger buffer that holds other returned bytes (as Node's small Buffers are; see
 * copyBytesPooled): read them through byteOffset and byteLength, never transfer their buffer.
 */
export interface MetastoreEntry {
  key: Uint8Array;
  value: Uint8Array;
  /** The version of the commit that last wrote this key. */
  version: number;
}

export type MetastoreOperation =
  | { type: 'put'; key: Uint8Array; value: Uint8Array }
  | { type: 'delete'; key: Uint8Array };

/**
 * A condition on one key, checked at commit: `version` is the version the key must have now,
 * or `null` for "the key must not exist". Any other value (zero, negative, fractional) is EINVAL.
 */
export interface MetastorePrecondition {
  key: Uint8Array;
  version: number | null;
}

/**
 * A range of keys. `prefix` selects keys that start with it; `start` (inclusive) and `end`
 * (exclusive) bound a half-open range `[start, end)`. A prefix may be combined with start/end,
 * which then narrow it further. With none of them the scan covers every key.
 *
 * Bounds are byte strings of 0..`METASTORE_KEY_BYTES_MAX` bytes (the empty string sorts before every
 * key, so an empty prefix or start does not narrow). `start` after `end` is EINVAL; `start` equal to
 * `end`, or bounds that miss the prefix, are an empty range. `reverse` only changes the order: the
 * range is the same. A malformed cursor (one no scan could have handed out) is EINVAL.
 */
export interface MetastoreScanOptions {
  prefix?: Uint8Array;
  start?: Uint8Array;
  end?: Uint8Array;
  reverse?: boolean;
  limit?: number;
  /** Opaque; from an earlier page of the same scan. */
  cursor?: string;
}

export interface MetastoreScanPage {
  entries: MetastoreEntry[];
  /** Present when the scan stopped at `limit` and more entries may follow. */
  cursor?: string;
}

export const METASTORE_KEY_BYTES_MAX = 4096;
export const METASTORE_VALUE_BYTES_MAX = 16 * 1024 * 1024;
export const METASTORE_BATCH_OPERATIONS_MAX = 100_000;
export const METASTORE_SCAN_LIMIT_MAX = 10_000;
