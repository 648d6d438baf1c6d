import { assert } from '../assert.ts';
import { CorruptionError } from '../errors.ts';
import type { StorageFile } from '../contracts/storage-file.ts';
import { META_SLOT_COUNT, PAGE_BYTES } from './constants.ts';
import { type FreePage, type FreelistChainPage, applyFreelistChain, decodeFreelistChainPage } from './freelist.ts';
import type { OverflowReference, PageReference, TreeNode } from './node.ts';
import { PageLeaf, decodeNode, openNodePage } from './node-codec.ts';
import { decodeOverflowRun, overflowPageCount } from './overflow.ts';
import { PageCache } from './page-cache.ts';
import { PAGE_KIND, pageOffsetBytes } from './page-format.ts';

/**
 * Reads pages from the StorageFile, checks them, decodes them and caches the decoded tree nodes.
 * Every page read from the file is checked (checksum, page id, kind, txn) before anything in it is
 * used; what fails is CorruptionError. Concurrent reads of one page share one file read.
 */
export class PageStore {
  readonly file: StorageFile;
  readonly cache: PageCache;
  readonly #inFlight = new Map<number, Promise<TreeNode>>();

  constructor(file: StorageFile, cachePages: number) {
    this.file = file;
    this.cache = new PageCache(cachePages);
  }

  /** The node `reference` points at if it is in the cache (counted as a hit), without waiting. */
  cachedNode(reference: PageReference): TreeNode | undefined {
    return this.cache.get(reference.pageId, reference.txn);
  }

  /**
   * The node `reference` points at, with every key complete (overflow keys read in). Callers try
   * `cachedNode` first; a miss is counted there.
   */
  async readNode(reference: PageReference): Promise<TreeNode> {
    assert(reference.pageId >= META_SLOT_COUNT, `a tree page id is past the meta slots: ${reference.pageId}`);
    const cached = this.cache.peek(reference.pageId, reference.txn);
    if (cached !== undefined) return cached;
    const pending = this.#inFlight.get(reference.pageId);
    if (pending !== undefined) {
      const node = await pending;
      if (node.txn === reference.txn) return node;
    }
    const reading = this.#readNodeFromFile(reference);
    this.#inFlight.set(reference.pageId, reading);
    try {
      return await reading;
    } finally {
      if (this.#inFlight.get(reference.pageId) === reading) this.#inFlight.delete(reference.pageId);
    }
  }

  /**
   * The pages of leaves or branches at consecutive page ids, read in one call and checked
   * (CorruptionError otherwise), neither decoded nor cached: for a merge that copies a leaf's
   * entries as bytes and does not read the leaf again. The pages are views of one buffer.
   */
  async readNodePages(references: readonly PageReference[]): Promise<{ page: Uint8Array; kind: 'leaf' | 'branch'; count: number }[]> {
    const first = references[0]!.pageId;
    assert(first >= META_SLOT_COUNT, `a tree page id is past the meta slots: ${first}`);
    references.forEach((reference, index) => assert(reference.pageId === first + index, 'pages read together are consecutive'));
    const bytes = await this.#read(first, references.length * PAGE_BYTES);
    return references.map((reference, index) => {
      const page = bytes.subarray(index * PAGE_BYTES, (index + 1) * PAGE_BYTES);
      const header = openNodePage(page, reference);
      return { page, kind: header.kind === PAGE_KIND.branch ? 'branch' : 'leaf', count: header.count };
    });
  }

  async #readNodeFromFile(reference: PageReference): Promise<TreeNode> {
    return await this.nodeOfPage(await this.#read(reference.pageId, PAGE_BYTES), reference);
  }

  /** The node on `page`, read from the file at `reference` (by readNodePages, say): decoded, its overflowing keys read, cached. */
  async nodeOfPage(page: Uint8Array, reference: PageReference): Promise<TreeNode> {
    const node = decodeNode(page, reference);
    // A PageLeaf has every key in its page (and asking for its keys would decode them).
    for (let index = 0; !(node instanceof PageLeaf) && index < node.keys.length; index++) {
      const overflow = node.keyOverflows[index];
      if (overflow !== undefined) node.keys[index] = await this.readOverflow(overflow);
    }
    if (node.kind === 'branch') {
      for (const child of node.children) {
        if (child.txn > node.txn) throw new CorruptionError(`page ${node.pageId} refers to a page newer than itself`);
      }
    }
    this.cache.set(node);
    return node;
  }

  /** The bytes of an overflow run, every page checked. Not cached: runs are large and read once. */
  async readOverflow(reference: OverflowReference): Promise<Uint8Array> {
    assert(reference.pageId >= META_SLOT_COUNT, `an overflow page id is past the meta slots: ${reference.pageId}`);
    const lengthBytes = overflowPageCount(reference.lengthBytes) * PAGE_BYTES;
    const run = await this.#read(reference.pageId, lengthBytes);
    if (run.length !== lengthBytes) {
      throw new CorruptionError(`overflow run at page ${reference.pageId} is cut short: read ${run.length} of ${lengthBytes} bytes`);
    }
    return decodeOverflowRun(run, reference);
  }

  /**
   * The freelist the chain from `head` describes (base and deltas applied, see freelist.ts), the
   * ids of the chain's own pages, newest first, and how many of them are base pages.
   */
  async readFreelist(
    head: PageReference | undefined,
    pagesMax: number,
  ): Promise<{ entries: FreePage[]; pageIds: number[]; basePageCount: number }> {
    const chainPages: FreelistChainPage[] = [];
    const pageIds: number[] = [];
    for (let reference = head; reference !== undefined; ) {
      if (pageIds.length >= pagesMax) throw new CorruptionError(`the freelist chain is longer than the ${pagesMax} pages of the store`);
      const page = await this.#read(reference.pageId, PAGE_BYTES);
      const decoded = decodeFreelistChainPage(page, reference);
      pageIds.push(reference.pageId);
      chainPages.push(decoded);
      reference = decoded.next;
    }
    const { entries, basePageCount } = applyFreelistChain(chainPages, pageIds);
    return { entries, pageIds, basePageCount };
  }

  async #read(pageId: number, lengthBytes: number): Promise<Uint8Array> {
    return this.file.read(pageOffsetBytes(pageId), lengthBytes);
  }
}
