import { assert } from '../assert.ts';
import { PAGE_BYTES, PAGE_PAYLOAD_BYTES } from './constants.ts';
import type { OverflowReference } from './node.ts';
import { PAGE_KIND, PAGE_PAYLOAD_OFFSET, newPage, openPage, sealPage } from './page-format.ts';

/**
 * Overflow runs: a key or value too large for its node, in contiguous pages so that it is read in
 * one call and freed without reading it. Each page has its own header and checksum, so a torn run
 * is caught page by page; the payload fills each page after the header, the last one partly.
 */

export function overflowPageCount(lengthBytes: number): number {
  assert(lengthBytes > 0, 'an overflow run holds at least one byte');
  return Math.ceil(lengthBytes / PAGE_PAYLOAD_BYTES);
}

/** The sealed pages of a run, as one buffer to write at the first page's offset. */
export function encodeOverflowRun(reference: OverflowReference, bytes: Uint8Array): Uint8Array {
  assert(bytes.length === reference.lengthBytes, 'an overflow run holds exactly its bytes');
  const pageCount = overflowPageCount(bytes.length);
  const run = new Uint8Array(pageCount * PAGE_BYTES);
  for (let index = 0; index < pageCount; index++) {
    const page = newPage({ kind: PAGE_KIND.overflow, count: 0, pageId: reference.pageId + index, txn: reference.txn });
    const chunk = bytes.subarray(index * PAGE_PAYLOAD_BYTES, (index + 1) * PAGE_PAYLOAD_BYTES);
    page.set(chunk, PAGE_PAYLOAD_OFFSET);
    run.set(sealPage(page), index * PAGE_BYTES);
  }
  return run;
}

/** The bytes of a run read back in one buffer; every page is checked (CorruptionError otherwise). */
export function decodeOverflowRun(run: Uint8Array, reference: OverflowReference): Uint8Array {
  const pageCount = overflowPageCount(reference.lengthBytes);
  const bytes = new Uint8Array(reference.lengthBytes);
  for (let index = 0; index < pageCount; index++) {
    const page = run.subarray(index * PAGE_BYTES, (index + 1) * PAGE_BYTES);
    openPage(page, { pageId: reference.pageId + index, kind: PAGE_KIND.overflow, txn: reference.txn });
    const start = index * PAGE_PAYLOAD_BYTES;
    const length = Math.min(PAGE_PAYLOAD_BYTES, reference.lengthBytes - start);
    bytes.set(page.subarray(PAGE_PAYLOAD_OFFSET, PAGE_PAYLOAD_OFFSET + length), start);
  }
  return bytes;
}
