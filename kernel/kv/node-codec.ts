import { assert } from '../assert.ts';
import { CorruptionError } from '../errors.ts';
import { METASTORE_KEY_BYTES_MAX } from '../contracts/metastore.ts';
import { keyPrefixAt } from './write-buffer.ts';
import { PAGE_BYTES, PAGE_PAYLOAD_BYTES } from './constants.ts';
import {
  type BranchNode,
  type LeafNode,
  type OverflowReference,
  type PageReference,
  type TreeNode,
  assertNodeShape,
  keyIsInline,
  OVERFLOW_REFERENCE_BYTES,
} from './node.ts';
import {
  PAGE_KIND,
  PAGE_PAYLOAD_OFFSET,
  type PageExpectation,
  type PageHeader,
  copyInto,
  newPage,
  openPage,
  pageView,
  readUint53,
  sealedPageHeader,
  sealPage,
  setUint16,
  setUint53,
  writeUint53,
} from './page-format.ts';

/**
 * Leaf and branch pages. After the page header, a leaf holds `count` entries:
 *
 * ```
 * flags u8 (1: key in an overflow run, 2: value in an overflow run) | key length u16 | version u64
 * key bytes, or an overflow reference (page id u32, txn u64, length u32)
 * value length u16 and value bytes, or an overflow reference
 * ```
 *
 * A branch holds its first child reference (page id u32, txn u64), then `count - 1` separators,
 * each `flags u8 | key length u16 | key bytes or overflow reference | child reference`.
 *
 * Decoding leaves the keys that live in overflow runs empty, with their reference set: the page
 * store reads those runs before it hands the node out, so decoded nodes always carry full keys.
 */

const FLAG_KEY_OVERFLOW = 1;
const FLAG_VALUE_OVERFLOW = 2;
const EMPTY = new Uint8Array(0);

export function encodeNode(node: TreeNode): Uint8Array {
  assertNodeShape(node);
  // Messages built only on failure: a merge encodes thousands of nodes.
  if (node.payloadBytes > PAGE_PAYLOAD_BYTES) assert(false, `node ${node.pageId} overflows its page: ${node.payloadBytes} bytes`);
  const kind = node.kind === 'leaf' ? PAGE_KIND.leaf : PAGE_KIND.branch;
  const count = node.kind === 'leaf' ? node.keys.length : node.children.length;
  const page = newPage({ kind, count, pageId: node.pageId, txn: node.txn });
  const writer = new PageWriter(page);
  if (node.kind === 'leaf') encodeLeafEntries(node, writer);
  else encodeBranchEntries(node, writer);
  if (writer.offset - PAGE_PAYLOAD_OFFSET !== node.payloadBytes) assert(false, `node ${node.pageId} size accounting is off`);
  sealPage(page);
  if (node.kind === 'leaf') node.page = page;
  return page;
}

/** Bytes before an inline key in a leaf entry: flags, key length, version. */
const LEAF_ENTRY_HEADER_BYTES = 11;

/**
 * Encodes the entries, then points the leaf's inline keys and values at their bytes in the new
 * page, as decoding that page would: the cached node then holds nothing but views of its own page,
 * and the next commit that copies the leaf finds its unchanged entries there, in order, and copies
 * them a run at a time (`unchangedRunEnd`) instead of one field at a time (the bulk of the cost of
 * a random insert, which rewrites a whole leaf to change one entry).
 */
