import { assert } from '../assert.ts';
import type { TreeNode } from './node.ts';

/**
 * A bounded cache of decoded tree nodes by page id, evicting with CLOCK: a hit only sets a bit
 * (cheaper than reordering an LRU list on every read, and reads hit far more often than they
 * miss), and the eviction hand gives every recently used node a second chance.
 *
 * Cached nodes are shared by every reader and never change. A page id can be rewritten only after
 * no reader can reach its old contents (see free-space.ts), and the writer replaces the entry when
 * it publishes the new contents; readers also check the txn their reference expects.
 */
export class PageCache {
  readonly #capacityPages: number;
  readonly #slotOf = new Map<number, number>();
  readonly #nodes: (TreeNode | undefined)[] = [];
  readonly #referenced: Uint8Array;
  #hand = 0;
  hits = 0;
  misses = 0;

  constructor(capacityPages: number) {
    assert(Number.isSafeInteger(capacityPages) && capacityPages > 0, 'a page cache holds at least one page');
    this.#capacityPages = capacityPages;
    this.#referenced = new Uint8Array(capacityPages);
  }

  get size(): number {
    return this.#slotOf.size;
  }

  /** The node for `pageId` if cached and written by `txn`; counts the hit or miss. */
  get(pageId: number, txn: number): TreeNode | undefined {
    const node = this.peek(pageId, txn);
    if (node === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#referenced[this.#slotOf.get(pageId)!] = 1;
    return node;
  }

  /** Like `get`, without counting or marking: for a second look after a counted miss. */
  peek(pageId: number, txn: number): TreeNode | undefined {
    const slot = this.#slotOf.get(pageId);
    if (slot === undefined) return undefined;
    const node = this.#nodes[slot]!;
    return node.txn === txn ? node : undefined;
  }

  set(node: TreeNode): void {
    let slot = this.#slotOf.get(node.pageId);
    if (slot === undefined) {
      slot = this.#nodes.length < this.#capacityPages ? this.#nodes.length : this.#evict();
      this.#slotOf.set(node.pageId, slot);
    }
    this.#nodes[slot] = node;
    this.#referenced[slot] = 1;
  }

  clear(): void {
    this.#slotOf.clear();
    this.#nodes.length = 0;
    this.#referenced.fill(0);
    this.#hand = 0;
  }

  /** Frees the first slot from the hand on whose bit is clear, clearing bits on the way. */
  #evict(): number {
    // Two sweeps at most: the first clears every bit it passes.
    for (let step = 0; step < 2 * this.#capacityPages + 1; step++) {
      const slot = this.#hand;
      this.#hand = (this.#hand + 1) % this.#capacityPages;
      if (this.#referenced[slot] === 1) {
        this.#referenced[slot] = 0;
        continue;
      }
      this.#slotOf.delete(this.#nodes[slot]!.pageId);
      return slot;
    }
    assert(false, 'the clock found no slot to evict');
  }
}
