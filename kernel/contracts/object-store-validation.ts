import { assertContentId, CONTENT_ID_PATTERN } from '../content-id.ts';
import { InvalidArgumentError } from '../errors.ts';
import { isUint8Array } from './bytes.ts';
import { OBJECT_STORE_LIST_LIMIT_MAX } from './object-store.ts';
import { resolvePageLimit } from './page-limit.ts';

/**
 * Input checks shared by every ObjectStore driver, so each rejects the same inputs with the same
 * InvalidArgumentError (EINVAL), and does so before it reads or writes anything.
 */

export { assertContentId };

export function assertObjectData(data: unknown): asserts data is Uint8Array | ReadableStream<Uint8Array> {
  if (isUint8Array(data) || data instanceof ReadableStream) return;
  throw new InvalidArgumentError(`invalid object data: expected a Uint8Array or a ReadableStream, got ${typeof data}`);
}

/** A stream given to `put` must yield Uint8Array chunks; anything else is the caller's bug. */
export function assertObjectChunk(chunk: unknown): asserts chunk is Uint8Array {
  if (!isUint8Array(chunk)) {
    throw new InvalidArgumentError(`invalid object stream chunk: expected a Uint8Array, got ${typeof chunk}`);
  }
}

/**
 * The checks on a range that need no blob size: offset and length are non-negative integers. A
 * driver runs this before it looks the blob up, then `resolveObjectRange` once it knows the size.
 */
export function assertObjectRange(offset: unknown, length: unknown): asserts offset is number {
  assertByteCount(offset, 'offset');
  assertByteCount(length, 'length');
}

/**
 * The half-open byte range `[start, end)` a read returns: `[offset, offset + length)` cut at the end
 * of the blob. An offset past the end is InvalidArgumentError; an offset equal to the size is an
 * empty range, so a reader that walks a blob in steps can ask for the step after the last one.
 */
export function resolveObjectRange(
  id: string,
  sizeBytes: number,
  offset: number,
  length: number,
): { start: number; end: number } {
  assertObjectRange(offset, length);
  if (offset > sizeBytes) {
    throw new InvalidArgumentError(`cannot read object ${id} at offset ${offset}: it is ${sizeBytes} bytes long`);
  }
  return { start: offset, end: Math.min(sizeBytes, offset + length) };
}

function assertByteCount(count: unknown, role: string): void {
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    throw new InvalidArgumentError(`invalid range ${role} ${String(count)}: expected a non-negative integer`);
  }
}

/**
 * `list` options reduced to what a driver does: ids strictly after `afterId` (from the start when
 * undefined), at most `limit` of them. The cursor every driver hands out is the last id it returned,
 * so a cursor that is not a content id is InvalidArgumentError.
 */
export function resolveObjectList(options: unknown): { afterId: string | undefined; limit: number } {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(`invalid list options: expected an object, got ${String(options)}`);
  }
  const { cursor, limit } = (options ?? {}) as { cursor?: unknown; limit?: unknown };
  if (cursor !== undefined && (typeof cursor !== 'string' || !CONTENT_ID_PATTERN.test(cursor))) {
    throw new InvalidArgumentError(`invalid list cursor ${JSON.stringify(cursor)}: not a cursor from an earlier page`);
  }
  return { afterId: cursor, limit: resolvePageLimit(limit, OBJECT_STORE_LIST_LIMIT_MAX) };
}
