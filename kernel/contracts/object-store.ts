/**
 * ObjectStore: the blob pillar. Blobs are immutable and named by their content id, the lowercase
 * hex SHA-256 of their bytes (see `contentIdOf` in `../content-id.ts`). The store computes the id
 * itself while it stores the bytes, so an id always names exactly the bytes it was computed from
 * and identical content is stored once.
 *
 * Buffers: bytes passed to `put` are copied or fully consumed before `put` resolves; bytes returned
 * by `get`/`getRange`/`stream` belong to the caller.
 *
 * Ranges are half-open, `[offset, offset + length)`, in bytes. A range that runs past the end of the
 * blob is cut at the end (so reading at `offset == size` gives zero bytes); an offset past the end,
 * or an offset or length that is negative or not an integer, is InvalidArgumentError (EINVAL).
 *
 * Atomicity: a blob becomes visible to `get`/`has`/`list` only once all of its bytes are stored; a
 * failed or aborted `put` leaves nothing visible: when the stream given to `put` errors, `put`
 * rejects with that stream's error, and a chunk that is not a Uint8Array is EINVAL. `put` of content that already exists succeeds and
 * leaves the stored blob as it was. `delete` of an absent id is a no-op, so reclaiming is idempotent.
 *
 * Errors: NotFoundError (ENOENT) for an absent id on read, InvalidArgumentError (EINVAL) for a
 * malformed id or range, ClosedError (ECLOSED) after `close()`, CorruptionError (ECORRUPT) when stored
 * bytes no longer match their id (for stores that check on read).
 */
export interface ObjectStore {
  /** Stores the bytes (a buffer, or a stream read to its end) and returns their id and size. */
  put(data: Uint8Array | ReadableStream<Uint8Array>): Promise<ObjectInfo>;

  /** The whole blob. */
  get(id: string): Promise<Uint8Array>;

  /** The bytes `[offset, offset + length)` of the blob, cut at its end. */
  getRange(id: string, offset: number, length: number): Promise<Uint8Array>;

  /**
   * The blob (or a range of it) as a stream. Throws NotFoundError before returning a stream when
   * the id is absent, so a caller can report the error before it starts answering.
   */
  stream(id: string, range?: { offset: number; length: number }): Promise<ReadableStream<Uint8Array>>;

  /** The size in bytes, or `undefined` when absent. */
  stat(id: string): Promise<ObjectInfo | undefined>;

  has(id: string): Promise<boolean>;

  /** Removes the blob; a no-op when absent. */
  delete(id: string): Promise<void>;

  /**
   * Ids in ascending order, after `cursor` (exclusive) when given, at most `limit`
   * (default and ceiling `OBJECT_STORE_LIST_LIMIT_MAX`: a larger limit is clamped to it; zero,
   * negative or fractional limits are EINVAL). `cursor` is set when more may follow, never on a page
   * shorter than the limit. A malformed cursor (one no listing could have handed out) is EINVAL.
   */
  list(options?: { cursor?: string; limit?: number }): Promise<{ ids: string[]; cursor?: string }>;

  /** Releases the store. Every later call throws ClosedError. Idempotent. */
  close(): Promise<void>;
}

export interface ObjectInfo {
  id: string;
  sizeBytes: number;
}

export const OBJECT_STORE_LIST_LIMIT_MAX = 10_000;
