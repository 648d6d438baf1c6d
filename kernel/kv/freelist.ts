import { assert } from '../assert.ts';
import { CorruptionError } from '../errors.ts';
import { PAGE_BYTES, PAGE_PAYLOAD_BYTES } from './constants.ts';
import { PAGE_REFERENCE_BYTES, type PageReference } from './node.ts';
import { PageReader, PageWriter } from './node-codec.ts';
import { PAGE_KIND, PAGE_KIND_OFFSET, newPage, openPage, sealPage, setPageCount } from './page-format.ts';

/**
 * The freelist: every page the committed state does not use, with the txn that freed it.
 *
 * A short freelist lives inline in the meta page. A longer one is a chain of pages, newest first:
 * delta pages, each written by one write transaction, then the base pages of a full copy. Writing
 * the whole list on every commit would cost each commit the size of the freelist (a megabyte per
 * commit once a store has 90,000 free pages); a delta costs what the commit changed. Once the
 * delta pages outnumber the base pages (or `FREELIST_DELTA_PAGES_MIN`), a commit writes a new base
 * instead, so a chain stays at most about twice the size of a full copy and opening stays cheap.
 * Chains are copy-on-write like the tree: a commit that writes a new base frees the old chain.
 *
 * Every chain page holds the reference to the next (older) page (page id 0: the last), then:
 * - a base page: `count` entries of page id u32 and freeing txn u64;
 * - a delta page: removed count u16, then that many page ids u32 (pages leaving the freelist), then
 *   `count` added entries (page id u32, freeing txn u64). Removals apply before additions.
 * Loading applies the base, then the deltas from the oldest; a removal of a page that is not free,
 * or an addition of one that is, is CorruptionError.
 */
export interface FreePage {
  pageId: number;
  /** The write transaction that stopped using the page (0: no committed state ever used it). */
  freedTxn: number;
}

const FREE_PAGE_BYTES = 12;
const REMOVED_PAGE_BYTES = 4;
const REMOVED_COUNT_BYTES = 2;

export const FREELIST_ENTRIES_PER_PAGE = Math.floor((PAGE_PAYLOAD_BYTES - PAGE_REFERENCE_BYTES) / FREE_PAGE_BYTES);

/** Payload bytes a delta page has for its records. */
const DELTA_RECORD_BYTES = PAGE_PAYLOAD_BYTES - PAGE_REFERENCE_BYTES - REMOVED_COUNT_BYTES;

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

/** What one write transaction changed in the freelist. */
export interface FreelistDelta {
  /** Pages that left the freelist (taken for reuse), applied first. */
  removed: number[];
  added: FreePage[];
}

/** Delta pages needed for `removedCount` removals and `addedCount` additions, packed in order. */
export function freelistDeltaPagesNeeded(removedCount: number, addedCount: number): number {
  if (removedCount + addedCount === 0) return 0;
  return packDelta(removedCount, addedCount).length;
}

/** How many removals and additions each delta page takes, filling pages in order. */
function packDelta(removedCount: number, addedCount: number): { removed: number; added: number }[] {
  const pages: { removed: number; added: number }[] = [];
  let removedLeft = removedCount;
  let addedLeft = addedCount;
  while (removedLeft + addedLeft > 0) {
    const removed = Math.min(removedLeft, Math.floor(DELTA_RECORD_BYTES / REMOVED_PAGE_BYTES));
    const roomLeft = DELTA_RECORD_BYTES - removed * REMOVED_PAGE_BYTES;
    const added = Math.min(addedLeft, Math.floor(roomLeft / FREE_PAGE_BYTES));
    pages.push({ removed, added });
    removedLeft -= removed;
    addedLeft -= added;
  }
  return pages;
}

/**
 * The delta pages of one transaction (`txn`) in the pages `pageIds` (at least as many as
 * `freelistDeltaPagesNeeded` says; spare ones are written empty), chained so that the last is the newest and the first points at
 * `previous`, the chain's head before this transaction. Returns the sealed pages, one per id.
 */
export function encodeFreelistDelta(
  delta: FreelistDelta,
  options: { pageIds: readonly number[]; txn: number; previous: PageReference },
): Uint8Array[] {
  const packing = packDelta(delta.removed.length, delta.added.length);
  assert(packing.length <= options.pageIds.length, 'a freelist delta gets the pages it needs');
  while (packing.length < options.pageIds.length) packing.push({ removed: 0, added: 0 });
  let removedAt = 0;
  let addedAt = 0;
  return packing.map(({ removed, added }, index) => {
    const pageId = options.pageIds[index]!;
    const page = newPage({ kind: PAGE_KIND.freelistDelta, count: added, pageId, txn: options.txn });
    const writer = new PageWriter(page);
    writer.pageReference(index === 0 ? options.previous : { pageId: options.pageIds[index - 1]!, txn: options.txn });
    writer.uint16(removed);
    for (const pageId of delta.removed.slice(removedAt, removedAt + removed)) writer.uint32(pageId);
    for (const entry of delta.added.slice(addedAt, addedAt + added)) {
      writer.uint32(entry.pageId);
      writer.uint53(entry.freedTxn);
    }
    removedAt += removed;
    addedAt += added;
    return sealPage(page);
  });
}