function encodeLeafEntries(leaf: LeafNode, writer: PageWriter): void {
  const keyOffsets: number[] = [];
  for (let index = 0; index < leaf.keys.length; index++) {
    const runEnd = unchangedRunEnd(leaf, index);
    if (runEnd > index) {
      const first = leaf.keys[index]!;
      const last = leaf.values[runEnd - 1] as Uint8Array;
      const start = first.byteOffset - LEAF_ENTRY_HEADER_BYTES;
      const runOffset = writer.offset;
      writer.bytes(new Uint8Array(first.buffer, start, last.byteOffset + last.length - start));
      for (let entry = index; entry < runEnd; entry++) keyOffsets.push(runOffset + leaf.keys[entry]!.byteOffset - start);
      index = runEnd - 1;
      continue;
    }
    const key = leaf.keys[index]!;
    const value = leaf.values[index]!;
    const keyOverflow = leaf.keyOverflows[index];
    assert(keyIsInline(key) === (keyOverflow === undefined), 'a key is inline exactly when it is short');
    const valueInline = value instanceof Uint8Array;
    writer.uint8((keyOverflow ? FLAG_KEY_OVERFLOW : 0) | (valueInline ? 0 : FLAG_VALUE_OVERFLOW));
    writer.uint16(key.length);
    writer.uint53(leaf.versions[index]!);
    keyOffsets.push(writer.offset);
    if (keyOverflow) writer.overflowReference(keyOverflow);
    else writer.bytes(key);
    if (valueInline) {
      writer.uint16(value.length);
      writer.bytes(value);
    } else {
      writer.overflowReference(value);
    }
  }
  for (let index = 0; index < leaf.keys.length; index++) {
    if (leaf.keyOverflows[index] !== undefined) continue;
    const key = leaf.keys[index]!;
    const keyOffset = keyOffsets[index]!;
    leaf.keys[index] = writer.view(keyOffset, key.length);
    const value = leaf.values[index]!;
    if (value instanceof Uint8Array) leaf.values[index] = writer.view(keyOffset + key.length + 2, value.length);
  }
}

/**
 * One past the last entry of the run from `index` whose encoded bytes lie, unchanged and in order,
 * in one page buffer: inline key and value, adjacent there, with the flags, key length and version
 * that buffer holds equal to the entry's. `index` itself when the entry at `index` is not one.
 */
function unchangedRunEnd(leaf: LeafNode, index: number): number {
  let end = index;
  let expectedStart = -1;
  let source: Uint8Array | undefined;
  while (end < leaf.keys.length) {
    const key = leaf.keys[end]!;
    const value = leaf.values[end]!;
    if (leaf.keyOverflows[end] !== undefined || !(value instanceof Uint8Array)) break;
    const start = key.byteOffset - LEAF_ENTRY_HEADER_BYTES;
    if (start < 0 || value.buffer !== key.buffer || value.byteOffset !== key.byteOffset + key.length + 2) break;
    if (source === undefined) source = new Uint8Array(key.buffer);
    else if (key.buffer !== source.buffer || start !== expectedStart) break;
    const version = source[start + 3]! + source[start + 4]! * 2 ** 8 + source[start + 5]! * 2 ** 16 + source[start + 6]! * 2 ** 24 +
      (source[start + 7]! + source[start + 8]! * 2 ** 8 + source[start + 9]! * 2 ** 16 + source[start + 10]! * 2 ** 24) * 2 ** 32;
    const keyLength = source[start + 1]! | (source[start + 2]! << 8);
    if (source[start] !== 0 || keyLength !== key.length || version !== leaf.versions[end]) break;
    expectedStart = value.byteOffset + value.length;
    end++;
  }
  return end;
}

function encodeBranchEntries(branch: BranchNode, writer: PageWriter): void {
  writer.pageReference(branch.children[0]!);
  for (let index = 0; index < branch.keys.length; index++) {
    const key = branch.keys[index]!;
    const keyOverflow = branch.keyOverflows[index];
    assert(keyIsInline(key) === (keyOverflow === undefined), 'a separator is inline exactly when it is short');
    writer.uint8(keyOverflow ? FLAG_KEY_OVERFLOW : 0);
    writer.uint16(key.length);
    if (keyOverflow) writer.overflowReference(keyOverflow);
    else writer.bytes(key);
    writer.pageReference(branch.children[index + 1]!);
  }
}

