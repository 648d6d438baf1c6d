import { assert } from '../assert.ts';
import { FREELIST_DELTA_PAGES_MIN, META_INLINE_FREE_PAGES_MAX, NODE_MERGE_THRESHOLD_BYTES, PAGE_PAYLOAD_BYTES, TREE_DEPTH_MAX } from './constants.ts';
import { type FreePage, FreelistEncoder, encodeFreelistDelta, freelistDeltaPagesNeeded, freelistPagesNeeded } from './freelist.ts';
import type { Meta } from './meta.ts';
import {
  type BranchNode,
  type LeafNode,
  type OverflowReference,
  type PageReference,
  type TreeNode,
  BRANCH_FIRST_CHILD_BYTES,
  branchSeparatorBytes,
  copyNode,
  emptyLeaf,
  keyIsInline,
  leafEntryBytes,
  valueIsInline,
} from './node.ts';
import { PageLeaf, decodeSealedNode, encodeNode } from './node-codec.ts';
import { encodeOverflowRun, overflowPageCount } from './overflow.ts';
import type { PageAllocator } from './page-allocator.ts';
import type { PageStore } from './page-store.ts';
import type { CheckpointPacer } from './checkpoint-pacer.ts';
import { type TreeChange, mergeIntoTree } from './tree-merge.ts';
import { childIndexFor, searchLeaf, shortestSeparator } from './tree-search.ts';

/**
 * One write transaction: the commits of one group applied to a copy-on-write tree. Committed
 * nodes are never changed: the first change to a node copies it to a new page (and frees the old
 * one, for this txn); later changes in the same transaction change the copy in place. Nothing is
 * written to the file until `finish()` encodes the dirty nodes, overflow runs and freelist.
 *
 * Ownership of overflow runs: each run is referenced by exactly one key, value or separator. A
 * moved separator keeps its run; a dropped entry frees it.
 */

/** A page to write: `bytes` is one or more whole pages starting at `pageId`. */
export interface PageWrite {
  pageId: number;
  bytes: Uint8Array;
}

/** What a finished transaction writes, and the committed state it becomes. */
export interface FinishedTransaction {
  meta: Meta;
  writes: PageWrite[];
  freelistChain: FreelistChain;
}

/** A committed freelist chain: its head, its pages newest first, and how many are base pages (last). */
export interface FreelistChain {
  head: PageReference | undefined;
  pageIds: readonly number[];
  basePageCount: number;
}

interface WrittenFreelist {
  head: PageReference | undefined;
  inlineFreePages: FreePage[];
  chain: FreelistChain;
}

/** One step of a descent: a branch and the index of the child the descent took. */
interface PathStep {
  branch: BranchNode;
  childIndex: number;
}

export class WriteTransaction {
  readonly txn: number;
  readonly #pages: PageStore;
  readonly #allocator: PageAllocator;
  readonly #dirty = new Map<number, TreeNode>();
  /** Overflow runs this transaction created, with their bytes, written by `finish()`. */
  readonly #newRuns = new Map<number, { reference: OverflowReference; bytes: Uint8Array }>();
  #root: PageReference | undefined;
  /** Leaf pages a merge wrote as bytes (no node: they are not cached), written by `finish()`. */
  readonly #leafPages: PageWrite[] = [];
  constructor(options: { txn: number; pages: PageStore; allocator: PageAllocator; root: PageReference | undefined }) {
    this.txn = options.txn;
    this.#pages = options.pages;
    this.#allocator = options.allocator;
    this.#root = options.root;
  }

  get dirtyNodes(): IterableIterator<TreeNode> {
    return this.#dirty.values();
  }

