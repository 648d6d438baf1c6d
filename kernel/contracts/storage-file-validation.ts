import { InvalidArgumentError } from '../errors.ts';
import { isUint8Array } from './bytes.ts';

/**
 * Input checks shared by every StorageFile implementation, so each rejects the same inputs with the
 * same InvalidArgumentError (EINVAL), before it touches its medium. Offsets, lengths and sizes are
 * non-negative safe integers, and so is the end of every range: a file never reaches past
 * `Number.MAX_SAFE_INTEGER` bytes, the largest size every runtime can count exactly.
 */

export function assertStorageFileRead(offset: unknown, length: unknown): asserts offset is number {
  assertByteCount(offset, 'read', 'offset');
  assertByteCount(length, 'read', 'length');
  // A read may run past the end of the file, but not past the end of any file there could be.
  assertRangeEnd(offset as number, length as number, 'read');
}

export function assertStorageFileWrite(offset: unknown, data: unknown): asserts data is Uint8Array {
  assertByteCount(offset, 'write', 'offset');
  if (!isUint8Array(data)) {
    throw new InvalidArgumentError(`cannot write to the storage file: expected a Uint8Array, got ${typeof data}`);
  }
  assertRangeEnd(offset as number, data.length, 'write');
}

export function assertStorageFileSize(sizeBytes: unknown): asserts sizeBytes is number {
  assertByteCount(sizeBytes, 'truncate', 'size');
}

function assertByteCount(count: unknown, operation: string, role: string): void {
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    throw new InvalidArgumentError(`cannot ${operation} the storage file: ${role} ${String(count)} is not a non-negative integer`);
  }
}

function assertRangeEnd(offset: number, length: number, operation: string): void {
  if (Number.isSafeInteger(offset + length)) return;
  throw new InvalidArgumentError(
    `cannot ${operation} the storage file: ${length} bytes at offset ${offset} end past ${Number.MAX_SAFE_INTEGER} bytes`,
  );
}
