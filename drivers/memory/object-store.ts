import { ContentHasher, contentIdOf } from '../../kernel/content-id.ts';
import { concatChunks, copyBytes } from '../../kernel/contracts/bytes.ts';
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

/**
 * How many bytes each chunk of a `stream` carries. Streams are cut into chunks, not handed out as
 * one, so that consumers meet multi-chunk streams against this reference driver too.
 */
export const MEMORY_OBJECT_STREAM_CHUNK_BYTES = 64 * 1024;

/**
 * The reference ObjectStore: blobs in a map by content id, plus the ids in one sorted array so that
 * `list` pages by binary search instead of sorting on every call.
 */
export class MemoryObjectStore implements ObjectStore {
  readonly #blobs = new Map<string, Uint8Array>();
  /** Every key of `#blobs`, ascending. Lowercase hex ids sort the same as strings and as bytes. */
  readonly #sortedIds: string[] = [];
  #closed = false;

  /**
   * A store holding a copy of each of `blobs`, as `image()` hands them out: that is its close and
   * reopen, as a file-backed store's is its directory. Each blob's id is computed again, so no
   * image can put a blob under another's id; one that is not bytes is refused as `put` refuses it.
   */
  static async fromImage(blobs: Iterable<Uint8Array>): Promise<MemoryObjectStore> {
    const store = new MemoryObjectStore();
    for (const blob of blobs) await store.put(blob);
    return store;
  }

  /** A copy of every blob the store holds, in id order, also once it is closed. */
  image(): Uint8Array[] {
    return this.#sortedIds.map((id) => copyBytes(this.#blobs.get(id)!));
  }

  async put(data: Uint8Array | ReadableStream<Uint8Array>): Promise<ObjectInfo> {
    this.#assertOpen('put');
    assertObjectData(data);
    // Read and hash everything first: the blob becomes visible in one step only once it is whole.
    const { bytes, id } = data instanceof ReadableStream ? await readStream(data) : await copyAndHash(data);
    this.#assertOpen('put');
    if (!this.#blobs.has(id)) this.#insert(id, bytes);
    return { id, sizeBytes: bytes.length };
  }

  async get(id: string): Promise<Uint8Array> {
    this.#assertOpen('get');
    return copyBytes(this.#find(id));
  }

  async getRange(id: string, offset: number, length: number): Promise<Uint8Array> {
    this.#assertOpen('getRange');
    assertObjectRange(offset, length);
    const blob = this.#find(id);
    const { start, end } = resolveObjectRange(id, blob.length, offset, length);
    return blob.slice(start, end);
  }

  async stream(id: string, range?: { offset: number; length: number }): Promise<ReadableStream<Uint8Array>> {
    this.#assertOpen('stream');
    if (range !== undefined) assertObjectRange(range.offset, range.length);
    const blob = this.#find(id);
    const { start, end } = resolveObjectRange(id, blob.length, range?.offset ?? 0, range?.length ?? blob.length);
    return streamOf(blob, start, end);
  }

  async stat(id: string): Promise<ObjectInfo | undefined> {
    this.#assertOpen('stat');
    assertContentId(id);
    const blob = this.#blobs.get(id);
    return blob === undefined ? undefined : { id, sizeBytes: blob.length };
  }

  async has(id: string): Promise<boolean> {
    this.#assertOpen('has');
    assertContentId(id);
    return this.#blobs.has(id);
  }

  async delete(id: string): Promise<void> {
    this.#assertOpen('delete');
    assertContentId(id);
    if (!this.#blobs.delete(id)) return;
    this.#sortedIds.splice(this.#indexAfter(id) - 1, 1);
  }

  async list(options?: { cursor?: string; limit?: number }): Promise<{ ids: string[]; cursor?: string }> {
    this.#assertOpen('list');
    const { afterId, limit } = resolveObjectList(options);
    const first = afterId === undefined ? 0 : this.#indexAfter(afterId);
    const ids = this.#sortedIds.slice(first, first + limit);
    const more = first + limit < this.#sortedIds.length;
    return more ? { ids, cursor: ids.at(-1)! } : { ids };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #find(id: string): Uint8Array {
    assertContentId(id);
    const blob = this.#blobs.get(id);
    if (blob === undefined) throw new NotFoundError(`object ${id} not found`);
    return blob;
  }

  #insert(id: string, bytes: Uint8Array): void {
    this.#blobs.set(id, bytes);
    this.#sortedIds.splice(this.#indexAfter(id), 0, id);
  }

  /** The index of the first id greater than `id` in `#sortedIds`. */
  #indexAfter(id: string): number {
    let low = 0;
    let high = this.#sortedIds.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#sortedIds[middle]! <= id) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new ClosedError(`cannot ${operation}: the memory object store is closed`);
  }
}

async function copyAndHash(data: Uint8Array): Promise<{ bytes: Uint8Array; id: string }> {
  const bytes = copyBytes(data);
  return { bytes, id: await contentIdOf(bytes) };
}

/** Reads a stream to its end, hashing as it goes; the stream's own error propagates unchanged. */
async function readStream(stream: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; id: string }> {
  const hasher = new ContentHasher();
  const chunks: Uint8Array[] = [];
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      assertObjectChunk(value);
      const chunk = copyBytes(value);
      hasher.update(chunk);
      chunks.push(chunk);
    }
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
  return { bytes: concatChunks(chunks), id: hasher.digest() };
}

/** `blob[start, end)` as a stream of fresh chunks; the blob itself is never handed out. */
function streamOf(blob: Uint8Array, start: number, end: number): ReadableStream<Uint8Array> {
  let position = start;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (position >= end) {
        controller.close();
        return;
      }
      const chunkEnd = Math.min(end, position + MEMORY_OBJECT_STREAM_CHUNK_BYTES);
      controller.enqueue(blob.slice(position, chunkEnd));
      position = chunkEnd;
    },
  });
}
