import { bytesToHex } from '@noble/hashes/utils.js';

/** Byte strings for conformance suites: readable in the test, readable in a failure diff. */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** A byte string from byte values, for keys that text cannot spell (0x00, 0xff). */
export function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

export function toHex(value: Uint8Array): string {
  return bytesToHex(value);
}

/**
 * `sizeBytes` bytes that differ for every `seed` and repeat with no short period, so an off-by-one
 * range or a chunk written twice shows up as a mismatch. Deterministic: a failure replays exactly.
 */
export function patternBytes(sizeBytes: number, seed = 1): Uint8Array {
  const result = new Uint8Array(sizeBytes);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let index = 0; index < sizeBytes; index++) {
    // xorshift32: cheap, and every state but zero leads to another non-zero state.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    result[index] = state & 0xff;
  }
  return result;
}

/**
 * Where two byte strings first differ, in words, or `undefined` when they are equal. Suites assert
 * `expect(bytesDifference(actual, expected)).toBeUndefined()` on blobs rather than `toEqual`, which
 * compares typed arrays element by element through its generic deep equality and takes seconds on
 * a megabyte, and whose failure diff would print the whole array.
 */
export function bytesDifference(actual: Uint8Array, expected: Uint8Array): string | undefined {
  const sharedLength = Math.min(actual.length, expected.length);
  for (let index = 0; index < sharedLength; index++) {
    if (actual[index] !== expected[index]) {
      return `byte ${index} is ${actual[index]}, expected ${expected[index]} (lengths ${actual.length} and ${expected.length})`;
    }
  }
  if (actual.length !== expected.length) return `length is ${actual.length}, expected ${expected.length}`;
  return undefined;
}
