import { assert } from '../../kernel/assert.ts';
import type { StorageFile } from '../../kernel/contracts/storage-file.ts';
import {
  assertStorageFileRead,
  assertStorageFileSize,
  assertStorageFileWrite,
} from '../../kernel/contracts/storage-file-validation.ts';
import { ClosedError } from '../../kernel/errors.ts';

/**
 * The most bytes a memory storage file holds: 1 GiB, an ArrayBuffer every runtime we run in can
 * allocate. Growing past it fails like a full disk, with a RangeError, not with EINVAL: the
 * arguments are valid, the medium is what runs out.
 */
export const MEMORY_STORAGE_FILE_BYTES_MAX = 1024 * 1024 * 1024;

/** The capacity of an empty file's first buffer; it doubles from there as the file grows. */
const INITIAL_CAPACITY_BYTES = 4096;

/**
 * A StorageFile in memory: the KV engine's storage in workerd and Chromium tests, and the base of
 * the crash-simulating file. Nothing is lost by a crash because there is no crash: `sync` has
 * nothing to do, and the bytes live as long as this object does, so closing it and opening
 * `new MemoryStorageFile(file.image())` again is how a test reopens a store.
 *
 * Every call does its work synchronously before it returns its promise, so calls cannot interleave.
 */
export class MemoryStorageFile implements StorageFile {
  /** The bytes `[0, #sizeBytes)` are the file; every byte after them is zero (holes read as zeros). */
  #buffer: Uint8Array;
  #sizeBytes: number;
  #closed = false;

  /** A file that starts as a copy of `initial` (empty by default). */
  constructor(initial: Uint8Array = new Uint8Array(0)) {
    assert(initial instanceof Uint8Array, 'a memory storage file starts from a Uint8Array');
    assert(initial.length <= MEMORY_STORAGE_FILE_BYTES_MAX, 'the initial image exceeds MEMORY_STORAGE_FILE_BYTES_MAX');
    this.#buffer = new Uint8Array(Math.max(INITIAL_CAPACITY_BYTES, initial.length));
    this.#buffer.set(initial);
    this.#sizeBytes = initial.length;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.#assertOpen('read');
    assertStorageFileRead(offset, length);
    const start = Math.min(offset, this.#sizeBytes);
    const end = Math.min(offset + length, this.#sizeBytes);
    return this.#buffer.slice(start, end);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#assertOpen('write');
    assertStorageFileWrite(offset, data);
    // Like pwrite(2): zero bytes change nothing, not even the size.
    if (data.length === 0) return;
    const end = offset + data.length;
    this.#reserve(end);
    this.#buffer.set(data, offset);
    this.#sizeBytes = Math.max(this.#sizeBytes, end);
  }

  async size(): Promise<number> {
    this.#assertOpen('size');
    return this.#sizeBytes;
  }

  async truncate(sizeBytes: number): Promise<void> {
    this.#assertOpen('truncate');
    assertStorageFileSize(sizeBytes);
    this.#reserve(sizeBytes);
    // Zero what is cut off, so that growing the file again reads zeros there.
    if (sizeBytes < this.#sizeBytes) this.#buffer.fill(0, sizeBytes, this.#sizeBytes);
    this.#sizeBytes = sizeBytes;
  }

  async sync(): Promise<void> {
    this.#assertOpen('sync');
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** The size now, read synchronously, open or closed. */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** A copy of the file's bytes, open or closed: what a reopened file would start from. */
  image(): Uint8Array {
    return this.#buffer.slice(0, this.#sizeBytes);
  }

  /** Makes room for `[0, sizeBytes)`, doubling the buffer so that appends cost amortised O(1). */
  #reserve(sizeBytes: number): void {
    if (sizeBytes <= this.#buffer.length) return;
    if (sizeBytes > MEMORY_STORAGE_FILE_BYTES_MAX) {
      throw new RangeError(
        `cannot grow the memory storage file to ${sizeBytes} bytes: it holds at most ${MEMORY_STORAGE_FILE_BYTES_MAX}`,
      );
    }
    const grown = new Uint8Array(Math.min(MEMORY_STORAGE_FILE_BYTES_MAX, Math.max(sizeBytes, this.#buffer.length * 2)));
    grown.set(this.#buffer.subarray(0, this.#sizeBytes));
    this.#buffer = grown;
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new ClosedError(`cannot ${operation}: the memory storage file is closed`);
  }
}
