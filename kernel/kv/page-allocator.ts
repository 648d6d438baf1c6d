import { assert } from '../assert.ts';
import { FIRST_DATA_PAGE_ID, PAGE_ID_MAX } from './constants.ts';
import type { FreeSpace } from './free-space.ts';
import type { FreePage, FreePageSink, FreelistDelta } from './freelist.ts';

/**
 * Page allocation for one write transaction, over the engine's FreeSpace.
 *
 * Pages the transaction stops using are either its own (allocated by it, never part of a committed
 * state: free again at once) or committed ones (freed by this txn: pending until this txn is
 * durable and no snapshot older than it is pinned; see FreeSpace). New pages come from its own
 * freed pages, then reusable ones, then the end of the file.
 *
 * Nothing is final until `commit()`: a transaction that fails before it writes calls `abandon()`,
 * which gives back every reusable page it took.
 */
export class PageAllocator {
  readonly #txn: number;
  readonly #space: FreeSpace;
  #pageCount: number;
  /** Pages allocated by this transaction and freed again by it. */
  readonly #ownFree: number[] = [];
  /** Committed pages this transaction stopped using, single pages and pages of overflow runs. */
  readonly #freedPages: number[] = [];
  readonly #freedRunPages: number[] = [];
  /** Pages this transaction allocated, to tell its own pages from committed ones. */
  readonly #allocated = new Set<number>();
  /** Reusable pages taken from the FreeSpace, to give back on abandon. */
  readonly #takenPages: number[] = [];
  readonly #takenRuns: { first: number; count: number }[] = [];

  constructor(options: { txn: number; pageCount: number; space: FreeSpace }) {
    this.#txn = options.txn;
    this.#space = options.space;
    this.#pageCount = options.pageCount;
  }

  get pageCount(): number {
    return this.#pageCount;
  }

  /** Free pages in the freelist this transaction would write now. */
  get freeCount(): number {
    return this.#space.count + this.#ownFree.length + this.#freedPages.length + this.#freedRunPages.length;
  }

  allocate(): number {
    let pageId = this.#ownFree.pop();
    if (pageId === undefined) {
      pageId = this.#space.takePage();
      if (pageId !== undefined) this.#takenPages.push(pageId);
    }
    pageId ??= this.#extend(1);
    this.#allocated.add(pageId);
    return pageId;
  }

  /** `count` contiguous pages, for an overflow run; the first page id. */
  allocateRun(count: number): number {
    assert(count >= 1, 'a run has at least one page');
    if (count === 1) return this.allocate();
    let first = this.#space.takeRun(count);
    if (first !== undefined) this.#takenRuns.push({ first, count });
    first ??= this.#extend(count);
    for (let pageId = first; pageId < first + count; pageId++) this.#allocated.add(pageId);
    return first;
  }

  /** Stops using a page: the transaction's own pages are free at once, committed ones pending. */
  free(pageId: number, partOfRun = false): void {
    assert(pageId >= FIRST_DATA_PAGE_ID && pageId < this.#pageCount, `freeing page ${pageId} outside the store`);
    if (this.#allocated.delete(pageId)) this.#ownFree.push(pageId);
    else if (partOfRun) this.#freedRunPages.push(pageId);
    else this.#freedPages.push(pageId);
  }

  /** Records this transaction's frees in the FreeSpace: call once its state is committed. */
  commit(): void {
    this.#space.addCommitted(this.#txn, {
      pageIds: this.#freedPages,
      runPageIds: this.#freedRunPages,
      ownPageIds: this.#ownFree,
    });
  }

  /** Gives back every reusable page taken: the transaction will not commit. */
  abandon(): void {
    this.#space.giveBack(this.#takenPages, this.#takenRuns);
  }

  /**
   * What this transaction changes in the committed freelist: the reusable pages it took leave it;
   * its own leftover pages (free to anyone) and the committed pages it freed join it.
   */
  freelistDelta(): FreelistDelta {
    const removed = [...this.#takenPages];
    for (const run of this.#takenRuns) {
      for (let pageId = run.first; pageId < run.first + run.count; pageId++) removed.push(pageId);
    }
    const added: FreePage[] = this.#ownFree.map((pageId) => ({ pageId, freedTxn: 0 }));
    for (const pageId of [...this.#freedPages, ...this.#freedRunPages]) {
      added.push({ pageId, freedTxn: this.#txn });
    }
    return { removed, added };
  }

  /** Streams the freelist this transaction commits: the FreeSpace's entries plus its own frees. */
  writeFreelist(encoder: FreePageSink): void {
    this.#space.forEachEntry((pageId, freedTxn) => encoder.add(pageId, freedTxn));
    // Never part of a committed state: reusable by the next transaction whatever it pins.
    for (const pageId of this.#ownFree) encoder.add(pageId, 0);
    for (const pageId of [...this.#freedPages, ...this.#freedRunPages]) {
      encoder.add(pageId, this.#txn);
    }
  }

  #extend(count: number): number {
    const first = this.#pageCount;
    assert(first + count - 1 <= PAGE_ID_MAX, 'the store is full: page ids exhausted');
    this.#pageCount += count;
    return first;
  }
}
