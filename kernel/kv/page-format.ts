import { CorruptionError } from '../errors.ts';
import { assert } from '../assert.ts';
import { crc32c } from './crc32c.ts';
import { FORMAT_VERSION, PAGE_BYTES, PAGE_HEADER_BYTES, PAGE_ID_MAX, PAGE_SLAB_PAGES } from './constants.ts';

/**
 * The header every page starts with, and the checksum that seals it.
 *
 * ```
 * offset  size  field
 *      0     4  CRC-32C of bytes [4, PAGE_BYTES): everything but the checksum itself
 *      4     1  kind (PAGE_KIND)
 *      5     1  format version
 *      6     2  count: entries (leaf, branch separators + 1, freelist), 0 otherwise
 *      8     4  page id: where the page belongs, so a page written to the wrong place is caught
 *     12     8  txn: the write transaction that wrote the page
 *     20     4  reserved, zero
 * ```
 *
 * Integers are little-endian. Transaction ids and versions are below 2^53 and stored as 8 bytes
 * (low word, then high word).
 */

export const PAGE_KIND = { meta: 1, branch: 2, leaf: 3, overflow: 4, freelist: 5, freelistDelta: 6 } as const;
export type PageKind = (typeof PAGE_KIND)[keyof typeof PAGE_KIND];

const CHECKSUM_OFFSET = 0;
const KIND_OFFSET = 4;
/** Where the kind byte is, for decoders that choose what to expect by it before checking the page. */
export const PAGE_KIND_OFFSET = KIND_OFFSET;
const FORMAT_OFFSET = 5;
const COUNT_OFFSET = 6;
const PAGE_ID_OFFSET = 8;
const TXN_OFFSET = 12;
const TWO_TO_THE_32 = 0x1_0000_0000;

export interface PageHeader {
  kind: PageKind;
  count: number;
  pageId: number;
  txn: number;
}

/** What a reader expects of a page it reads; any mismatch is corruption. */
export interface PageExpectation {
  pageId: number;
  kind: PageKind;
  /** The txn the reference to the page recorded; undefined for the meta slots, which have none. */
  txn: number | undefined;
}

export function pageView(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.byteLength);
}

export function writeUint53(view: DataView, offset: number, value: number): void {
  // The message is built only on failure: every version and txn written passes here.
  if (!(Number.isSafeInteger(value) && value >= 0)) assert(false, `not a non-negative safe integer: ${value}`);
  view.setUint32(offset, value % TWO_TO_THE_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_TO_THE_32), true);
}

export function readUint53(view: DataView, offset: number): number {
  const value = view.getUint32(offset + 4, true) * TWO_TO_THE_32 + view.getUint32(offset, true);
  if (!Number.isSafeInteger(value)) throw new CorruptionError(`page field at offset ${offset} exceeds 2^53`);
  return value;
}

/** The slab new pages are cut from, and how many of its bytes are handed out. */
let slab = new ArrayBuffer(0);
let slabUsedBytes = 0;

/**
 * A zeroed page cut from a slab of PAGE_SLAB_PAGES pages. Why: a 4 KiB Uint8Array of its own
 * costs an external allocation the collector tracks one by one (measured: 60 µs each on a busy
 * machine, 17x the cost of a slab's share), and a merge encodes thousands of pages. The price: a
 * cached node keeps its whole slab alive, at most PAGE_SLAB_PAGES times its page.
 */
function allocatePage(): Uint8Array {
  if (slabUsedBytes === slab.byteLength) {
    slab = new ArrayBuffer(PAGE_BYTES * PAGE_SLAB_PAGES);
    slabUsedBytes = 0;
  }
  const page = new Uint8Array(slab, slabUsedBytes, PAGE_BYTES);
  slabUsedBytes += PAGE_BYTES;
  return page;
}

/** A zeroed page with its header filled in; the caller writes the payload, then seals it. */
export function newPage(header: PageHeader): Uint8Array {
  if (!(header.pageId >= 0 && header.pageId <= PAGE_ID_MAX)) assert(false, `page id out of range: ${header.pageId}`);
  if (!(header.count >= 0 && header.count <= 0xffff)) assert(false, `page count out of range: ${header.count}`);
  const page = allocatePage();
  // Byte by byte rather than through a DataView: a merge makes thousands of pages, and a view
  // costs an allocation each (a fifth of the time a merge spent making pages).
  page[KIND_OFFSET] = header.kind;
  page[FORMAT_OFFSET] = FORMAT_VERSION;
  setUint16(page, COUNT_OFFSET, header.count);
  setUint32(page, PAGE_ID_OFFSET, header.pageId);
  setUint53(page, TXN_OFFSET, header.txn);
  return page;
}

