import { assert } from '../assert.ts';
import type { TreeNode } from './node.ts';

/**
 * A bounded cache of decoded tree nodes by page id, least recently used first out. A Map keeps
 * insertion order, so moving an entry to the end on every hit makes its first key the victim.
 *
 * Cached nodes are shared by every reader and never change. A page id can be rewritten only after
 * no reader can reach its old contents (see allocator.ts), and the writer replaces the entry when
 * it publishes the new contents; readers also check the txn their reference expects.
 */
export class PageCache {
  readonly #capacityPages: number;
  readonly #nodes = new Map<number, TreeNode>();
  hits = 0;
  misses = 0;

  constructor(capacityPages: number) {
    assert(Number.isSafeInteger(capacityPages) && capacityPages > 0, 'a page cache holds at least one page');
    this.#capacityPages = capacityPages;
  }

  get size(): number {
    return this.#nodes.size;
  }

  /** The node for `pageId` if cached and written by `txn`; counts the hit or miss. */
  get(pageId: number, txn: number): TreeNode | undefined {
    const node = this.#nodes.get(pageId);
    if (node === undefined || node.txn !== txn) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#nodes.delete(pageId);
    this.#nodes.set(pageId, node);
    return node;
  }

  set(node: TreeNode): void {
    this.#nodes.delete(node.pageId);
    this.#nodes.set(node.pageId, node);
    while (this.#nodes.size > this.#capacityPages) {
      const oldest = this.#nodes.keys().next().value as number;
      this.#nodes.delete(oldest);
    }
  }

  clear(): void {
    this.#nodes.clear();
  }
}
