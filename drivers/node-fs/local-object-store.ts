import { createHash } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../../kernel/assert.ts';
import { CONTENT_ID_PATTERN, contentIdOf } from '../../kernel/content-id.ts';
import type { ObjectInfo, ObjectStore } from '../../kernel/contracts/object-store.ts';
import {
  assertContentId,
  assertObjectChunk,
  assertObjectData,
  assertObjectRange,
  resolveObjectList,
  resolveObjectRange,
} from '../../kernel/contracts/object-store-validation.ts';
import { ClosedError, NotFoundError } from '../../kernel/errors.ts';
import { errorCode, syncDirectory } from './file-system-errors.ts';

/**
 * How many bytes each chunk of a `stream` reads from disk: 64 KiB, the size of the body chunks
 * node:http allocates for an upload (and fs.createReadStream's default). Each chunk is a fresh
 * buffer that lives until a GC; of one size, a download reuses the memory an upload's dead chunks
 * left, where 256 KiB chunks needed more: a server's RSS rose 2-10 MiB above the upload's peak while
 * a Deno client downloaded 256 MiB, and 0-3 MiB with 64 KiB (bench:stream-memory, 10 rounds each).
 */
export const LOCAL_OBJECT_STREAM_CHUNK_BYTES = 64 * 1024;

/** Where puts write before their blob is complete; never listed, never read as a blob. */
const TEMPORARY_DIRECTORY_NAME = 'tmp';
const TEMPORARY_FILE_SUFFIX = '.partial';
/** Blobs live in one directory per first two hex digits of their id, so no directory grows huge. */
const FAN_OUT_DIGITS = 2;
const FAN_OUT_PATTERN = /^[0-9a-f]{2}$/;
/** At most 16^2 fan-out directories exist, so a listing looks into at most this many. */
const FAN_OUT_DIRECTORIES_MAX = 256;

export interface LocalObjectStoreOptions {
  /** The directory that holds the blobs; created on first use. */
  directory: string;
}

/**
 * An ObjectStore in a directory of the local disk, through `node:fs/promises` (Node and Deno).
 *
 * Layout: the blob with id `abcd...` is the file `<directory>/ab/abcd...`. A put writes to
 * `<directory>/tmp/<random>.partial` while it hashes, fsyncs that file, renames it into place and
 * fsyncs the fan-out directory: the rename is what makes the blob visible, and it is atomic, so a
 * reader never sees half a blob and a crash leaves at most a stray temporary file, which nothing
 * lists or reads. Reads do not re-hash: a blob that rots on disk is returned as it is.
 */
export class LocalObjectStore implements ObjectStore {
  readonly #directory: string;
  readonly #temporaryDirectory: string;
  #ready: Promise<void> | undefined;
  #closed = false;

  constructor(options: LocalObjectStoreOptions) {
    assert(typeof options?.directory === 'string' && options.directory.length > 0, 'LocalObjectStore needs a directory');
    this.#directory = options.directory;
    this.#temporaryDirectory = join(options.directory, TEMPORARY_DIRECTORY_NAME);
  }