/** Sets the entry count of a page whose payload was written before the count was known. */
export function setPageCount(page: Uint8Array, count: number): void {
  assert(count >= 0 && count <= 0xffff, `page count out of range: ${count}`);
  pageView(page).setUint16(COUNT_OFFSET, count, true);
}

/** Computes and stores the checksum. Nothing may change the page afterwards. */
export function sealPage(page: Uint8Array): Uint8Array {
  assert(page.length === PAGE_BYTES, 'a page is PAGE_BYTES long');
  setUint32(page, CHECKSUM_OFFSET, crc32c(page.subarray(KIND_OFFSET)));
  return page;
}

/**
 * Checks a page read back from storage: its checksum first (so nothing else is read from a torn
 * or corrupted page), then that it is the page, of the kind and transaction, the reader expected.
 * Any failure is CorruptionError: such bytes are never returned as data.
 */
export function openPage(page: Uint8Array, expected: PageExpectation): PageHeader {
  const where = `page ${expected.pageId}`;
  if (page.length !== PAGE_BYTES) {
    throw new CorruptionError(`${where} is cut short: read ${page.length} of ${PAGE_BYTES} bytes`);
  }
  const view = pageView(page);
  const stored = view.getUint32(CHECKSUM_OFFSET, true);
  const computed = crc32c(page.subarray(KIND_OFFSET));
  if (stored !== computed) {
    throw new CorruptionError(`${where} fails its checksum: stored ${hex(stored)}, computed ${hex(computed)}`);
  }
  const header = readHeader(view);
  if (view.getUint8(FORMAT_OFFSET) !== FORMAT_VERSION) {
    throw new CorruptionError(`${where} has format ${view.getUint8(FORMAT_OFFSET)}, expected ${FORMAT_VERSION}`);
  }
  if (header.pageId !== expected.pageId) throw new CorruptionError(`${where} holds the contents of page ${header.pageId}`);
  if (header.kind !== expected.kind) {
    throw new CorruptionError(`${where} is of kind ${header.kind}, expected kind ${expected.kind}`);
  }
  if (expected.txn !== undefined && header.txn !== expected.txn) {
    throw new CorruptionError(`${where} was written by txn ${header.txn}, but its reference expects txn ${expected.txn}`);
  }
  return header;
}

/** The header of a page this process built and sealed: nothing in it is checked again. */
export function sealedPageHeader(page: Uint8Array): PageHeader {
  assert(page.length === PAGE_BYTES, 'a page is PAGE_BYTES long');
  return readHeader(pageView(page));
}

function readHeader(view: DataView): PageHeader {
  return {
    kind: view.getUint8(KIND_OFFSET) as PageKind,
    count: view.getUint16(COUNT_OFFSET, true),
    pageId: view.getUint32(PAGE_ID_OFFSET, true),
    txn: readUint53(view, TXN_OFFSET),
  };
}

// Byte by byte rather than through a DataView, for what is written per page or per entry: a view
// costs an allocation each.

/** Stores `value` (below 2^16) little-endian at `offset`. */
export function setUint16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = value >>> 8;
}

/** Stores `value` (below 2^32) little-endian at `offset`. */
function setUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >>> 8) & 0xff;
  bytes[offset + 2] = (value >>> 16) & 0xff;
  bytes[offset + 3] = value >>> 24;
}

/** writeUint53 without a DataView: `value` little-endian in 8 bytes at `offset`. */
export function setUint53(bytes: Uint8Array, offset: number, value: number): void {
  // The message is built only on failure: every version and txn written passes here.
  if (!(Number.isSafeInteger(value) && value >= 0)) assert(false, `not a non-negative safe integer: ${value}`);
  setUint32(bytes, offset, value % TWO_TO_THE_32);
  setUint32(bytes, offset + 4, Math.floor(value / TWO_TO_THE_32));
}

export function pageOffsetBytes(pageId: number): number {
  return pageId * PAGE_BYTES;
}

export const PAGE_PAYLOAD_OFFSET = PAGE_HEADER_BYTES;

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/** Runs of bytes up to this long are copied by a loop rather than `set` (see copyInto). */
const COPY_LOOP_BYTES_MAX = 64;

/**
 * Copies `source[start, stop)` into `target` at `offset`; returns the offset after it. Short runs
 * byte by byte: `set` costs a view and a call into the runtime each, more than the copy of an
 * entry or two, and a merged page is mostly such runs.
 */
export function copyInto(target: Uint8Array, offset: number, source: Uint8Array, start: number, stop: number): number {
  if (stop - start > COPY_LOOP_BYTES_MAX) {
    // A whole source (an entry's value, say) as it is, without a view of it.
    target.set(start === 0 && stop === source.length ? source : source.subarray(start, stop), offset);
    return offset + stop - start;
  }
  for (let index = start; index < stop; index++) target[offset++] = source[index]!;
  return offset;
}
