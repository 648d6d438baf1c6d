import { assert } from '../assert.ts';
import { PAGE_PAYLOAD_BYTES } from './constants.ts';
import { PAGE_REFERENCE_BYTES, type PageReference } from './node.ts';
import { PageReader, PageWriter } from './node-codec.ts';
import { PAGE_KIND, newPage, openPage, sealPage, setPageCount } from './page-format.ts';

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

/** Where a freelist is written to, one free page at a time. */
export interface FreePageSink {
  add(pageId: number, freedTxn: number): void;
}

/**
 * Writes a freelist into the chain pages `chainPageIds` (by `txn`), one entry at a time, so the
 * engine streams its free pages into pages without building an intermediate list.
 */
export class FreelistEncoder implements FreePageSink {
  readonly #chainPageIds: readonly number[];
  readonly #txn: number;
  readonly #pages: Uint8Array[] = [];
  #writer: PageWriter | undefined;
  #countInPage = 0;

  constructor(chainPageIds: readonly number[], txn: number) {
    this.#chainPageIds = chainPageIds;
    this.#txn = txn;
  }

  add(pageId: number, freedTxn: number): void {
    if (this.#writer === undefined || this.#countInPage === FREELIST_ENTRIES_PER_PAGE) this.#startPage();
    this.#writer!.uint32(pageId);
    this.#writer!.uint53(freedTxn);
    this.#countInPage++;
  }

  /** The sealed pages, one per chain page id (trailing ones empty), each pointing at the next. */
  finish(): Uint8Array[] {
    this.#closePage();
    while (this.#pages.length < this.#chainPageIds.length) {
      this.#startPage();
      this.#closePage();
    }
    return this.#pages.map(sealPage);
  }

  #startPage(): void {
    this.#closePage();
    const index = this.#pages.length;
    const pageId = this.#chainPageIds[index];
    assert(pageId !== undefined, 'the freelist chain has room for every entry');
    const page = newPage({ kind: PAGE_KIND.freelist, count: 0, pageId, txn: this.#txn });
    const next = this.#chainPageIds[index + 1];
    this.#writer = new PageWriter(page);
    this.#writer.pageReference({ pageId: next ?? 0, txn: next === undefined ? 0 : this.#txn });
    this.#pages.push(page);
    this.#countInPage = 0;
  }

  #closePage(): void {
    if (this.#writer === undefined) return;
    setPageCount(this.#pages.at(-1)!, this.#countInPage);
    this.#writer = undefined;
  }
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