/**
 * Decodes a leaf or branch page read from storage (checked against `expected` first). Keys in
 * overflow runs come back empty, with their reference in `keyOverflows`.
 */
export function decodeNode(page: Uint8Array, expected: PageReference): TreeNode {
  return decodeOpenedNode(page, openNodePage(page, expected), expected.pageId);
}

/**
 * Decodes a leaf or branch page that this process encoded and sealed itself (a merge's new
 * leaves, for the page cache), without computing its checksum again: a checkpoint decoded every
 * leaf it wrote, and checking each cost as much as decoding it. The header must still be the one
 * `expected` names (an assertion: the writer keeps its own pages apart).
 */
export function decodeSealedNode(page: Uint8Array, expected: PageReference): TreeNode {
  const header = sealedPageHeader(page);
  assert(header.pageId === expected.pageId && header.txn === expected.txn, 'a sealed page is the one its writer names');
  assert(header.kind === PAGE_KIND.leaf || header.kind === PAGE_KIND.branch, 'a sealed node page is a leaf or a branch');
  return decodeOpenedNode(page, header, expected.pageId);
}

/** The node on a page whose header was checked (or that this process sealed). */
function decodeOpenedNode(page: Uint8Array, header: PageHeader, pageId: number): TreeNode {
  const kind = header.kind;
  if (kind === PAGE_KIND.leaf) {
    const leaf = PageLeaf.of(page, header, pageId);
    if (leaf !== undefined) return leaf;
  }
  const reader = new PageReader(page, pageId);
  const node = kind === PAGE_KIND.leaf ? decodeLeaf(reader, header.count) : decodeBranch(reader, header.count);
  node.pageId = header.pageId;
  node.txn = header.txn;
  node.payloadBytes = reader.offset - PAGE_PAYLOAD_OFFSET;
  if (node.kind === 'leaf') node.page = page;
  return node;
}

/** Checks a leaf or branch page read from storage against `expected` (CorruptionError otherwise). */
export function openNodePage(page: Uint8Array, expected: PageReference): PageHeader {
  // The kind byte is read before the checksum only to pick the expectation: a leaf or a branch.
  const kind = pageKindOf(page) === PAGE_KIND.branch ? PAGE_KIND.branch : PAGE_KIND.leaf;
  const expectation: PageExpectation = { pageId: expected.pageId, txn: expected.txn, kind };
  return openPage(page, expectation);
}

function pageKindOf(page: Uint8Array): number {
  return page.length === PAGE_BYTES ? page[4]! : 0;
}

function decodeLeaf(reader: PageReader, count: number): LeafNode {
  const leaf: LeafNode = { kind: 'leaf', pageId: 0, txn: 0, keys: [], keyOverflows: [], versions: [], values: [], payloadBytes: 0, page: undefined };
  for (let index = 0; index < count; index++) {
    const flags = reader.uint8();
    const keyLength = reader.uint16();
    if (keyLength === 0 || keyLength > METASTORE_KEY_BYTES_MAX) reader.corrupt(`key length ${keyLength}`);
    leaf.versions.push(reader.uint53());
    if (flags & FLAG_KEY_OVERFLOW) {
      const reference = reader.overflowReference();
      if (reference.lengthBytes !== keyLength) reader.corrupt('key overflow length disagrees with the key length');
      leaf.keys.push(EMPTY);
      leaf.keyOverflows.push(reference);
    } else {
      leaf.keys.push(reader.bytes(keyLength));
      leaf.keyOverflows.push(undefined);
    }
    if (flags & FLAG_VALUE_OVERFLOW) leaf.values.push(reader.overflowReference());
    else leaf.values.push(reader.bytes(reader.uint16()));
  }
  return leaf;
}

