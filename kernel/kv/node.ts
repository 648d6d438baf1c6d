import { assert } from '../assert.ts';
import { KEY_INLINE_BYTES_MAX, VALUE_INLINE_BYTES_MAX } from './constants.ts';

/**
 * Decoded tree nodes and what their encoding costs, so the writer can decide on splits and merges
 * without encoding. Nodes in the page cache are shared by every reader and never change; the
 * writer copies a node before it changes it (copy-on-write), and changes in place only the copies
 * its own transaction made.
 */

/** Where a child page is, and the txn that wrote it (checked on read, used by recovery). */
export interface PageReference {
  pageId: number;
  txn: number;
}

/**
 * A key or value too large for its node: `pageCount(lengthBytes)` contiguous overflow pages from
 * `pageId`, all written by `txn`. Such a run is immutable and referenced by exactly one entry.
 */
export interface OverflowReference {
  pageId: number;
  txn: number;
  lengthBytes: number;
}

export interface LeafNode {
  readonly kind: 'leaf';
  pageId: number;
  txn: number;
  /** Sorted by compareBytes, no duplicates. Full keys, also those stored in an overflow run. */
  keys: Uint8Array[];
  /** The overflow run of each key, or undefined for keys stored inline. */
  keyOverflows: (OverflowReference | undefined)[];
  /** The version of the commit that wrote each entry. */
  versions: number[];
  /** Inline values, or the overflow run that holds the value. */
  values: (Uint8Array | OverflowReference)[];
  /** Encoded size of the entries: at most PAGE_PAYLOAD_BYTES for a node that is written. */
  payloadBytes: number;
  /**
   * The sealed page the node was decoded from or encoded to, for a merge that copies its entries
   * as bytes; undefined on a writer's copy, which may still change.
   */
  page?: Uint8Array | undefined;
}

/**
 * `children[i]` holds the keys `k` with `keys[i - 1] <= k < keys[i]` (unbounded at either end), so
 * there is one key fewer than there are children.
 */
export interface BranchNode {
  readonly kind: 'branch';
  pageId: number;
  txn: number;
  keys: Uint8Array[];
  keyOverflows: (OverflowReference | undefined)[];
  children: PageReference[];
  payloadBytes: number;
}

export type TreeNode = LeafNode | BranchNode;

/** Bytes of an OverflowReference in a page: page id, txn, length. */
export const OVERFLOW_REFERENCE_BYTES = 16;

/** Bytes of a PageReference in a page: page id, txn. */
export const PAGE_REFERENCE_BYTES = 12;

/** Flags, key length and version before a leaf entry's key. */
const LEAF_ENTRY_FIXED_BYTES = 11;

/** Inline value length prefix. */
const VALUE_LENGTH_BYTES = 2;

/** Flags and key length before a branch separator. */
const BRANCH_SEPARATOR_FIXED_BYTES = 3;

export function keyIsInline(key: Uint8Array): boolean {
  return key.length <= KEY_INLINE_BYTES_MAX;
}

export function valueIsInline(lengthBytes: number): boolean {
  return lengthBytes <= VALUE_INLINE_BYTES_MAX;
}

export function storedKeyBytes(key: Uint8Array): number {
  return keyIsInline(key) ? key.length : OVERFLOW_REFERENCE_BYTES;
}

export function leafEntryBytes(key: Uint8Array, value: Uint8Array | OverflowReference): number {
  const valueBytes = value instanceof Uint8Array ? VALUE_LENGTH_BYTES + value.length : OVERFLOW_REFERENCE_BYTES;
  return LEAF_ENTRY_FIXED_BYTES + storedKeyBytes(key) + valueBytes;
}

/** A separator with the child reference that follows it. */
export function branchSeparatorBytes(key: Uint8Array): number {
  return BRANCH_SEPARATOR_FIXED_BYTES + storedKeyBytes(key) + PAGE_REFERENCE_BYTES;
}

/** The first child reference of a branch, which no separator precedes. */
export const BRANCH_FIRST_CHILD_BYTES = PAGE_REFERENCE_BYTES;

export function computeLeafPayloadBytes(leaf: LeafNode): number {
  let total = 0;
  for (let index = 0; index < leaf.keys.length; index++) total += leafEntryBytes(leaf.keys[index]!, leaf.values[index]!);
  return total;
}

export function computeBranchPayloadBytes(branch: BranchNode): number {
  let total = BRANCH_FIRST_CHILD_BYTES;
  for (const key of branch.keys) total += branchSeparatorBytes(key);
  return total;
}

export function emptyLeaf(pageId: number, txn: number): LeafNode {
  return { kind: 'leaf', pageId, txn, keys: [], keyOverflows: [], versions: [], values: [], payloadBytes: 0, page: undefined };
}

/** A private, changeable copy of a node for the writer (arrays copied, key and value bytes shared). */
export function copyNode(node: TreeNode, pageId: number, txn: number): TreeNode {
  if (node.kind === 'leaf') {
    return {
      kind: 'leaf',
      pageId,
      txn,
      keys: node.keys.slice(),
      keyOverflows: node.keyOverflows.slice(),
      versions: node.versions.slice(),
      values: node.values.slice(),
      payloadBytes: node.payloadBytes,
      page: undefined,
    };
  }
  return {
    kind: 'branch',
    pageId,
    txn,
    keys: node.keys.slice(),
    keyOverflows: node.keyOverflows.slice(),
    children: node.children.map((child) => ({ ...child })),
    payloadBytes: node.payloadBytes,
  };
}

export function assertNodeShape(node: TreeNode): void {
  assert(node.keys.length === node.keyOverflows.length, 'a key overflow slot for every key');
  if (node.kind === 'leaf') {
    assert(node.keys.length === node.values.length && node.keys.length === node.versions.length, 'leaf arrays agree');
  } else {
    assert(node.children.length === node.keys.length + 1, 'a branch has one child more than it has separators');
  }
}
