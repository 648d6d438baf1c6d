import { assert } from '../assert.ts';
import { PAGE_PAYLOAD_BYTES } from './constants.ts';
import { PAGE_REFERENCE_BYTES, type PageReference } from './node.ts';
import { PageReader, PageWriter } from './node-codec.ts';
import { PAGE_KIND, newPage, openPage, sealPage } from './page-format.ts';

/**
 * The freelist: every page the committed state does not use, with the txn that freed it. It is
 * written whole, as a chain of pages, by every write transaction that changes it (copy-on-write
 * like the tree: the old chain's pages are themselves freed by that transaction).
 *
 * A freelist page holds the reference to the next page of the chain (page id 0: the last), then
 * `count` entries of page id u32 and freeing txn u64.
 */
export interface FreePage {
  pageId: number;
  /** The write transaction that stopped using the page (0: no committed state ever used it). */
  freedTxn: number;
}

const FREE_PAGE_BYTES = 12;

export const FREELIST_ENTRIES_PER_PAGE = Math.floor((PAGE_PAYLOAD_BYTES - PAGE_REFERENCE_BYTES) / FREE_PAGE_BYTES);

export function freelistPagesNeeded(entryCount: number): number {
  return Math.ceil(entryCount / FREELIST_ENTRIES_PER_PAGE);
}

/** The sealed pages of a freelist written to `pageIds` by `txn`, each pointing at the next. */
export function encodeFreelist(
  chainPageIds: readonly number[],
  entries: { pageIds: readonly number[]; freedTxns: readonly number[] },
  txn: number,
): Uint8Array[] {
  const entryCount = entries.pageIds.length;
  assert(entries.freedTxns.length === entryCount, 'a freeing txn for every free page');
  assert(chainPageIds.length >= freelistPagesNeeded(entryCount), 'a freelist chain has room for every entry');
  return chainPageIds.map((pageId, index) => {
    const first = Math.min(entryCount, index * FREELIST_ENTRIES_PER_PAGE);
    const end = Math.min(entryCount, first + FREELIST_ENTRIES_PER_PAGE);
    const page = newPage({ kind: PAGE_KIND.freelist, count: end - first, pageId, txn });
    const writer = new PageWriter(page);
    const next = chainPageIds[index + 1];
    writer.pageReference({ pageId: next ?? 0, txn: next === undefined ? 0 : txn });
    for (let entry = first; entry < end; entry++) {
      writer.uint32(entries.pageIds[entry]!);
      writer.uint53(entries.freedTxns[entry]!);
    }
    return sealPage(page);
  });
}

/** One page of the chain, checked; `next` is undefined on the last page. */
export function decodeFreelistPage(
  page: Uint8Array,
  expected: PageReference,
): { entries: FreePage[]; next: PageReference | undefined } {
  const header = openPage(page, { pageId: expected.pageId, kind: PAGE_KIND.freelist, txn: expected.txn });
  const reader = new PageReader(page, expected.pageId);
  const next = reader.pageReference();
  if (header.count > FREELIST_ENTRIES_PER_PAGE) reader.corrupt(`${header.count} freelist entries`);
  const entries: FreePage[] = [];
  for (let index = 0; index < header.count; index++) entries.push({ pageId: reader.uint32(), freedTxn: reader.uint53() });
  return { entries, next: next.pageId === 0 ? undefined : next };
}
