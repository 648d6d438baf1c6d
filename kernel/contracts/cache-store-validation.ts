import { InvalidArgumentError } from '../errors.ts';
import { isUint8Array } from './bytes.ts';
import { CACHE_STORE_KEY_BYTES_MAX, CACHE_STORE_VALUE_BYTES_MAX } from './cache-store.ts';

/**
 * Input checks shared by every CacheStore driver, so each rejects the same inputs with the same
 * InvalidArgumentError (EINVAL) before it stores or sends anything.
 */

const encoder = new TextEncoder();

/** Keys and channel names: non-empty strings of at most `CACHE_STORE_KEY_BYTES_MAX` UTF-8 bytes. */
export function assertCacheName(name: unknown, role: 'key' | 'channel'): asserts name is string {
  if (typeof name !== 'string') throw new InvalidArgumentError(`invalid cache ${role}: expected a string, got ${typeof name}`);
  if (name.length === 0) throw new InvalidArgumentError(`invalid cache ${role}: must not be empty`);
  const sizeBytes = encoder.encode(name).length;
  if (sizeBytes > CACHE_STORE_KEY_BYTES_MAX) {
    throw new InvalidArgumentError(
      `invalid cache ${role}: ${sizeBytes} bytes of UTF-8, at most ${CACHE_STORE_KEY_BYTES_MAX} allowed`,
    );
  }
}

/** Values and messages: Uint8Arrays of at most `CACHE_STORE_VALUE_BYTES_MAX` bytes. */
export function assertCacheBytes(bytes: unknown, role: 'value' | 'message'): asserts bytes is Uint8Array {
  if (!isUint8Array(bytes)) throw new InvalidArgumentError(`invalid cache ${role}: expected a Uint8Array, got ${typeof bytes}`);
  if (bytes.length > CACHE_STORE_VALUE_BYTES_MAX) {
    throw new InvalidArgumentError(
      `invalid cache ${role}: ${bytes.length} bytes, at most ${CACHE_STORE_VALUE_BYTES_MAX} allowed`,
    );
  }
}

/** The `ttlMs` of `set`, when given: a positive integer number of milliseconds. */
export function assertCacheSetOptions(options: unknown): asserts options is { ttlMs?: number } | undefined {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`invalid cache set options: expected an object, got ${String(options)}`);
  }
  const { ttlMs } = options as { ttlMs?: unknown };
  if (ttlMs === undefined) return;
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 1) {
    throw new InvalidArgumentError(`invalid ttlMs ${String(ttlMs)}: expected a positive integer number of milliseconds`);
  }
}