/**
 * A leaf decoded from a sealed page as the page and an index, its arrays made only when something
 * asks for them: where each entry starts and its key's abbreviation (keyPrefix), `2 * count`
 * numbers (see leafIndex in tree-search.ts). Readers of the tree find keys, versions and values
 * in the page through the index (tree-read.ts), a merge copies entries from the page
 * (tree-merge.ts); a writer that changes the leaf asks for `keys` and the rest to copy them
 * (copyNode), and they are decoded then, once, as decodeLeaf decodes them.
 *
 * Why: a decoded leaf was four arrays and two views (a key's, a value's) per entry, some 45
 * objects for a leaf of 20 entries of 24-byte keys and 150-byte values; a page cache of 15,000
 * such leaves (bench:kv after its inserts) held about a million objects, which every full
 * collection marks. In bench:kv the collector's incremental marking took 127 ms of the 545 ms of
 * 100,000 point reads (--trace-gc). This is three objects: the node, its index and its page. With
 * it (and the index), bench:kv's point reads took 0.81-1.02x lmdb's time in 7 runs, where they had
 * taken 1.59-1.82x that day.
 *
 * Only for leaves whose keys are all in the page: a key in an overflow run must be read in before
 * the leaf can be searched (see PageStore.nodeOfPage), and such leaves (keys over
 * KEY_INLINE_BYTES_MAX bytes) decode as before. Every entry is checked as decodeLeaf checks it when
 * the leaf is made, so a malformed page is CorruptionError on its first read, as it was.
 */
export class PageLeaf implements LeafNode {
  readonly kind = 'leaf';
  pageId: number;
  txn: number;
  payloadBytes: number;
  readonly page: Uint8Array;
  /** keyPrefix of each entry's key, then where each entry starts in the page. */
  readonly index: Float64Array;
  #decoded: LeafNode | undefined;

  private constructor(page: Uint8Array, header: PageHeader, index: Float64Array, payloadBytes: number) {
    this.pageId = header.pageId;
    this.txn = header.txn;
    this.payloadBytes = payloadBytes;
    this.page = page;
    this.index = index;
    this.#decoded = undefined;
  }

  /** The leaf on a checked (or sealed) leaf page; undefined when a key of it is in an overflow run. */
  static of(page: Uint8Array, header: PageHeader, pageId: number): PageLeaf | undefined {
    const count = header.count;
    const reader = new PageReader(page, pageId);
    const index = new Float64Array(2 * count);
    for (let entry = 0; entry < count; entry++) {
      index[count + entry] = reader.offset;
      const flags = reader.uint8();
      const keyLength = reader.uint16();
      if (keyLength === 0 || keyLength > METASTORE_KEY_BYTES_MAX) reader.corrupt(`key length ${keyLength}`);
      reader.uint53();
      if (flags & FLAG_KEY_OVERFLOW) return undefined;
      const keyStart = reader.offset;
      reader.skip(keyLength);
      index[entry] = keyPrefixAt(page, keyStart, keyLength);
      if (flags & FLAG_VALUE_OVERFLOW) reader.overflowReference();
      else reader.skip(reader.uint16());
    }
    return new PageLeaf(page, header, index, reader.offset - PAGE_PAYLOAD_OFFSET);
  }

  /** Whether something asked for the leaf's arrays, so they were decoded: for tests and diagnostics. */
  get decoded(): boolean {
    return this.#decoded !== undefined;
  }

  /** Entries in the leaf. */
  get count(): number {
    return this.index.length >> 1;
  }

  /** Where each entry starts in the page, and where the last one ends: `count + 1` offsets. */
  entryOffsets(): number[] {
    const count = this.count;
    const offsets = Array.from(this.index.subarray(count));
    offsets.push(PAGE_PAYLOAD_OFFSET + this.payloadBytes);
    return offsets;
  }

  get keys(): Uint8Array[] {
    return this.#decode().keys;
  }

  get keyOverflows(): (OverflowReference | undefined)[] {
    return this.#decode().keyOverflows;
  }

  get versions(): number[] {
    return this.#decode().versions;
  }

  get values(): (Uint8Array | OverflowReference)[] {
    return this.#decode().values;
  }

