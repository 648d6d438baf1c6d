import { assert } from '../assert.ts';
import { compareBytes } from '../contracts/bytes.ts';
import type { LeafNode } from './node.ts';
import { PageLeaf, leafEntryOffsets } from './node-codec.ts';
import { keyPrefix } from './write-buffer.ts';

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

/**
 * The abbreviated keys (keyPrefix: the first 6 bytes as one number) of a node's keys, made on the
 * node's first search by a reader and kept beside it for as long as the array lives. For the keys
 * of published nodes only (the page cache's, a file read's), which never change: a write
 * transaction copies a node before it changes it (copyNode), and searches its own with the
 * functions above.
 *
 * Why: a search of a node compared keys by bytes, three dependent loads each (the array, the key's
 * view, its bytes) and in a cache of thousands of nodes most of them misses; one number per key in
 * one array answers all but ties (keys sharing 6 bytes), as the write buffer's chunks do. Rounds
 * of 100,000 point reads of a 100,000-key store took 388-452 ms where they took 439-479; a first
 * round, which makes the abbreviations of every node it meets (bench:kv's one round), about the
 * same as before.
 */
const abbreviations = new WeakMap<readonly Uint8Array[], Float64Array>();

export function abbreviatedKeys(keys: readonly Uint8Array[]): Float64Array {
  let prefixes = abbreviations.get(keys);
  if (prefixes === undefined) {
    prefixes = new Float64Array(keys.length);
    for (let index = 0; index < keys.length; index++) prefixes[index] = keyPrefix(keys[index]!);
    abbreviations.set(keys, prefixes);
  }
  assert(prefixes.length === keys.length, 'the keys of a published node never change');
  return prefixes;
}

/**
 * The index of a published leaf: its keys' abbreviations (as abbreviatedKeys), then where each
 * entry starts in the leaf's page, one number each: `2 * count` numbers. A leaf decoded from a
 * page (PageLeaf, most of the cache) has it from its decoding; another (one a write transaction
 * built and encoded, or one whose keys are in overflow runs) gets it on its first search by a
 * reader, kept beside it as abbreviatedKeys are.
 *
 * Why: with the offsets a reader finds a key, its version and its value in the page itself (see
 * tree-read.ts), where the decoded leaf had an array and a view per key and per value and an array
 * of versions, each a load from another place in a heap of hundreds of thousands of such objects.
 * Measured in one process, two stores of 100,000 keys read in alternating rounds of 100,000 point
 * reads: 0.73-0.91 the time through the leaf's views (a control of two identical stores:
 * 0.95-1.0); with the cache's leaves as PageLeafs too, 0.75-0.82 (see PageLeaf for bench:kv).
 */
const leafIndexes = new WeakMap<readonly Uint8Array[], Float64Array>();

export function leafIndex(leaf: LeafNode): Float64Array {
  if (leaf instanceof PageLeaf) return leaf.index;
  let index = leafIndexes.get(leaf.keys);
  if (index === undefined) {
    const page = leaf.page;
    assert(page !== undefined, 'a published leaf keeps the page it was decoded from or encoded to');
    const count = leaf.keys.length;
    const offsets = leafEntryOffsets(page, count, leaf.pageId);
    index = new Float64Array(2 * count);
    for (let entry = 0; entry < count; entry++) {
      index[entry] = keyPrefix(leaf.keys[entry]!);
      index[count + entry] = offsets[entry]!;
    }
    leafIndexes.set(leaf.keys, index);
  }
  return index;
}

/**
 * lowerBound (`after` false) or upperBound (`after` true) over keys whose abbreviatedKeys are
 * `prefixes`; `boundPrefix`: keyPrefix(bound). As the write buffer's keyIndex searches a chunk.
 */
export function searchAbbreviated(keys: readonly Uint8Array[], prefixes: Float64Array, bound: Uint8Array, boundPrefix: number, after: boolean): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const prefix = prefixes[middle]!;
    const comparison = prefix !== boundPrefix ? prefix - boundPrefix : compareBytes(keys[middle]!, bound);
    if (comparison < 0 || (after && comparison === 0)) low = middle + 1;
    else high = middle;
  }
  return low;
}
