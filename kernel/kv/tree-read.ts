import { assert } from '../assert.ts';
import { compareBytes, copyBytesPooled } from '../contracts/bytes.ts';
import type { MetastoreEntry, MetastoreScanPage } from '../contracts/metastore.ts';
import { encodeScanCursor } from '../contracts/metastore-cursor.ts';
import type { ResolvedMetastoreScan } from '../contracts/metastore-validation.ts';
import { TREE_DEPTH_MAX } from './constants.ts';
import type { BranchNode, LeafNode, OverflowReference, PageReference } from './node.ts';
import type { PageStore } from './page-store.ts';
import {
  compareLeafEntryKey,
  leafEntryInlineValueAt,
  leafEntryKeyAt,
  leafEntryKeyOverflows,
  leafEntryRunsAt,
  leafEntryVersionAt,
} from './node-codec.ts';
import { abbreviatedKeys, leafIndex, searchAbbreviated } from './tree-search.ts';
import { keyPrefix } from './write-buffer.ts';

/**
 * Reads of one committed tree, given its root. The caller keeps that state pinned while a read
 * runs, so no page of it is reused underneath the read. Every returned buffer is a fresh copy.
 */

/** The leaf whose range holds `key` (`prefix`: keyPrefix(key)). */
export async function findLeaf(pages: PageStore, root: PageReference, key: Uint8Array, prefix = keyPrefix(key)): Promise<LeafNode> {
  // Cached nodes are taken without an await: a point read of a cached path costs no microtasks.
  let node = pages.cachedNode(root) ?? (await pages.readNode(root));
  for (let depth = 0; node.kind === 'branch'; depth++) {
    assert(depth < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
    const child = childFor(node, key, prefix);
    node = pages.cachedNode(child) ?? (await pages.readNode(child));
  }
  return node;
}

/** The child of a published branch whose range holds `key` (`prefix`: keyPrefix(key)). */
function childFor(branch: BranchNode, key: Uint8Array, prefix: number): PageReference {
  return branch.children[searchAbbreviated(branch.keys, abbreviatedKeys(branch.keys), key, prefix, true)]!;
}

/**
 * The first entry of a published leaf not below `bound` (`after`: the first above it), as
 * searchAbbreviated finds it (`boundPrefix`: keyPrefix(bound)), through the leaf's index and its
 * page only: see leafIndex.
 */
function searchLeafPage(leaf: LeafNode, index: Float64Array, bound: Uint8Array, boundPrefix: number, after: boolean): number {
  const page = leaf.page!;
  const count = index.length >> 1;
  let low = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const prefix = index[middle]!;
    const comparison = prefix !== boundPrefix ? prefix - boundPrefix : compareEntryKey(leaf, page, index[count + middle]!, middle, bound);
    if (comparison < 0 || (after && comparison === 0)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Where in a published leaf's page the entry for `key` starts (`prefix`: keyPrefix(key)), or -1 when it has none. */
function findInLeaf(leaf: LeafNode, key: Uint8Array, prefix: number): number {
  const index = leafIndex(leaf);
  const entry = searchLeafPage(leaf, index, key, prefix, false);
  if (entry === index.length >> 1 || index[entry] !== prefix) return -1;
  const offset = index[(index.length >> 1) + entry]!;
  return compareEntryKey(leaf, leaf.page!, offset, entry, key) === 0 ? offset : -1;
}

/** compareBytes(the key of entry `entry` at `offset`, key): in the page, or the full key of one in an overflow run. */
function compareEntryKey(leaf: LeafNode, page: Uint8Array, offset: number, entry: number, key: Uint8Array): number {
  return leafEntryKeyOverflows(page, offset) ? compareBytes(leaf.keys[entry]!, key) : compareLeafEntryKey(page, offset, key);
}

/** The value of the leaf entry at `offset`: a copy of its bytes, or its overflow run read. */
async function readEntryValue(pages: PageStore, leaf: LeafNode, offset: number): Promise<Uint8Array> {
  const page = leaf.page!;
  const value = leafEntryInlineValueAt(page, offset);
  return value !== undefined ? copyBytesPooled(value) : pages.readOverflow(leafEntryRunsAt(page, offset, leaf.pageId).value!);
}

/** What `readEntryCached` answers when the read needs the file: a page or an overflow value. */
export const NEEDS_FILE = Symbol('the read needs the file');

/**
 * The entry for `key`, answered synchronously when every page on its path is in the cache and its
 * value is inline; NEEDS_FILE otherwise. Point reads of a warm cache cost no await at all, and,
 * since nothing can run in between, no pin either.
 */
export function readEntryCached(
  pages: PageStore,
  root: PageReference | undefined,
  key: Uint8Array,
): MetastoreEntry | undefined | typeof NEEDS_FILE {
  if (root === undefined) return undefined;
  const prefix = keyPrefix(key);
  let node = pages.cachedNode(root);
  for (let depth = 0; node !== undefined && node.kind === 'branch'; depth++) {
    assert(depth < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
    node = pages.cachedNode(childFor(node, key, prefix));
  }
  if (node === undefined) return NEEDS_FILE;
  // In the leaf's page, not its decoded arrays: see leafIndex.
  const offset = findInLeaf(node, key, prefix);
  if (offset < 0) return undefined;
  const page = node.page!;
  const value = leafEntryInlineValueAt(page, offset);
  if (value === undefined) return NEEDS_FILE;
  return { key: copyBytesPooled(key), value: copyBytesPooled(value), version: leafEntryVersionAt(page, offset) };
}

export async function readEntry(
  pages: PageStore,
  root: PageReference | undefined,
  key: Uint8Array,
): Promise<MetastoreEntry | undefined> {
  if (root === undefined) return undefined;
  const prefix = keyPrefix(key);
  const leaf = await findLeaf(pages, root, key, prefix);
  const offset = findInLeaf(leaf, key, prefix);
  if (offset < 0) return undefined;
  return { key: copyBytesPooled(key), value: await readEntryValue(pages, leaf, offset), version: leafEntryVersionAt(leaf.page!, offset) };
}

/** The version of `key` in the tree at `root`, or null when it holds no such key. */
export async function readVersion(pages: PageStore, root: PageReference | undefined, key: Uint8Array): Promise<number | null> {
  if (root === undefined) return null;
  const prefix = keyPrefix(key);
  const leaf = await findLeaf(pages, root, key, prefix);
  const offset = findInLeaf(leaf, key, prefix);
  return offset < 0 ? null : leafEntryVersionAt(leaf.page!, offset);
}

/** An entry found by a scan, before its value is read: a scan reads values only of what it returns. */
interface ScanHit {
  key: Uint8Array;
  version: number;
  value: Uint8Array | OverflowReference;
}

/**
 * One page of a scan. It collects one entry more than the limit: when that one exists, more entries
 * follow and the page gets a cursor naming its last key (the shared cursor format).
 */
export async function scanTree(
  pages: PageStore,
  root: PageReference | undefined,
  scan: ResolvedMetastoreScan,
): Promise<MetastoreScanPage> {
  if (root === undefined) return { entries: [] };
  const hits: ScanHit[] = [];
  // A scan of cached pages runs without a single await; one that meets a page not in the cache
  // starts over on the path that reads it.
  if (!collectCached(pages, root, scan, hits, 0)) {
    hits.length = 0;
    await collect(pages, root, scan, hits, 0);
  }
  const entries: MetastoreEntry[] = [];
  for (const hit of hits.slice(0, scan.limit)) {
    const value = hit.value instanceof Uint8Array ? copyBytesPooled(hit.value) : await pages.readOverflow(hit.value);
    entries.push({ key: copyBytesPooled(hit.key), value, version: hit.version });
  }
  if (hits.length > scan.limit) return { entries, cursor: encodeScanCursor(entries.at(-1)!.key) };
  return { entries };
}

/** Like `collect`, from cached pages only; false when a page is not in the cache. */
function collectCached(
  pages: PageStore,
  reference: PageReference,
  scan: ResolvedMetastoreScan,
  hits: ScanHit[],
  depth: number,
): boolean {
  assert(depth < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
  const node = pages.cachedNode(reference);
  if (node === undefined) return false;
  const wanted = scan.limit + 1;
  if (node.kind === 'leaf') {
    collectFromLeaf(node, scan, hits, wanted);
    return true;
  }
  const { first, last } = childRange(node.keys, scan);
  for (let step = 0; step <= last - first && hits.length < wanted; step++) {
    const index = scan.reverse ? last - step : first + step;
    if (!collectCached(pages, node.children[index]!, scan, hits, depth + 1)) return false;
  }
  return true;
}

/**
 * The children of a branch that can hold keys in [start, end): from the one holding start to the
 * last one whose lower separator is below end.
 */
function childRange(separators: readonly Uint8Array[], scan: ResolvedMetastoreScan): { first: number; last: number } {
  if (scan.start === undefined && scan.end === undefined) return { first: 0, last: separators.length };
  const prefixes = abbreviatedKeys(separators);
  const first = scan.start === undefined ? 0 : searchAbbreviated(separators, prefixes, scan.start, keyPrefix(scan.start), true);
  const last = scan.end === undefined ? separators.length : searchAbbreviated(separators, prefixes, scan.end, keyPrefix(scan.end), false);
  return { first, last };
}

/** Appends the entries of the subtree in the scan's range and order until it has `limit + 1`. */
async function collect(
  pages: PageStore,
  reference: PageReference,
  scan: ResolvedMetastoreScan,
  hits: ScanHit[],
  depth: number,
): Promise<void> {
  assert(depth < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
  const node = pages.cachedNode(reference) ?? (await pages.readNode(reference));
  const wanted = scan.limit + 1;
  if (node.kind === 'leaf') {
    collectFromLeaf(node, scan, hits, wanted);
    return;
  }
  const { first, last } = childRange(node.keys, scan);
  for (let step = 0; step <= last - first && hits.length < wanted; step++) {
    const index = scan.reverse ? last - step : first + step;
    await collect(pages, node.children[index]!, scan, hits, depth + 1);
  }
}

/** In the leaf's page, as a point read: see leafIndex. */
function collectFromLeaf(leaf: LeafNode, scan: ResolvedMetastoreScan, hits: ScanHit[], wanted: number): void {
  const index = leafIndex(leaf);
  const page = leaf.page!;
  const count = index.length >> 1;
  const first = scan.start === undefined ? 0 : searchLeafPage(leaf, index, scan.start, keyPrefix(scan.start), false);
  const end = scan.end === undefined ? count : searchLeafPage(leaf, index, scan.end, keyPrefix(scan.end), false);
  for (let step = 0; step < end - first && hits.length < wanted; step++) {
    const entry = scan.reverse ? end - 1 - step : first + step;
    const offset = index[count + entry]!;
    const key = leafEntryKeyOverflows(page, offset) ? leaf.keys[entry]! : leafEntryKeyAt(page, offset);
    const value = leafEntryInlineValueAt(page, offset) ?? leafEntryRunsAt(page, offset, leaf.pageId).value!;
    hits.push({ key, version: leafEntryVersionAt(page, offset), value });
  }
}