  #decode(): LeafNode {
    this.#decoded ??= decodeLeaf(new PageReader(this.page, this.pageId), this.count);
    return this.#decoded;
  }
}

function decodeBranch(reader: PageReader, count: number): BranchNode {
  if (count < 1) reader.corrupt(`a branch with ${count} children`);
  const branch: BranchNode = { kind: 'branch', pageId: 0, txn: 0, keys: [], keyOverflows: [], children: [], payloadBytes: 0 };
  branch.children.push(reader.pageReference());
  for (let index = 1; index < count; index++) {
    const flags = reader.uint8();
    const keyLength = reader.uint16();
    if (keyLength === 0 || keyLength > METASTORE_KEY_BYTES_MAX) reader.corrupt(`separator length ${keyLength}`);
    if (flags & FLAG_KEY_OVERFLOW) {
      branch.keys.push(EMPTY);
      branch.keyOverflows.push(reader.overflowReference());
    } else {
      branch.keys.push(reader.bytes(keyLength));
      branch.keyOverflows.push(undefined);
    }
    branch.children.push(reader.pageReference());
  }
  return branch;
}

/** Sequential little-endian writes into a page's payload. */
export class PageWriter {
  readonly #page: Uint8Array;
  readonly #view: DataView;
  offset = PAGE_PAYLOAD_OFFSET;

  constructor(page: Uint8Array) {
    this.#page = page;
    this.#view = pageView(page);
  }

  uint8(value: number): void {
    this.#view.setUint8(this.offset, value);
    this.offset += 1;
  }

  uint16(value: number): void {
    this.#view.setUint16(this.offset, value, true);
    this.offset += 2;
  }

  uint32(value: number): void {
    this.#view.setUint32(this.offset, value, true);
    this.offset += 4;
  }

