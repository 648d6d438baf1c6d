import { bytesToHex } from '@noble/hashes/utils.js';

/**
 * Byte strings as ordered keys. Every Metastore driver and the kernel share this one ordering:
 * unsigned byte-wise comparison, where a byte string that is a prefix of a longer one sorts first
 * (so `a` < `a\x00` < `a\x01` < `b`). It is the order of the encoded bytes, never of decoded text.
 */

/** Negative when `a` sorts before `b`, zero when they are equal, positive when `a` sorts after `b`. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const sharedLength = Math.min(a.length, b.length);
  for (let index = 0; index < sharedLength; index++) {
    const difference = a[index]! - b[index]!;
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}

export function hasPrefix(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > bytes.length) return false;
  for (let index = 0; index < prefix.length; index++) {
    if (bytes[index] !== prefix[index]) return false;
  }
  return true;
}

/**
 * The smallest byte string greater than every byte string that starts with `prefix`, so that
 * `[prefix, prefixEnd(prefix))` is exactly the keys with that prefix. Trailing 0xff bytes cannot be
 * incremented and are dropped first; `undefined` means no such bound exists (the prefix is empty or
 * all 0xff), so the range runs to the last key.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  let length = prefix.length;
  while (length > 0 && prefix[length - 1] === 0xff) length--;
  if (length === 0) return undefined;
  const end = prefix.slice(0, length);
  end[length - 1] = end[length - 1]! + 1;
  return end;
}

/** The smallest byte string greater than `bytes`: `bytes` followed by a zero byte. */
export function bytesSuccessor(bytes: Uint8Array): Uint8Array {
  const successor = new Uint8Array(bytes.length + 1);
  successor.set(bytes);
  return successor;
}

/**
 * A private copy of the visible bytes of `bytes`. `new Uint8Array(view)` rather than `slice()`,
 * because a Node Buffer's `slice` returns a view of the same memory instead of a copy.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** Copies copyBytesPooled takes from a shared slab: at most this many bytes. */
export const POOLED_COPY_BYTES_MAX = 1024;
/** The slab copyBytesPooled cuts copies from (Node's Buffer pool has 8 KiB). */
const COPY_POOL_BYTES = 8 * 1024;

let copyPool = new ArrayBuffer(0);
let copyPoolBytes = new Uint8Array(copyPool);
let copyPoolUsed = 0;

/**
 * A private copy of the visible bytes of `bytes`, as copyBytes, but when it is small (at most
 * POOLED_COPY_BYTES_MAX bytes) a view of a shared 8 KiB slab, as Node pools small Buffers: so its
 * `buffer` holds other copies, and is to be read through byteOffset and byteLength, never
 * transferred or detached (nothing writes the copy's bytes but its holder). Why: V8 allocates an
 * ArrayBuffer of its own outside its heap and tracks it for the collector, 360 ns a copy on this
 * machine against 50 for a view of a slab, and a point read of the KV engine returns two copies
 * (bench:kv's 100,000 reads spent 11% of their time there, and more collecting them). A copy keeps
 * its slab alive: for entries read and then dropped, which is what the engine's reads return.
 */
export function copyBytesPooled(bytes: Uint8Array): Uint8Array {
  const length = bytes.length;
  if (length > POOLED_COPY_BYTES_MAX) return new Uint8Array(bytes);
  if (copyPoolUsed + length > copyPool.byteLength) {
    copyPool = new ArrayBuffer(COPY_POOL_BYTES);
    copyPoolBytes = new Uint8Array(copyPool);
    copyPoolUsed = 0;
  }
  copyPoolBytes.set(bytes, copyPoolUsed);
  const copy = new Uint8Array(copyPool, copyPoolUsed, length);
  // The next copy starts 8-byte aligned, so a reader's DataView or wider typed array over one stays aligned.
  copyPoolUsed = (copyPoolUsed + length + 7) & ~7;
  return copy;
}

/**
 * The chunks joined, in order, into one new buffer that the caller owns: never one of the chunks,
 * which may be views of memory their producer reuses (a socket's read buffer).
 */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  let sizeBytes = 0;
  for (const chunk of chunks) sizeBytes += chunk.byteLength;
  const whole = new Uint8Array(sizeBytes);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return whole;
}

export function isUint8Array(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/** How many bytes of a byte string an error message shows before it cuts the rest. */
export const DESCRIBED_BYTES_MAX = 64;

/**
 * A byte string for an error message: printable ASCII as quoted text, anything else as hex, cut
 * after `DESCRIBED_BYTES_MAX` bytes so a 4 KiB key cannot flood a log line.
 */
export function describeBytes(bytes: Uint8Array): string {
  const shown = bytes.subarray(0, DESCRIBED_BYTES_MAX);
  const omitted = bytes.length - shown.length;
  const suffix = omitted > 0 ? `... (${omitted} more bytes)` : '';
  if (shown.every(isPrintableAscii)) {
    return JSON.stringify(String.fromCharCode(...shown)) + suffix;
  }
  return `0x${bytesToHex(shown)}${suffix}`;
}

function isPrintableAscii(byte: number): boolean {
  return byte >= 0x20 && byte <= 0x7e;
}