  async put(data: Uint8Array | ReadableStream<Uint8Array>): Promise<ObjectInfo> {
    this.#assertOpen('put');
    assertObjectData(data);
    await this.#ensureDirectories();
    if (data instanceof Uint8Array) {
      // The id is known before writing, so content that is already stored costs no write at all.
      const info = { id: await contentIdOf(data), sizeBytes: data.length };
      if (await this.has(info.id)) return info;
      return this.#write(async (file) => {
        await writeFully(file, data);
        return info;
      });
    }
    return this.#write((file) => writeStream(file, data));
  }

  async get(id: string): Promise<Uint8Array> {
    this.#assertOpen('get');
    assertContentId(id);
    const contents = await readFile(this.#blobPath(id)).catch((error: unknown) => this.#rethrow(error, id));
    return asPlainBytes(contents);
  }

  async getRange(id: string, offset: number, length: number): Promise<Uint8Array> {
    this.#assertOpen('getRange');
    assertContentId(id);
    assertObjectRange(offset, length);
    const file = await this.#openBlob(id);
    try {
      const { start, end } = resolveObjectRange(id, (await file.stat()).size, offset, length);
      return await readFully(file, start, end - start);
    } finally {
      await file.close();
    }
  }

  async stream(id: string, range?: { offset: number; length: number }): Promise<ReadableStream<Uint8Array>> {
    this.#assertOpen('stream');
    assertContentId(id);
    if (range !== undefined) assertObjectRange(range.offset, range.length);
    const file = await this.#openBlob(id);
    try {
      const sizeBytes = (await file.stat()).size;
      const { start, end } = resolveObjectRange(id, sizeBytes, range?.offset ?? 0, range?.length ?? sizeBytes);
      return fileStream(file, start, end);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  async stat(id: string): Promise<ObjectInfo | undefined> {
    this.#assertOpen('stat');
    assertContentId(id);
    try {
      return { id, sizeBytes: (await stat(this.#blobPath(id))).size };
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
  }

  async has(id: string): Promise<boolean> {
    return (await this.stat(id)) !== undefined;
  }

  async delete(id: string): Promise<void> {
    this.#assertOpen('delete');
    assertContentId(id);
    await rm(this.#blobPath(id), { force: true });
  }

  async list(options?: { cursor?: string; limit?: number }): Promise<{ ids: string[]; cursor?: string }> {
    this.#assertOpen('list');
    const { afterId, limit } = resolveObjectList(options);
    // One id more than asked for tells whether a cursor is needed.
    const ids: string[] = [];
    const fanOuts = await this.#fanOutDirectories(afterId);
    for (const fanOut of fanOuts) {
      ids.push(...(await this.#idsIn(fanOut, afterId)).slice(0, limit + 1 - ids.length));
      if (ids.length > limit) break;
    }
    if (ids.length <= limit) return { ids };
    ids.length = limit;
    return { ids, cursor: ids.at(-1)! };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /**
   * Runs `fill` on a fresh temporary file, makes the file durable, and moves it into place as the
   * blob `fill` reports. Whatever fails, the temporary file is removed and the error passes on.
   */
  async #write(fill: (file: FileHandle) => Promise<ObjectInfo>): Promise<ObjectInfo> {
    const temporaryPath = join(this.#temporaryDirectory, `${crypto.randomUUID()}${TEMPORARY_FILE_SUFFIX}`);
    try {
      const file = await open(temporaryPath, 'wx');
      let info: ObjectInfo;
      try {
        info = await fill(file);
        await file.sync();
      } finally {
        await file.close();
      }
      await this.#moveIntoPlace(temporaryPath, info.id);
      return info;
    } finally {
      await rm(temporaryPath, { force: true });
    }
  }

  async #moveIntoPlace(temporaryPath: string, id: string): Promise<void> {
    // A blob already there has the same bytes (same id); keeping it spares a rename and an fsync.
    if (await this.has(id)) return;
    const fanOut = this.#fanOutPath(id);
    const created = await mkdir(fanOut, { recursive: true });
    await rename(temporaryPath, this.#blobPath(id));
    await syncDirectory(fanOut);
    if (created !== undefined) await syncDirectory(this.#directory);
  }

  #ensureDirectories(): Promise<void> {
    this.#ready ??= mkdir(this.#temporaryDirectory, { recursive: true }).then(() => undefined);
    return this.#ready;
  }

  async #openBlob(id: string): Promise<FileHandle> {
    return open(this.#blobPath(id), 'r').catch((error: unknown) => this.#rethrow(error, id));
  }

  /** The fan-out directories that may hold ids after `afterId`, in ascending order. */
  async #fanOutDirectories(afterId: string | undefined): Promise<string[]> {
    const names = await readdirOrEmpty(this.#directory);
    const fanOuts = names.filter((name) => FAN_OUT_PATTERN.test(name)).sort();
    assert(fanOuts.length <= FAN_OUT_DIRECTORIES_MAX, `more than ${FAN_OUT_DIRECTORIES_MAX} fan-out directories`);
    const first = afterId?.slice(0, FAN_OUT_DIGITS);
    return first === undefined ? fanOuts : fanOuts.filter((name) => name >= first);
  }

  /**
   * The blob ids in one fan-out directory after `afterId`, ascending. Names that are not ids of
   * this directory (stray files, editor droppings) are not blobs and are skipped.
   */
  async #idsIn(fanOut: string, afterId: string | undefined): Promise<string[]> {
    const names = await readdirOrEmpty(join(this.#directory, fanOut));
    return names
      .filter((name) => CONTENT_ID_PATTERN.test(name) && name.startsWith(fanOut))
      .filter((name) => afterId === undefined || name > afterId)
      .sort();
  }

  #fanOutPath(id: string): string {
    return join(this.#directory, id.slice(0, FAN_OUT_DIGITS));
  }

  #blobPath(id: string): string {
    return join(this.#fanOutPath(id), id);
  }

  /** Turns "no such file" into the contract's NotFoundError; anything else passes unchanged. */
  #rethrow(error: unknown, id: string): never {
    if (errorCode(error) === 'ENOENT') throw new NotFoundError(`object ${id} not found in ${this.#directory}`);
    throw error;
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new ClosedError(`cannot ${operation}: the local object store at ${this.#directory} is closed`);
  }
}

/**
 * Writes the stream's chunks in order while hashing them; returns the id and size they make. The
 * hash is node:crypto's (native, incremental, in Node and Deno) rather than the kernel's pure-JS
 * `ContentHasher`: on large uploads hashing was the bottleneck (37 MB/s against about 600 MB/s).
 */
async function writeStream(file: FileHandle, stream: ReadableStream<Uint8Array>): Promise<ObjectInfo> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      assertObjectChunk(value);
      hash.update(value);
      sizeBytes += value.byteLength;
      await writeFully(file, value);
    }
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
  return { id: hash.digest('hex'), sizeBytes };
}

/** `FileHandle.write` may write less than it was given; this writes all of it. */
async function writeFully(file: FileHandle, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await file.write(bytes, written, bytes.length - written);
    assert(bytesWritten > 0, 'a file write made no progress');
    written += bytesWritten;
  }
}

/** Reads exactly `length` bytes at `position`; the caller has checked they exist. */
async function readFully(file: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await file.read(bytes, read, length - read, position + read);
    if (bytesRead === 0) throw new Error(`blob file ended at ${position + read} bytes while reading up to ${position + length}`);
    read += bytesRead;
  }
  return bytes;
}

/** `file[start, end)` as a stream; the stream owns the open file and closes it when done. */
function fileStream(file: FileHandle, start: number, end: number): ReadableStream<Uint8Array> {
  let position = start;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (position >= end) {
          await file.close();
          controller.close();
          return;
        }
        const chunkBytes = Math.min(LOCAL_OBJECT_STREAM_CHUNK_BYTES, end - position);
        controller.enqueue(await readFully(file, position, chunkBytes));
        position += chunkBytes;
      } catch (error) {
        await file.close().catch(() => {});
        controller.error(error);
      }
    },
    async cancel() {
      await file.close();
    },
  });
}

/**
 * A plain Uint8Array over a Buffer's bytes, so callers get the same type from every driver. It
 * shares the memory when the Buffer owns all of it, and copies when the Buffer is a slice of a
 * shared pool, so the caller's `.buffer` never exposes unrelated bytes.
 */
function asPlainBytes(buffer: Uint8Array): Uint8Array {
  const ownsItsMemory = buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength;
  return ownsItsMemory ? new Uint8Array(buffer.buffer, 0, buffer.byteLength) : new Uint8Array(buffer);
}

async function readdirOrEmpty(directory: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    throw error;
  }
}