  uint53(value: number): void {
    writeUint53(this.#view, this.offset, value);
    this.offset += 8;
  }

  bytes(value: Uint8Array): void {
    this.#page.set(value, this.offset);
    this.offset += value.length;
  }

  /**
   * A view of bytes already written: the page never changes once sealed. Made with the
   * constructor, since subarray pays a species lookup per call and a leaf makes two per entry.
   */
  view(offset: number, length: number): Uint8Array {
    return new Uint8Array(this.#page.buffer, this.#page.byteOffset + offset, length);
  }

  pageReference(reference: PageReference): void {
    this.uint32(reference.pageId);
    this.uint53(reference.txn);
  }

  overflowReference(reference: OverflowReference): void {
    this.pageReference(reference);
    this.uint32(reference.lengthBytes);
  }
}

/**
 * Sequential reads from a page whose checksum already held. A field that runs past the page is
 * still CorruptionError (a page from a buggy or foreign writer), never an out-of-range read.
 */
export class PageReader {
  readonly #page: Uint8Array;
  readonly #view: DataView;
  readonly #pageId: number;
  offset = PAGE_PAYLOAD_OFFSET;

  constructor(page: Uint8Array, pageId: number) {
    this.#page = page;
    this.#view = pageView(page);
    this.#pageId = pageId;
  }

  uint8(): number {
    this.#need(1);
    return this.#view.getUint8(this.offset++);
  }

  uint16(): number {
    this.#need(2);
    const value = this.#view.getUint16(this.offset, true);
    this.offset += 2;
    return value;
  }

  uint32(): number {
    this.#need(4);
    const value = this.#view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  uint53(): number {
    this.#need(8);
    const value = readUint53(this.#view, this.offset);
    this.offset += 8;
    return value;
  }

  /** Passes over `length` bytes (that must lie inside the page) without reading them. */
  skip(length: number): void {
    this.#need(length);
    this.offset += length;
  }

  /** A view into the page: decoded nodes keep their page's buffer alive and never change it. */
  bytes(length: number): Uint8Array {
    this.#need(length);
    // The constructor, not subarray, which pays a species lookup per call (two per leaf entry).
    const value = new Uint8Array(this.#page.buffer, this.#page.byteOffset + this.offset, length);
    this.offset += length;
    return value;
  }

  pageReference(): PageReference {
    return { pageId: this.uint32(), txn: this.uint53() };
  }

  overflowReference(): OverflowReference {
    const { pageId, txn } = this.pageReference();
    const lengthBytes = this.uint32();
    if (lengthBytes === 0) this.corrupt('an empty overflow run');
    return { pageId, txn, lengthBytes };
  }

  corrupt(what: string): never {
    throw new CorruptionError(`page ${this.#pageId} is malformed: ${what} at offset ${this.offset}`);
  }

  #need(length: number): void {
    if (this.offset + length > PAGE_BYTES) this.corrupt(`a field of ${length} bytes runs past the page end`);
  }
}

// ---- leaf entries as bytes, for a merge that copies them from page to page (tree-merge.ts) ----

/** Where each entry of a checked leaf page starts, and past the last one: `count + 1` offsets. */
export function leafEntryOffsets(page: Uint8Array, count: number, pageId: number): number[] {
  const offsets = [PAGE_PAYLOAD_OFFSET];
  let offset = PAGE_PAYLOAD_OFFSET;
  for (let index = 0; index < count; index++) {
    offset += leafEntryBytesAt(page, offset);
    if (offset > PAGE_BYTES) throw new CorruptionError(`page ${pageId} is malformed: entry ${index} runs past the page end`);
    offsets.push(offset);
  }
  return offsets;
}

/** The encoded size of the leaf entry at `offset`. */
export function leafEntryBytesAt(page: Uint8Array, offset: number): number {
  const valueOffset = leafEntryValueOffset(page, offset);
  const valueBytes = page[offset]! & FLAG_VALUE_OVERFLOW ? OVERFLOW_REFERENCE_BYTES : 2 + (page[valueOffset]! | (page[valueOffset + 1]! << 8));
  return valueOffset - offset + valueBytes;
}

/** Where the value field of the leaf entry at `offset` starts: its length, or its overflow reference. */
function leafEntryValueOffset(page: Uint8Array, offset: number): number {
  const keyBytes = page[offset]! & FLAG_KEY_OVERFLOW ? OVERFLOW_REFERENCE_BYTES : page[offset + 1]! | (page[offset + 2]! << 8);
  return offset + LEAF_ENTRY_HEADER_BYTES + keyBytes;
}

/** Whether the entry at `offset` keeps its key in an overflow run (then its key is not in the page). */
export function leafEntryKeyOverflows(page: Uint8Array, offset: number): boolean {
  return (page[offset]! & FLAG_KEY_OVERFLOW) !== 0;
}

/** Compares the inline key of the entry at `offset` with `key`, as compareBytes would, without a view. */
export function compareLeafEntryKey(page: Uint8Array, offset: number, key: Uint8Array): number {
  const length = page[offset + 1]! | (page[offset + 2]! << 8);
  const start = offset + LEAF_ENTRY_HEADER_BYTES;
  const shared = Math.min(length, key.length);
  for (let index = 0; index < shared; index++) {
    const difference = page[start + index]! - key[index]!;
    if (difference !== 0) return difference;
  }
  return length - key.length;
}

/** A view of the inline key of the entry at `offset`. */
export function leafEntryKeyAt(page: Uint8Array, offset: number): Uint8Array {
  const length = page[offset + 1]! | (page[offset + 2]! << 8);
  return new Uint8Array(page.buffer, page.byteOffset + offset + LEAF_ENTRY_HEADER_BYTES, length);
}

/** The overflow runs the entry at `offset` owns: its key's and its value's, when they have one. */
export function leafEntryRunsAt(page: Uint8Array, offset: number, pageId: number): { key: OverflowReference | undefined; value: OverflowReference | undefined } {
  const flags = page[offset]!;
  // Most entries own none: no reader (and its DataView) for them.
  if ((flags & (FLAG_KEY_OVERFLOW | FLAG_VALUE_OVERFLOW)) === 0) return NO_RUNS;
  const reader = new PageReader(page, pageId);
  reader.offset = offset + LEAF_ENTRY_HEADER_BYTES;
  let key: OverflowReference | undefined;
  if (flags & FLAG_KEY_OVERFLOW) key = reader.overflowReference();
  else reader.offset += page[offset + 1]! | (page[offset + 2]! << 8);
  return { key, value: flags & FLAG_VALUE_OVERFLOW ? reader.overflowReference() : undefined };
}

const NO_RUNS: { readonly key: undefined; readonly value: undefined } = Object.freeze({ key: undefined, value: undefined });

/**
 * Encodes one leaf entry into `target` at `offset` (room for it checked by the caller); returns
 * its size. `keyOverflow`: the run holding `key` when it is too long to be inline. An inline entry
 * is written byte by byte, without a PageWriter: a merge encodes one per change.
 */
export function encodeLeafEntry(
  target: Uint8Array,
  offset: number,
  entry: { key: Uint8Array; keyOverflow: OverflowReference | undefined; version: number; value: Uint8Array | OverflowReference },
): number {
  const { key, value, version } = entry;
  if (entry.keyOverflow !== undefined || !(value instanceof Uint8Array)) return encodeLeafEntryWithRuns(target, offset, entry);
  // Flags (none), key length, version, key, value length, value.
  target[offset] = 0;
  setUint16(target, offset + 1, key.length);
  setUint53(target, offset + 3, version);
  let at = copyInto(target, offset + LEAF_ENTRY_HEADER_BYTES, key, 0, key.length);
  setUint16(target, at, value.length);
  at = copyInto(target, at + 2, value, 0, value.length);
  return at - offset;
}

/** encodeLeafEntry for an entry whose key or value lives in an overflow run. */
function encodeLeafEntryWithRuns(
  target: Uint8Array,
  offset: number,
  entry: { key: Uint8Array; keyOverflow: OverflowReference | undefined; version: number; value: Uint8Array | OverflowReference },
): number {
  const writer = new PageWriter(target);
  writer.offset = offset;
  const valueInline = entry.value instanceof Uint8Array;
  writer.uint8((entry.keyOverflow ? FLAG_KEY_OVERFLOW : 0) | (valueInline ? 0 : FLAG_VALUE_OVERFLOW));
  writer.uint16(entry.key.length);
  writer.uint53(entry.version);
  if (entry.keyOverflow) writer.overflowReference(entry.keyOverflow);
  else writer.bytes(entry.key);
  if (entry.value instanceof Uint8Array) {
    writer.uint16(entry.value.length);
    writer.bytes(entry.value);
  } else {
    writer.overflowReference(entry.value);
  }
  return writer.offset - offset;
}

// ---- leaf entries read in place, for point reads of cached leaves (tree-read.ts) ----

/** The version of the leaf entry at `offset`. */
export function leafEntryVersionAt(page: Uint8Array, offset: number): number {
  const at = offset + 3;
  const low = (page[at]! | (page[at + 1]! << 8) | (page[at + 2]! << 16) | (page[at + 3]! << 24)) >>> 0;
  const high = (page[at + 4]! | (page[at + 5]! << 8) | (page[at + 6]! << 16) | (page[at + 7]! << 24)) >>> 0;
  return high * 2 ** 32 + low;
}

/** A view of the inline value of the leaf entry at `offset`; undefined when it is in an overflow run. */
export function leafEntryInlineValueAt(page: Uint8Array, offset: number): Uint8Array | undefined {
  if (page[offset]! & FLAG_VALUE_OVERFLOW) return undefined;
  const lengthAt = leafEntryValueOffset(page, offset);
  return new Uint8Array(page.buffer, page.byteOffset + lengthAt + 2, page[lengthAt]! | (page[lengthAt + 1]! << 8));
}
