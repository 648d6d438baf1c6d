import { assert } from '../assert.ts';
import { compareBytes } from '../contracts/bytes.ts';

/** Binary searches over the sorted key arrays of nodes. */

/** The index of the first key not less than `bound` (keys.length when every key is less). */
export function lowerBound(keys: readonly Uint8Array[], bound: Uint8Array): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareBytes(keys[middle]!, bound) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The index of the first key greater than `bound`. */
export function upperBound(keys: readonly Uint8Array[], bound: Uint8Array): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareBytes(keys[middle]!, bound) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Where `key` is in a leaf, or where it would be inserted. */
export function searchLeaf(keys: readonly Uint8Array[], key: Uint8Array): { index: number; found: boolean } {
  const index = lowerBound(keys, key);
  return { index, found: index < keys.length && compareBytes(keys[index]!, key) === 0 };
}

/** The child of a branch whose range holds `key`: one past the last separator not greater than it. */
export function childIndexFor(separators: readonly Uint8Array[], key: Uint8Array): number {
  return upperBound(separators, key);
}

/** The shortest prefix of `right` that sorts after `left` (given left < right). */
export function shortestSeparator(left: Uint8Array, right: Uint8Array): Uint8Array {
  let shared = 0;
  while (shared < left.length && shared < right.length && left[shared] === right[shared]) shared++;
  assert(shared < right.length, 'the right key sorts after the left key');
  return right.slice(0, shared + 1);
}