/** One page of a chain, decoded. */
export type FreelistChainPage =
  | { kind: 'base'; entries: FreePage[]; next: PageReference | undefined }
  | { kind: 'delta'; delta: FreelistDelta; next: PageReference | undefined };

/** One page of the chain, checked (base or delta); `next` is undefined on the last page. */
export function decodeFreelistChainPage(page: Uint8Array, expected: PageReference): FreelistChainPage {
  const kind = page.length === PAGE_BYTES && page[PAGE_KIND_OFFSET] === PAGE_KIND.freelistDelta ? PAGE_KIND.freelistDelta : PAGE_KIND.freelist;
  const header = openPage(page, { pageId: expected.pageId, kind, txn: expected.txn });
  const reader = new PageReader(page, expected.pageId);
  const nextReference = reader.pageReference();
  const next = nextReference.pageId === 0 ? undefined : nextReference;
  if (next !== undefined && next.txn > header.txn) reader.corrupt('a freelist page points at a newer one');
  if (kind === PAGE_KIND.freelist) {
    if (header.count > FREELIST_ENTRIES_PER_PAGE) reader.corrupt(`${header.count} freelist entries`);
    return { kind: 'base', entries: readEntries(reader, header.count), next };
  }
  const removedCount = reader.uint16();
  if (removedCount * REMOVED_PAGE_BYTES + header.count * FREE_PAGE_BYTES > DELTA_RECORD_BYTES) {
    reader.corrupt(`a freelist delta of ${removedCount} removals and ${header.count} additions`);
  }
  const removed: number[] = [];
  for (let index = 0; index < removedCount; index++) removed.push(reader.uint32());
  return { kind: 'delta', delta: { removed, added: readEntries(reader, header.count) }, next };
}

/** One base page of the chain, checked; `next` is undefined on the last page. */
export function decodeFreelistPage(
  page: Uint8Array,
  expected: PageReference,
): { entries: FreePage[]; next: PageReference | undefined } {
  const decoded = decodeFreelistChainPage(page, expected);
  if (decoded.kind !== 'base') throw new CorruptionError(`page ${expected.pageId} is a freelist delta, expected a base page`);
  return { entries: decoded.entries, next: decoded.next };
}

function readEntries(reader: PageReader, count: number): FreePage[] {
  const entries: FreePage[] = [];
  for (let index = 0; index < count; index++) entries.push({ pageId: reader.uint32(), freedTxn: reader.uint53() });
  return entries;
}

/**
 * The freelist a chain describes. `pages` are the chain's pages in chain order (newest first):
 * delta pages, then base pages. CorruptionError when the chain is out of order or a delta does not
 * fit the list it applies to.
 */
export function applyFreelistChain(pages: readonly FreelistChainPage[], pageIds: readonly number[]): { entries: FreePage[]; basePageCount: number } {
  const firstBase = pages.findIndex((page) => page.kind === 'base');
  const basePageCount = firstBase === -1 ? 0 : pages.length - firstBase;
  const free = new Map<number, number>();
  for (let index = pages.length - 1; index >= 0; index--) {
    const page = pages[index]!;
    if (page.kind === 'base') {
      for (const entry of page.entries) addFree(free, entry, pageIds[index]!);
      continue;
    }
    if (firstBase !== -1 && index > firstBase) throw new CorruptionError(`freelist delta page ${pageIds[index]} follows a base page`);
    for (const pageId of page.delta.removed) {
      if (!free.delete(pageId)) throw new CorruptionError(`freelist delta page ${pageIds[index]} removes page ${pageId}, which is not free`);
    }
    for (const entry of page.delta.added) addFree(free, entry, pageIds[index]!);
  }
  return { entries: [...free].map(([pageId, freedTxn]) => ({ pageId, freedTxn })), basePageCount };
}

function addFree(free: Map<number, number>, entry: FreePage, chainPageId: number): void {
  if (free.has(entry.pageId)) throw new CorruptionError(`freelist page ${chainPageId} lists page ${entry.pageId} twice`);
  free.set(entry.pageId, entry.freedTxn);
}
