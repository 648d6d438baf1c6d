import { assert } from '../assert.ts';
import type { FreePage } from './freelist.ts';

/** Pages one txn freed that wait to be reusable: pages freed one by one, and pages of runs. */
interface PendingFrees {
  freedTxn: number;
  pageIds: number[];
  runPageIds: number[];
}

/**
 * The engine's free pages, kept across write transactions so that a transaction's cost does not
 * grow with the size of the freelist.
 *
 * - reusable: no committed state a reader or recovery may use reaches these pages. Pages freed one
 *   by one (tree nodes, freelist pages) and pages freed as overflow runs are kept apart, so that
 *   single-page allocations do not cut up the runs that the next large value of the same size
 *   needs.
 * - pending: pages freed by a txn that is not yet durable, or that a pinned snapshot may still
 *   read, grouped by that txn in ascending order. `promote` moves them to reusable once allowed.
 *
 * A page that became reusable stays reusable: the threshold only grows (durable txns grow, and a
 * new snapshot pins a state newer than every page freed so far).
 */
export class FreeSpace {
  readonly #singles: number[] = [];
  /** Pages of freed overflow runs, sorted lazily when a run is asked for. */
  #runPages: number[] = [];
  #runPagesSorted = true;
  readonly #pending: PendingFrees[] = [];
  #pendingCount = 0;

  /** Starts from a freelist read at open, where `reuseThroughTxn` is the recovered txn. */
  static fromFreelist(entries: readonly FreePage[], reuseThroughTxn: number): FreeSpace {
    const space = new FreeSpace();
    const reusable = entries.filter((entry) => entry.freedTxn <= reuseThroughTxn).map((entry) => entry.pageId);
    space.#addReusable(reusable);
    const later = entries.filter((entry) => entry.freedTxn > reuseThroughTxn).sort((a, b) => a.freedTxn - b.freedTxn);
    for (const entry of later) space.#pendingFor(entry.freedTxn).pageIds.push(entry.pageId);
    space.#pendingCount = later.length;
    return space;
  }

  get count(): number {
    return this.#singles.length + this.#runPages.length + this.#pendingCount;
  }

  /** Makes the pages freed by txns up to `reuseThroughTxn` reusable. */
  promote(reuseThroughTxn: number): void {
    const queue = this.#pending;
    while (queue.length > 0 && queue[0]!.freedTxn <= reuseThroughTxn) {
      const batch = queue.shift()!;
      this.#pendingCount -= batch.pageIds.length + batch.runPageIds.length;
      for (const pageId of batch.pageIds) this.#singles.push(pageId);
      if (batch.runPageIds.length > 0) {
        for (const pageId of batch.runPageIds) this.#runPages.push(pageId);
        this.#runPagesSorted = false;
      }
    }
  }

  /** A reusable page, preferring single pages to pieces of runs; undefined when none is left. */
  takePage(): number | undefined {
    return this.#singles.pop() ?? this.#runPages.pop();
  }

  /** The first of `count` consecutive reusable pages, taken; undefined when there is no such run. */
  takeRun(count: number): number | undefined {
    if (this.#runPages.length < count) return undefined;
    if (!this.#runPagesSorted) {
      this.#runPages.sort((a, b) => a - b);
      this.#runPagesSorted = true;
    }
    const pages = this.#runPages;
    let runStart = 0;
    for (let index = 1; index <= pages.length; index++) {
      if (index - runStart === count) {
        const first = pages[runStart]!;
        pages.splice(runStart, count);
        return first;
      }
      if (index < pages.length && pages[index] !== pages[index - 1]! + 1) runStart = index;
    }
    return undefined;
  }

  /** Gives back pages taken by a transaction that did not commit. */
  giveBack(singlePageIds: readonly number[], runs: readonly { first: number; count: number }[]): void {
    for (const pageId of singlePageIds) this.#singles.push(pageId);
    for (const run of runs) {
      for (let pageId = run.first; pageId < run.first + run.count; pageId++) this.#runPages.push(pageId);
      this.#runPagesSorted = false;
    }
  }

  /** Records a committed transaction's frees: its own leftover pages are reusable at once. */
  addCommitted(
    txn: number,
    freed: { pageIds: number[]; runPageIds: number[]; ownPageIds: number[] },
  ): void {
    assert(this.#pending.length === 0 || this.#pending.at(-1)!.freedTxn < txn, 'frees are recorded in txn order');
    this.#addReusable(freed.ownPageIds);
    if (freed.pageIds.length + freed.runPageIds.length === 0) return;
    this.#pending.push({ freedTxn: txn, pageIds: freed.pageIds, runPageIds: freed.runPageIds });
    this.#pendingCount += freed.pageIds.length + freed.runPageIds.length;
  }

  /** Calls `add` for every free page with the txn that freed it (0 for reusable ones). */
  forEachEntry(add: (pageId: number, freedTxn: number) => void): void {
    for (const pageId of this.#singles) add(pageId, 0);
    for (const pageId of this.#runPages) add(pageId, 0);
    for (const batch of this.#pending) {
      for (const pageId of batch.pageIds) add(pageId, batch.freedTxn);
      for (const pageId of batch.runPageIds) add(pageId, batch.freedTxn);
    }
  }

  /** Sorts pages into singles and runs by whether a neighbour is free too. */
  #addReusable(pageIds: readonly number[]): void {
    const free = new Set(pageIds);
    for (const pageId of pageIds) {
      if (free.has(pageId - 1) || free.has(pageId + 1)) {
        this.#runPages.push(pageId);
        this.#runPagesSorted = false;
      } else {
        this.#singles.push(pageId);
      }
    }
  }

  #pendingFor(freedTxn: number): PendingFrees {
    const last = this.#pending.at(-1);
    if (last !== undefined && last.freedTxn === freedTxn) return last;
    const batch = { freedTxn, pageIds: [], runPageIds: [] };
    this.#pending.push(batch);
    return batch;
  }
}
