/**
 * StorageFile: the byte-addressed file the KV engine persists through, so the engine runs wherever
 * some medium can offer these few calls: a file on Node or Deno (`drivers/node-fs`), an OPFS sync
 * access handle (read/write at offset, getSize, truncate, flush), an IndexedDB page store, or memory.
 *
 * Offsets and lengths are non-negative integers in bytes (at most Number.MAX_SAFE_INTEGER).
 *
 * Reads: `read(offset, length)` returns exactly the bytes `[offset, offset + length)` that are in
 * the file; a range that runs past the end is cut at the end (so a read at or past the end returns
 * zero bytes). Bytes never written inside the file's size (a hole left by a write past the end)
 * read as zeros.
 *
 * Writes: `write(offset, data)` stores `data` at `offset`, growing the file when it ends past the
 * current size. A write is visible to every later `read` at once, but it is durable only after a
 * `sync()` that started after the write resolved. Until then a crash may lose it whole, keep it
 * whole, or keep only part of it (a torn write), and unsynced writes may survive in any order: the
 * engine must be correct under all of these, and the crash tests build exactly those images.
 * `sync()` returns once every write that resolved before it was called is durable (fdatasync).
 *
 * `truncate(sizeBytes)` sets the size, cutting or zero-extending; it is durable after the next sync.
 *
 * Buffers: `write` copies (or finishes with) `data` before it resolves; `read` returns a buffer the
 * caller owns.
 *
 * Concurrency: calls may overlap; overlapping writes to the same bytes land in an unspecified order,
 * so the engine never issues them.
 *
 * Errors: InvalidArgumentError (EINVAL) for a negative or fractional offset or length, ClosedError
 * (ECLOSED) after `close()`; I/O failures of the medium pass through as they are.
 */
export interface StorageFile {
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array): Promise<void>;
  size(): Promise<number>;
  truncate(sizeBytes: number): Promise<void>;
  sync(): Promise<void>;
  /** Releases the file without syncing it. Idempotent. */
  close(): Promise<void>;
}