  /** The version of `key` in the state so far (earlier commits of this group included), or null. */
  async versionOf(key: Uint8Array): Promise<number | null> {
    if (this.#root === undefined) return null;
    let node = this.#readCached(this.#root) ?? (await this.#read(this.#root));
    for (let depth = 0; node.kind === 'branch'; depth++) {
      assert(depth < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
      const child = node.children[childIndexFor(node.keys, key)]!;
      node = this.#readCached(child) ?? (await this.#read(child));
    }
    const { index, found } = searchLeaf(node.keys, key);
    return found ? node.versions[index]! : null;
  }

  /**
   * Takes ownership of `key` and `value`: the commit queue copied them from the caller's buffers.
   * They must not change afterwards.
   */
  put(key: Uint8Array, value: Uint8Array, version: number): Promise<void> | void {
    // A path of cached pages is changed without a single await: a merge puts thousands of keys
    // into leaves it prefetched, and a microtask per level was most of its garbage.
    const descent = this.#descendWritableCached(key);
    if (descent !== undefined) return this.#putInLeaf(descent, key, value, version);
    return this.#descendWritable(key).then((found) => this.#putInLeaf(found, key, value, version));
  }

  #putInLeaf(descent: { path: PathStep[]; leaf: LeafNode }, key: Uint8Array, value: Uint8Array, version: number): void {
    const { path, leaf } = descent;
    const { index, found } = searchLeaf(leaf.keys, key);
    const stored = valueIsInline(value.length) ? value : this.#newRun(value);
    if (found) {
      const previous = leaf.values[index]!;
      if (!(previous instanceof Uint8Array)) this.#freeRun(previous);
      leaf.payloadBytes += leafEntryBytes(key, stored) - leafEntryBytes(key, previous);
      leaf.values[index] = stored;
      leaf.versions[index] = version;
    } else {
      // A long key stays in the node as it is (encoding repoints only inline ones at the page):
      // a copy of its own, so the node does not keep alive the buffer the key is a view of.
      const ownKey = keyIsInline(key) ? key : key.slice();
      leaf.keys.splice(index, 0, ownKey);
      leaf.keyOverflows.splice(index, 0, keyIsInline(key) ? undefined : this.#newRun(ownKey));
      leaf.versions.splice(index, 0, version);
      leaf.values.splice(index, 0, stored);
      leaf.payloadBytes += leafEntryBytes(key, stored);
    }
    this.#splitUpward(path, leaf);
  }

  async delete(key: Uint8Array): Promise<void> {
    // Look first: deleting an absent key must not copy the path for nothing.
    if ((await this.versionOf(key)) === null) return;
    const { path, leaf } = await this.#descendWritable(key);
    const { index, found } = searchLeaf(leaf.keys, key);
    assert(found, 'a key found by versionOf is in its leaf');
    const value = leaf.values[index]!;
    if (!(value instanceof Uint8Array)) this.#freeRun(value);
    const keyOverflow = leaf.keyOverflows[index];
    if (keyOverflow !== undefined) this.#freeRun(keyOverflow);
    leaf.payloadBytes -= leafEntryBytes(key, value);
    leaf.keys.splice(index, 1);
    leaf.keyOverflows.splice(index, 1);
    leaf.versions.splice(index, 1);
    leaf.values.splice(index, 1);
    await this.#mergeUpward(path, leaf);
    this.#shrinkRoot();
  }

  /**
   * The last `max` leaves a merge wrote, decoded from their pages, for the page cache: readers
   * after a checkpoint find the leaves it wrote last as they found the ones a commit wrote. A leaf
   * with a key in an overflow run is left out (decoding leaves such a key to the page store).
   */
  *mergedLeaves(max: number): Generator<TreeNode> {
    const pages = this.#leafPages;
    for (let index = Math.max(0, pages.length - max); index < pages.length; index++) {
      const { pageId, bytes } = pages[index]!;
      // Sealed by this transaction: decoded without checking its checksum again.
      const node = decodeSealedNode(bytes, { pageId, txn: this.txn });
      if (node instanceof PageLeaf || node.keyOverflows.every((overflow) => overflow === undefined)) yield node;
    }
  }

  /**
   * Applies `changes` (keys ascending, each once; a null value deletes) in one pass over the tree
   * (see tree-merge.ts) instead of a put or delete per key: a checkpoint's merge of the write
   * buffer. Only on a transaction that has changed nothing yet. `keyPrefixes`: see mergeIntoTree.
   */
  async merge(changes: readonly TreeChange[], options: { readsConcurrentMax: number; pacer: CheckpointPacer; keyPrefixes?: Float64Array }): Promise<void> {
    assert(this.#dirty.size === 0 && this.#newRuns.size === 0 && this.#leafPages.length === 0, 'a merge is the first change of its transaction');
    this.#root = await mergeIntoTree(
      {
        txn: this.txn,
        read: (reference) => this.#readCached(reference) ?? this.#pages.readNode(reference),
        allocate: () => this.#allocator.allocate(),
        free: (pageId) => {
          this.#dirty.delete(pageId);
          this.#allocator.free(pageId);
        },
        newRun: (bytes) => this.#newRun(bytes),
        freeRun: (reference) => this.#freeRun(reference),
        addNode: (node) => this.#dirty.set(node.pageId, node),
        addLeafPage: (pageId, page) => this.#leafPages.push({ pageId, bytes: page }),
        cachedNode: (reference) => this.#pages.cachedNode(reference),
        readNodePages: (references) => this.#pages.readNodePages(references),
        nodeOfPage: (page, reference) => this.#pages.nodeOfPage(page, reference),
        readOverflow: (reference) => this.#pages.readOverflow(reference),
        readsConcurrentMax: options.readsConcurrentMax,
        pacer: options.pacer,
      },
      this.#root,
      changes,
      options.keyPrefixes,
    );
  }

  /**
   * Everything to write for this transaction, and the meta that makes it the committed state.
   * The freelist is written last, since allocating its pages changes it: inline in the meta when
   * short, else as delta pages on the committed chain, or as a new base chain when the deltas have
   * grown as large as a base (see freelist.ts).
   */
  finish(base: { freelistChain: FreelistChain; lastVersion: number; durableTxn: number }): FinishedTransaction {
    const previous = base.freelistChain;
    const writes: PageWrite[] = [];
    for (const node of this.#dirty.values()) writes.push({ pageId: node.pageId, bytes: encodeNode(node) });
    for (const write of this.#leafPages) writes.push(write);
    for (const { reference, bytes } of this.#newRuns.values()) {
      writes.push({ pageId: reference.pageId, bytes: encodeOverflowRun(reference, bytes) });
    }
    const chain = this.#writeDelta(previous, writes) ?? this.#writeBase(previous, writes);
    const meta: Meta = {
      txn: this.txn,
      lastVersion: base.lastVersion,
      root: this.#root,
      freelist: chain.head,
      freelistEntryCount: this.#allocator.freeCount,
      inlineFreePages: chain.inlineFreePages,
      pageCount: this.#allocator.pageCount,
      durableTxnAtWrite: base.durableTxn,
    };
    return { meta, writes, freelistChain: chain.chain };
  }

  /** Delta pages on the committed chain; undefined when the chain must be rewritten instead. */
  #writeDelta(previous: FreelistChain, writes: PageWrite[]): WrittenFreelist | undefined {
    if (previous.head === undefined) return undefined;
    const deltaPagesBefore = previous.pageIds.length - previous.basePageCount;
    const deltaPagesMax = Math.max(FREELIST_DELTA_PAGES_MIN, previous.basePageCount);
    if (this.#allocator.freeCount + previous.pageIds.length <= META_INLINE_FREE_PAGES_MAX) return undefined;
    const pageIds: number[] = [];
    for (;;) {
      const delta = this.#allocator.freelistDelta();
      const needed = freelistDeltaPagesNeeded(delta.removed.length, delta.added.length);
      if (deltaPagesBefore + Math.max(needed, pageIds.length) > deltaPagesMax) {
        for (const pageId of pageIds) this.#allocator.free(pageId);
        return undefined;
      }
      if (pageIds.length < needed) {
        pageIds.push(this.#allocator.allocate());
        continue;
      }
      // Allocating a page the transaction had freed itself shrinks the delta, which may then fit in
      // fewer pages than were taken: the spare ones go out empty rather than loop.
      const pages = encodeFreelistDelta(delta, { pageIds, txn: this.txn, previous: previous.head });
      pages.forEach((bytes, index) => writes.push({ pageId: pageIds[index]!, bytes }));
      const head = pageIds.length === 0 ? previous.head : { pageId: pageIds.at(-1)!, txn: this.txn };
      const chain = { head, pageIds: [...pageIds].reverse().concat(previous.pageIds), basePageCount: previous.basePageCount };
      return { head, inlineFreePages: [], chain };
    }
  }

  /** Frees the committed chain and writes the whole freelist: inline when short, else a new base. */
  #writeBase(previous: FreelistChain, writes: PageWrite[]): WrittenFreelist {
    for (const pageId of previous.pageIds) this.#allocator.free(pageId);
    const chain: number[] = [];
    if (this.#allocator.freeCount > META_INLINE_FREE_PAGES_MAX) {
      while (chain.length < freelistPagesNeeded(this.#allocator.freeCount)) chain.push(this.#allocator.allocate());
    }
    if (chain.length === 0) {
      const inlineFreePages: FreePage[] = [];
      this.#allocator.writeFreelist({ add: (pageId, freedTxn) => inlineFreePages.push({ pageId, freedTxn }) });
      return { head: undefined, inlineFreePages, chain: { head: undefined, pageIds: [], basePageCount: 0 } };
    }
    const encoder = new FreelistEncoder(chain, this.txn);
    this.#allocator.writeFreelist(encoder);
    encoder.finish().forEach((bytes, index) => writes.push({ pageId: chain[index]!, bytes }));
    const head = { pageId: chain[0]!, txn: this.txn };
    return { head, inlineFreePages: [], chain: { head, pageIds: chain, basePageCount: chain.length } };
  }

  /** The node a reference points at: this transaction's copy when it made one. */
  async #read(reference: PageReference): Promise<TreeNode> {
    return this.#readCached(reference) ?? this.#pages.readNode(reference);
  }

  /** The node without waiting, when it is dirty or cached. */
  #readCached(reference: PageReference): TreeNode | undefined {
    if (reference.txn === this.txn) {
      const node = this.#dirty.get(reference.pageId);
      assert(node !== undefined, `dirty page ${reference.pageId} is missing`);
      return node;
    }
    return this.#pages.cachedNode(reference);
  }

  /** The node at `reference`, copied to a page of this transaction unless it already is one. */
  async #writable(reference: PageReference): Promise<TreeNode> {
    return this.#own(await this.#read(reference));
  }

  /** `node`, copied to a page of this transaction unless it already is one. */
  #own(node: TreeNode): TreeNode {
    if (node.txn === this.txn) return node;
    const copy = copyNode(node, this.#allocator.allocate(), this.txn);
    this.#allocator.free(node.pageId);
    this.#dirty.set(copy.pageId, copy);
    return copy;
  }

  /** The path to the leaf for `key`, every node on it writable and linked to its writable parent. */
  /**
   * Like `#descendWritable` without waiting: undefined when a page of the path is not cached (the
   * part of the path made writable so far stays so, as the awaited descent would make it).
   */
  #descendWritableCached(key: Uint8Array): { path: PathStep[]; leaf: LeafNode } | undefined {
    if (this.#root === undefined) return undefined;
    const root = this.#readCached(this.#root);
    if (root === undefined) return undefined;
    let node = this.#own(root);
    this.#root = { pageId: node.pageId, txn: this.txn };
    const path: PathStep[] = [];
    while (node.kind === 'branch') {
      assert(path.length < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
      const childIndex = childIndexFor(node.keys, key);
      const cached = this.#readCached(node.children[childIndex]!);
      if (cached === undefined) return undefined;
      const child = this.#own(cached);
      node.children[childIndex] = { pageId: child.pageId, txn: this.txn };
      path.push({ branch: node, childIndex });
      node = child;
    }
    return { path, leaf: node };
  }

  async #descendWritable(key: Uint8Array): Promise<{ path: PathStep[]; leaf: LeafNode }> {
    if (this.#root === undefined) {
      const leaf = emptyLeaf(this.#allocator.allocate(), this.txn);
      this.#dirty.set(leaf.pageId, leaf);
      this.#root = { pageId: leaf.pageId, txn: this.txn };
      return { path: [], leaf };
    }
    let node = await this.#writable(this.#root);
    this.#root = { pageId: node.pageId, txn: this.txn };
    const path: PathStep[] = [];
    while (node.kind === 'branch') {
      assert(path.length < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
      const childIndex = childIndexFor(node.keys, key);
      const child = await this.#writable(node.children[childIndex]!);
      node.children[childIndex] = { pageId: child.pageId, txn: this.txn };
      path.push({ branch: node, childIndex });
      node = child;
    }
    return { path, leaf: node };
  }

  /** Splits `node` while it overflows its page, inserting each new right half into the parent. */
  #splitUpward(path: PathStep[], start: TreeNode): void {
    let node = start;
    while (node.payloadBytes > PAGE_PAYLOAD_BYTES) {
      const { right, separator, separatorOverflow } = node.kind === 'leaf' ? this.#splitLeaf(node) : this.#splitBranch(node);
      const rightReference = { pageId: right.pageId, txn: this.txn };
      const step = path.pop();
      if (step === undefined) {
        const root: BranchNode = {
          kind: 'branch',
          pageId: this.#allocator.allocate(),
          txn: this.txn,
          keys: [separator],
          keyOverflows: [separatorOverflow],
          children: [{ pageId: node.pageId, txn: this.txn }, rightReference],
          payloadBytes: BRANCH_FIRST_CHILD_BYTES + branchSeparatorBytes(separator),
        };
        this.#dirty.set(root.pageId, root);
        this.#root = { pageId: root.pageId, txn: this.txn };
        return;
      }
      const parent = step.branch;
      parent.keys.splice(step.childIndex, 0, separator);
      parent.keyOverflows.splice(step.childIndex, 0, separatorOverflow);
      parent.children.splice(step.childIndex + 1, 0, rightReference);
      parent.payloadBytes += branchSeparatorBytes(separator);
      node = parent;
    }
  }

  /**
   * Moves the upper part of an overflowing leaf to a new page. The separator is the shortest prefix
   * of the right half's first key that sorts after the left half's last key, so branches stay small
   * even when keys are long.
   */
  #splitLeaf(leaf: LeafNode): { right: LeafNode; separator: Uint8Array; separatorOverflow: OverflowReference | undefined } {
    const entryBytes = (index: number): number => leafEntryBytes(leaf.keys[index]!, leaf.values[index]!);
    const at = splitIndex(leaf.keys.length, entryBytes, leaf.payloadBytes);
    const right = emptyLeaf(this.#allocator.allocate(), this.txn);
    right.keys = leaf.keys.splice(at);
    right.keyOverflows = leaf.keyOverflows.splice(at);
    right.versions = leaf.versions.splice(at);
    right.values = leaf.values.splice(at);
    recountLeaf(leaf);
    recountLeaf(right);
    this.#dirty.set(right.pageId, right);
    const separator = shortestSeparator(leaf.keys.at(-1)!, right.keys[0]!);
    return { right, separator, separatorOverflow: keyIsInline(separator) ? undefined : this.#newRun(separator) };
  }

  /** Moves the upper part of an overflowing branch to a new page; the middle separator moves up. */
  #splitBranch(branch: BranchNode): { right: BranchNode; separator: Uint8Array; separatorOverflow: OverflowReference | undefined } {
    const at = splitIndex(branch.keys.length, (index) => branchSeparatorBytes(branch.keys[index]!), branch.payloadBytes);
    const middle = Math.min(Math.max(at, 1), branch.keys.length - 1);
    const right: BranchNode = {
      kind: 'branch',
      pageId: this.#allocator.allocate(),
      txn: this.txn,
      keys: branch.keys.splice(middle + 1),
      keyOverflows: branch.keyOverflows.splice(middle + 1),
      children: branch.children.splice(middle + 1),
      payloadBytes: 0,
    };
    const separator = branch.keys.pop()!;
    const separatorOverflow = branch.keyOverflows.pop();
    recountBranch(branch);
    recountBranch(right);
    this.#dirty.set(right.pageId, right);
    return { right, separator, separatorOverflow };
  }

  /** Merges `node` into a sibling while it is nearly empty and the two fit in one page. */
  async #mergeUpward(path: PathStep[], start: TreeNode): Promise<void> {
    let node = start;
    while (node.payloadBytes < NODE_MERGE_THRESHOLD_BYTES) {
      const step = path.pop();
      if (step === undefined) return;
      const parent = step.branch;
      if (parent.children.length < 2) return;
      const leftIndex = step.childIndex > 0 ? step.childIndex - 1 : step.childIndex;
      const siblingIndex = step.childIndex > 0 ? step.childIndex - 1 : step.childIndex + 1;
      const separator = parent.keys[leftIndex]!;
      if (!mergedFits(node, await this.#read(parent.children[siblingIndex]!), separator)) return;
      const sibling = await this.#writable(parent.children[siblingIndex]!);
      parent.children[siblingIndex] = { pageId: sibling.pageId, txn: this.txn };
      const left = step.childIndex > 0 ? sibling : node;
      const right = step.childIndex > 0 ? node : sibling;
      this.#mergeSiblings(parent, leftIndex, left, right);
      node = parent;
    }
  }

  /** Appends `right` to `left` (they fit one page) and removes `right` from `parent`. */
  #mergeSiblings(parent: BranchNode, leftIndex: number, left: TreeNode, right: TreeNode): void {
    const separator = parent.keys[leftIndex]!;
    const separatorOverflow = parent.keyOverflows[leftIndex];
    if (left.kind === 'leaf' && right.kind === 'leaf') {
      left.keys.push(...right.keys);
      left.keyOverflows.push(...right.keyOverflows);
      left.versions.push(...right.versions);
      left.values.push(...right.values);
      left.payloadBytes += right.payloadBytes;
      // A leaf separator is only a copy: dropping it frees its run.
      if (separatorOverflow !== undefined) this.#freeRun(separatorOverflow);
    } else {
      assert(left.kind === 'branch' && right.kind === 'branch', 'siblings are of one kind');
      // The separator moves down between the two halves, keeping its run.
      left.keys.push(separator, ...right.keys);
      left.keyOverflows.push(separatorOverflow, ...right.keyOverflows);
      left.children.push(...right.children);
      left.payloadBytes = mergedPayloadBytes(left, right, separator);
    }
    parent.keys.splice(leftIndex, 1);
    parent.keyOverflows.splice(leftIndex, 1);
    parent.children.splice(leftIndex + 1, 1);
    parent.payloadBytes -= branchSeparatorBytes(separator);
    this.#dirty.delete(right.pageId);
    this.#allocator.free(right.pageId);
  }

  /** A root branch with one child gives way to the child; an empty root leaf leaves no tree. */
  #shrinkRoot(): void {
    for (let depth = 0; this.#root !== undefined; depth++) {
      assert(depth < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
      const root = this.#dirty.get(this.#root.pageId);
      assert(root !== undefined && this.#root.txn === this.txn, 'a root changed by a delete is dirty');
      if (root.kind === 'branch' && root.children.length === 1) {
        this.#root = root.children[0]!;
      } else if (root.kind === 'leaf' && root.keys.length === 0) {
        this.#root = undefined;
      } else {
        return;
      }
      this.#dirty.delete(root.pageId);
      this.#allocator.free(root.pageId);
      if (this.#root !== undefined && this.#root.txn !== this.txn) return;
    }
  }

  #newRun(bytes: Uint8Array): OverflowReference {
    const reference: OverflowReference = {
      pageId: this.#allocator.allocateRun(overflowPageCount(bytes.length)),
      txn: this.txn,
      lengthBytes: bytes.length,
    };
    this.#newRuns.set(reference.pageId, { reference, bytes });
    return reference;
  }

  #freeRun(reference: OverflowReference): void {
    if (reference.txn === this.txn) this.#newRuns.delete(reference.pageId);
    const pageCount = overflowPageCount(reference.lengthBytes);
    for (let index = 0; index < pageCount; index++) this.#allocator.free(reference.pageId + index, true);
  }
}

/** The payload of `left` and `right` as one node (a branch takes the separator between them). */
function mergedPayloadBytes(left: TreeNode, right: TreeNode, separator: Uint8Array): number {
  if (left.kind === 'leaf') return left.payloadBytes + right.payloadBytes;
  return left.payloadBytes + branchSeparatorBytes(separator) + right.payloadBytes - BRANCH_FIRST_CHILD_BYTES;
}

function mergedFits(node: TreeNode, sibling: TreeNode, separator: Uint8Array): boolean {
  assert(node.kind === sibling.kind, 'siblings are of one kind');
  return mergedPayloadBytes(node, sibling, separator) <= PAGE_PAYLOAD_BYTES;
}

/**
 * Where to cut `count` entries of `totalBytes` so both halves are about equal in bytes, each
 * keeping at least one entry.
 */
function splitIndex(count: number, entryBytes: (index: number) => number, totalBytes: number): number {
  assert(count >= 2, 'an overflowing node has at least two entries');
  let leftBytes = 0;
  for (let index = 0; index < count - 1; index++) {
    leftBytes += entryBytes(index);
    if (leftBytes * 2 >= totalBytes) return Math.max(1, index + 1);
  }
  return count - 1;
}

function recountLeaf(leaf: LeafNode): void {
  let total = 0;
  for (let index = 0; index < leaf.keys.length; index++) total += leafEntryBytes(leaf.keys[index]!, leaf.values[index]!);
  leaf.payloadBytes = total;
}

function recountBranch(branch: BranchNode): void {
  let total = BRANCH_FIRST_CHILD_BYTES;
  for (const key of branch.keys) total += branchSeparatorBytes(key);
  branch.payloadBytes = total;
}
