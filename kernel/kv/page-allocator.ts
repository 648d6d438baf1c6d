import { assert } from '../assert.ts';
import { FIRST_DATA_PAGE_ID, PAGE_ID_MAX } from './constants.ts';
import type { FreePage } from './freelist.ts';

/**
 * Free space of one write transaction. It starts from the committed freelist and splits it:
 *
 * - reusable: freed by a txn at or before `reuseThroughTxn`, the smaller of the last durable txn
 *   and the oldest txn a reader still pins. No reader can reach such a page, and no state recovery
 *   may fall back to uses it, so the transaction may overwrite it.
 * - retained: freed later; some snapshot, or the last durable state, may still need its contents.
 *
 * Pages this transaction stops using are either its own (allocated by it, never part of a committed
 * state: reusable at once) or committed ones (freed by this txn, retained until it is durable and
 * unpinned). New pages come from its own freed pages, then reusable ones, then the end of the file.
 */
export class PageAllocator {
  readonly #txn: number;
  #pageCount: number;
  readonly #reusable: FreePage[] = [];
  readonly #retained: FreePage[] = [];
  /** Pages allocated by this transaction and freed again by it. */
  readonly #ownFree: number[] = [];
  /** Committed pages this transaction stopped using. */
  readonly #freedCommitted: number[] = [];
  /** Pages this transaction allocated, to tell its own pages from committed ones. */
  readonly #allocated = new Set<number>();

  constructor(options: { txn: number; pageCount: number; freelist: readonly FreePage[]; reuseThroughTxn: number }) {
    assert(options.reuseThroughTxn < options.txn, 'a transaction reuses only pages freed before it');
    this.#txn = options.txn;
    this.#pageCount = options.pageCount;
    for (const entry of options.freelist) {
      if (entry.freedTxn <= options.reuseThroughTxn) this.#reusable.push(entry);
      else this.#retained.push(entry);
    }
    orderShortRunsLast(this.#reusable);
  }

  get pageCount(): number {
    return this.#pageCount;
  }

  /** Free pages in the freelist this transaction would write now. */
  get freeCount(): number {
    return this.#reusable.length + this.#retained.length + this.#ownFree.length + this.#freedCommitted.length;
  }

  allocate(): number {
    const pageId = this.#ownFree.pop() ?? this.#reusable.pop()?.pageId ?? this.#extend(1);
    this.#allocated.add(pageId);
    return pageId;
  }

  /** `count` contiguous pages, for an overflow run; the first page id. */
  allocateRun(count: number): number {
    assert(count >= 1, 'a run has at least one page');
    if (count === 1) return this.allocate();
    const first = this.#takeReusableRun(count) ?? this.#extend(count);
    for (let pageId = first; pageId < first + count; pageId++) this.#allocated.add(pageId);
    return first;
  }

  /** Stops using a page: the transaction's own pages are free at once, committed ones retained. */
  free(pageId: number): void {
    assert(pageId >= FIRST_DATA_PAGE_ID && pageId < this.#pageCount, `freeing page ${pageId} outside the store`);
    if (this.#allocated.delete(pageId)) this.#ownFree.push(pageId);
    else this.#freedCommitted.push(pageId);
  }

  /** The freelist to commit: everything free, with the txn that freed it. */
  freelistEntries(): FreePage[] {
    return [
      ...this.#retained,
      ...this.#reusable,
      // Never part of a committed state: reusable by the next transaction whatever it pins.
      ...this.#ownFree.map((pageId) => ({ pageId, freedTxn: 0 })),
      ...this.#freedCommitted.map((pageId) => ({ pageId, freedTxn: this.#txn })),
    ];
  }

  #extend(count: number): number {
    const first = this.#pageCount;
    assert(first + count - 1 <= PAGE_ID_MAX, 'the store is full: page ids exhausted');
    this.#pageCount += count;
    return first;
  }

  /** The first of `count` consecutive reusable pages, removed from the reusable set; or undefined. */
  #takeReusableRun(count: number): number | undefined {
    if (this.#reusable.length < count) return undefined;
    this.#reusable.sort((a, b) => a.pageId - b.pageId);
    let runStart = 0;
    for (let index = 1; index <= this.#reusable.length; index++) {
      if (index - runStart === count) {
        const first = this.#reusable[runStart]!.pageId;
        this.#reusable.splice(runStart, count);
        return first;
      }
      if (index < this.#reusable.length && this.#reusable[index]!.pageId !== this.#reusable[index - 1]!.pageId + 1) {
        runStart = index;
      }
    }
    return undefined;
  }
}

/**
 * Orders free pages so that `pop()` takes pages from the shortest runs of consecutive ids first:
 * single pages for tree nodes then leave long runs whole for overflow values of the same size.
 */
function orderShortRunsLast(pages: FreePage[]): void {
  if (pages.length < 2) return;
  pages.sort((a, b) => a.pageId - b.pageId);
  const runLengths = new Map<number, number>();
  let runStart = 0;
  for (let index = 1; index <= pages.length; index++) {
    if (index === pages.length || pages[index]!.pageId !== pages[index - 1]!.pageId + 1) {
      for (let member = runStart; member < index; member++) runLengths.set(pages[member]!.pageId, index - runStart);
      runStart = index;
    }
  }
  pages.sort((a, b) => runLengths.get(b.pageId)! - runLengths.get(a.pageId)! || a.pageId - b.pageId);
}
