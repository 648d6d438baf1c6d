import { assert } from '../assert.ts';
import { compareBytes } from '../contracts/bytes.ts';
import {
  MERGE_FILL_BYTES,
  MERGE_READ_PAGES_MAX,
  MERGE_SCRATCH_BYTES,
  NODE_MERGE_THRESHOLD_BYTES,
  PAGE_BYTES,
  PAGE_PAYLOAD_BYTES,
  TREE_DEPTH_MAX,
  WRITE_BUFFER_ENTRY_OVERHEAD_BYTES,
} from './constants.ts';
import {
  type BranchNode,
  type OverflowReference,
  type PageReference,
  type TreeNode,
  BRANCH_FIRST_CHILD_BYTES,
  branchSeparatorBytes,
  keyIsInline,
  leafEntryBytes,
  valueIsInline,
} from './node.ts';
import {
  PageLeaf,
  compareLeafEntryKey,
  encodeLeafEntry,
  leafEntryKeyAt,
  leafEntryKeyOverflows,
  leafEntryOffsets,
  leafEntryRunsAt,
} from './node-codec.ts';
import type { CheckpointPacer } from './checkpoint-pacer.ts';
import { PAGE_KIND, PAGE_PAYLOAD_OFFSET, copyInto, newPage, sealPage } from './page-format.ts';
import { shortestSeparator } from './tree-search.ts';
import { keyPrefix } from './write-buffer.ts';

/**
 * A checkpoint's merge of sorted changes into the copy-on-write tree, as one pass over the tree
 * in key order instead of a put per key.
 *
 * Why: a put per key walked the path from the root, spliced the key into its leaf's arrays and
 * split the leaf when full; a merge of 60,000 keys spent about a second doing so, most of it in
 * the collector. Here each subtree the changes reach is visited once: the changes are cut among
 * its children by the separators, the leaves they reach are read together, and each run of
 * adjacent touched leaves is merged with its changes into one sequence of entries that is cut
 * into evenly filled new leaves. Subtrees no change reaches keep their pages, so a merge rewrites
 * only the leaves and branches its keys lead to (every leaf, for keys spread over the whole tree).
 *
 * Leaves are handled as bytes: an entry that did not change is copied from its old page to its
 * new one (adjacent ones at once) without being decoded or encoded, and a leaf read from the file
 * for the merge is checked but neither decoded nor cached, nor is a leaf the merge writes (readers
 * decode the ones they need). Only branches are nodes.
 *
 * Every node the merge replaces is freed; every overflow run keeps exactly one owner (entries
 * carry theirs along, separators that move up into a new branch keep theirs, dropped ones are
 * freed), as in WriteTransaction.
 *
 * The merge pauses (CheckpointPacer) after each budget of work: changes checked and merged, leaf
 * pages read and built, and before it descends into a branch. What it holds across a pause stays
 * valid: the changes (a frozen write buffer's), the committed pages it read (a copy-on-write tree
 * has one writer, this merge, and a committed page is not reused while the tree it belongs to is
 * the last one published), and its own new pages, which nothing else sees before the transaction
 * is published.
 */

/** A change: `value` null deletes the key. */
export interface TreeChange {
  readonly key: Uint8Array;
  readonly version: number;
  readonly value: Uint8Array | null;
}

/** What the merge needs of its write transaction. */
export interface TreeMergeTarget {
  readonly txn: number;
  /** The committed node at `reference`, from the cache when it is there. */
  read(reference: PageReference): TreeNode | Promise<TreeNode>;
  allocate(): number;
  /** Stops using a page: a committed one, or one this merge wrote (then also dropped from its nodes). */
  free(pageId: number): void;
  newRun(bytes: Uint8Array): OverflowReference;
  freeRun(reference: OverflowReference): void;
  /** A branch this merge wrote, to be encoded when the transaction finishes. */
  addNode(node: TreeNode): void;
  /** A leaf page this merge wrote, sealed, to be written when the transaction finishes. */
  addLeafPage(pageId: number, page: Uint8Array): void;
  /** The committed node at `reference` if it is cached, without reading. */
  cachedNode(reference: PageReference): TreeNode | undefined;
  /** The checked pages at `references` (consecutive page ids), not decoded. */
  readNodePages(references: readonly PageReference[]): Promise<{ page: Uint8Array; kind: 'leaf' | 'branch'; count: number }[]>;
  /** The node on a page readNodePages read, decoded without reading it again. */
  nodeOfPage(page: Uint8Array, reference: PageReference): Promise<TreeNode>;
  readOverflow(reference: OverflowReference): Promise<Uint8Array>;
  /** Leaves read at once while a branch's touched children are read. */
  readonly readsConcurrentMax: number;
  /** Counts the merge's work and pauses it now and then (see CheckpointPacer). */
  readonly pacer: CheckpointPacer;
}

/**
 * Nodes of one height in key order, as a branch holds its children: `keys[i]` separates
 * `children[i]` from `children[i + 1]`, its overflow run (if any) in `keyOverflows[i]`.
 */
interface NodeList {
  children: PageReference[];
  keys: Uint8Array[];
  keyOverflows: (OverflowReference | undefined)[];
}

/**
 * A leaf the merge reads, as its checked page: where each entry starts (and past the last), and
 * the full keys of the entries whose key lives in an overflow run, by entry index.
 */
interface LeafSource {
  readonly kind: 'leaf';
  readonly pageId: number;
  readonly page: Uint8Array;
  readonly offsets: readonly number[];
  readonly overflowKeys: ReadonlyMap<number, Uint8Array> | undefined;
}

type ChildSource = BranchNode | LeafSource;

/**
 * A run's entries after the merge, encoded one after another in one buffer, in key order: an
 * unchanged entry copied from its page (adjacent ones at once), a changed one encoded in place.
 * Leaf pages are then cut from it, each page's entries with one copy.
 *
 * Why one buffer: the entries were first kept where they lay (a page, or a scratch buffer for a
 * changed one) as three numbers and a reference each; a full merge of 150,000 entries spent more
 * on pushing and walking those per-entry arrays, and collecting them, than on the bytes. Copying
 * unchanged entries twice (page to here, here to the new page) costs a memcpy of the run instead.
 *
 * A merge keeps two sequences and reuses them from run to run: each run's entries are cut into
 * pages (buildLeaves) before the next run is merged, and nothing a page or a separator holds
 * points into the buffer (separators are copies, pages are copied into).
 */
class EntrySequence {
  #bytes = new Uint8Array(MERGE_SCRATCH_BYTES);
  /** `#ends[i]`: where entry `i` ends in `#bytes`; it starts where entry `i - 1` ends (0 for the first). */
  #ends = new Int32Array(MERGE_SCRATCH_BYTES / 64);
  /** Full keys of the entries whose key lives in an overflow run, by index here. */
  readonly overflowKeys = new Map<number, Uint8Array>();
  length = 0;
  totalBytes = 0;

  /** The encoded entries, `[0, totalBytes)`; valid until the next change of the sequence. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** Empties the sequence, keeping its buffers. */
  reset(): void {
    this.length = 0;
    this.totalBytes = 0;
    this.overflowKeys.clear();
  }

  /** Where each entry ends, `[0, length)`; valid until the next change of the sequence. */
  get ends(): Int32Array {
    return this.#ends;
  }

  startOf(index: number): number {
    return index === 0 ? 0 : this.#ends[index - 1]!;
  }

  endOf(index: number): number {
    return this.#ends[index]!;
  }

  /** Makes room for `bytes` more bytes and `entries` more entries. */
  reserve(bytes: number, entries: number): void {
    if (this.totalBytes + bytes > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.totalBytes + bytes));
      grown.set(this.#bytes.subarray(0, this.totalBytes));
      this.#bytes = grown;
    }
    if (this.length + entries > this.#ends.length) {
      const grown = new Int32Array(Math.max(this.#ends.length * 2, this.length + entries));
      grown.set(this.#ends.subarray(0, this.length));
      this.#ends = grown;
    }
  }

  /** Appends the entry the caller encoded at `totalBytes` (after `reserve`), `size` bytes long. */
  pushEncoded(size: number, overflowKey: Uint8Array | undefined): void {
    if (overflowKey !== undefined) this.overflowKeys.set(this.length, overflowKey);
    this.totalBytes += size;
    this.#ends[this.length++] = this.totalBytes;
  }

  /** Every entry of `source` in [from, to), copied at once. */
  pushSource(source: LeafSource, from: number, to: number): void {
    if (from >= to) return;
    const offsets = source.offsets;
    const start = offsets[from]!;
    const stop = offsets[to]!;
    this.reserve(stop - start, to - from);
    const shift = this.totalBytes - start;
    copyInto(this.#bytes, this.totalBytes, source.page, start, stop);
    const ends = this.#ends;
    const overflowKeys = source.overflowKeys;
    for (let index = from; index < to; index++) {
      if (overflowKeys !== undefined) {
        const key = overflowKeys.get(index);
        if (key !== undefined) this.overflowKeys.set(this.length, key);
      }
      ends[this.length++] = offsets[index + 1]! + shift;
    }
    this.totalBytes += stop - start;
  }

  /** Every entry of `other`, after this one's. */
  pushSequence(other: EntrySequence): void {
    this.reserve(other.totalBytes, other.length);
    const shift = this.totalBytes;
    this.#bytes.set(other.bytes.subarray(0, other.totalBytes), shift);
    for (const [index, key] of other.overflowKeys) this.overflowKeys.set(this.length + index, key);
    for (let index = 0; index < other.length; index++) this.#ends[this.length + index] = other.endOf(index) + shift;
    this.length += other.length;
    this.totalBytes += other.totalBytes;
  }

  /** The key of entry `index`: a view into the buffer for an inline key (valid until the next change). */
  keyAt(index: number): Uint8Array {
    return this.overflowKeys.get(index) ?? leafEntryKeyAt(this.#bytes, this.startOf(index));
  }
}

/**
 * Applies `changes` (keys ascending, each once) to the tree at `root`; returns the new root. The
 * transaction must not have changed the tree before (the merge treats every node it reads as
 * committed). `keyPrefixes`, when the caller has them: keyPrefix of each change's key, in order
 * (the write buffer keeps them; computing them here again cost a tenth of a merge, most of it
 * waiting for each key's bytes to come from memory).
 */
export async function mergeIntoTree(
  target: TreeMergeTarget,
  root: PageReference | undefined,
  changes: readonly TreeChange[],
  keyPrefixes?: Float64Array,
): Promise<PageReference | undefined> {
  const prefixes = keyPrefixes ?? (await computeKeyPrefixes(target.pacer, changes));
  assert(prefixes.length === changes.length, 'a merge has the abbreviated key of every change');
  // The order checked by the abbreviated keys, and by the keys themselves only where those tie.
  for (let index = 1; index < changes.length; index++) {
    const prefix = prefixes[index]!;
    if (prefixes[index - 1]! < prefix) continue;
    if (!(compareChangeKey(changes, prefixes, index - 1, changes[index]!.key, prefix) < 0)) assert(false, 'merged changes are in ascending key order');
  }
  if (changes.length === 0) return root;
  const merge = new TreeMerge(target, changes, prefixes);
  let list: NodeList;
  if (root === undefined) {
    const entries = (await merge.mergeLeafRun([], 0, changes.length))!;
    if (entries.length === 0) return undefined;
    list = await merge.buildLeaves(entries);
  } else {
    // The root as the one child of a branch that has no page: its children's list is the new top level.
    const top: BranchNode = { kind: 'branch', pageId: 0, txn: 0, keys: [], keyOverflows: [], children: [root], payloadBytes: BRANCH_FIRST_CHILD_BYTES };
    const merged = await merge.mergeChildren(top, 0, changes.length, 0);
    if (merged === undefined) return root;
    list = merged;
  }
  for (let depth = 0; list.children.length > 1; depth++) {
    assert(depth < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
    list = merge.buildBranches(list);
  }
  return merge.shrinkRoot(list.children[0]);
}

/**
 * keyPrefix of each change's key. Only the key is read here, so only its bytes count as work (the
 * change as a whole is counted once, where it is merged).
 */
async function computeKeyPrefixes(pacer: CheckpointPacer, changes: readonly TreeChange[]): Promise<Float64Array> {
  const prefixes = new Float64Array(changes.length);
  for (let index = 0; index < changes.length; index++) {
    const key = changes[index]!.key;
    prefixes[index] = keyPrefix(key);
    if (pacer.spend(key.length)) await pacer.pause();
  }
  return prefixes;
}

/** The work a change is to the checkpoint's pacing: its bytes and what holds them, as the write buffer counts it. */
function changeWorkBytes(change: TreeChange): number {
  return change.key.length + (change.value?.length ?? 0) + WRITE_BUFFER_ENTRY_OVERHEAD_BYTES;
}

class TreeMerge {
  readonly #target: TreeMergeTarget;
  readonly #changes: readonly TreeChange[];
  /** `#prefixes[i]`: keyPrefix of change `i`'s key, so most comparisons with a separator are of two numbers. */
  readonly #prefixes: Float64Array;
  /** Leaf pages this merge wrote: they have no node to read back. */
  readonly #newLeafPages = new Set<number>();
  /** The merged entries of the run being merged (see EntrySequence), and a second for joining a run to the leaf before it. */
  readonly #entries = new EntrySequence();
  readonly #joined = new EntrySequence();

  constructor(target: TreeMergeTarget, changes: readonly TreeChange[], prefixes: Float64Array) {
    this.#target = target;
    this.#changes = changes;
    this.#prefixes = prefixes;
  }

  /**
   * The new list of `branch`'s children once changes [start, end) are applied below it, or
   * undefined when nothing below it changed. `branch` itself is left to the caller.
   */
  async mergeChildren(branch: BranchNode, start: number, end: number, depth: number): Promise<NodeList | undefined> {
    assert(depth < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
    const bounds = this.#partition(branch, start, end);
    const touched: number[] = [];
    for (let child = 0; child < branch.children.length; child++) if (bounds[child]! < bounds[child + 1]!) touched.push(child);
    const nodes = await this.#readChildren(branch, touched);
    const firstTouched = nodes.get(touched[0]!)!;
    if (firstTouched.kind === 'leaf') return this.#mergeLeafChildren(branch, bounds, nodes);
    // What became of each child that changed: its new list of children, not yet cut into branches.
    const results = new Map<number, NodeList>();
    for (const child of touched) {
      const node = nodes.get(child)!;
      assert(node.kind === 'branch', 'the children of a branch are of one kind');
      if (this.#target.pacer.due) await this.#target.pacer.pause();
      const result = await this.mergeChildren(node, bounds[child]!, bounds[child + 1]!, depth + 1);
      if (result !== undefined) results.set(child, result);
    }
    if (results.size === 0) return undefined;
    return this.#joinBranchChildren(branch, nodes, results);
  }

  /**
   * A branch whose children are branches: each run of adjacent children that changed becomes one
   * list of their children, the separators between them moved down, cut anew into evenly filled
   * branches; an underfull run takes in a neighbouring branch.
   */
  async #joinBranchChildren(branch: BranchNode, nodes: Map<number, ChildSource>, results: Map<number, NodeList>): Promise<NodeList> {
    const out = emptyList();
    const childCount = branch.children.length;
    let lastUnchanged: number | undefined;
    for (let child = 0; child < childCount; ) {
      if (!results.has(child)) {
        this.#append(out, single(branch.children[child]!), separatorBefore(branch, child));
        lastUnchanged = child;
        child++;
        continue;
      }
      let first = child;
      let last = child;
      while (last + 1 < childCount && results.has(last + 1)) last++;
      let joined = emptyList();
      for (let index = first; index <= last; index++) {
        this.#target.free(nodes.get(index)!.pageId);
        this.#append(joined, results.get(index)!, index === first ? undefined : separatorBefore(branch, index));
      }
      if (joined.children.length > 0 && branchListBytes(joined) < NODE_MERGE_THRESHOLD_BYTES) {
        if (last + 1 < childCount) {
          last++;
          this.#append(joined, await this.#takeBranch(branch, last), separatorBefore(branch, last));
        } else if (canTakeLeft(out, first, lastUnchanged)) {
          popLast(out);
          first--;
          const left = await this.#takeBranch(branch, first);
          this.#append(left, joined, separatorBefore(branch, first + 1));
          joined = left;
        }
      }
      this.#append(out, this.buildBranches(joined), separatorBefore(branch, first));
      lastUnchanged = undefined;
      child = last + 1;
    }
    return out;
  }

  /** The children of `branch`'s unchanged child `child` (copied), whose page is freed: it is rewritten. */
  async #takeBranch(branch: BranchNode, child: number): Promise<NodeList> {
    const node = await this.#target.read(branch.children[child]!);
    assert(node.kind === 'branch', 'the children of a branch are of one kind');
    this.#target.free(node.pageId);
    return { children: node.children.slice(), keys: node.keys.slice(), keyOverflows: node.keyOverflows.slice() };
  }

  /**
   * A branch whose children are leaves: each run of adjacent leaves the changes reach is merged
   * with its changes and cut into new leaves; an underfull result takes in a neighbouring leaf.
   */
  async #mergeLeafChildren(branch: BranchNode, bounds: number[], nodes: Map<number, ChildSource>): Promise<NodeList | undefined> {
    const out = emptyList();
    const childCount = branch.children.length;
    let changed = false;
    /** The child appended last, when it went into `out` unchanged (a left neighbour to take in). */
    let lastUnchanged: number | undefined;
    for (let child = 0; child < childCount; ) {
      if (!nodes.has(child)) {
        this.#append(out, single(branch.children[child]!), separatorBefore(branch, child));
        lastUnchanged = child;
        child++;
        continue;
      }
      let first = child;
      let last = child;
      while (last + 1 < childCount && nodes.has(last + 1)) last++;
      const leaves = await this.#leaves(branch, nodes, first, last);
      let entries = await this.mergeLeafRun(leaves, bounds[first]!, bounds[last + 1]!);
      if (entries === undefined) {
        for (let index = first; index <= last; index++) this.#append(out, single(branch.children[index]!), separatorBefore(branch, index));
        lastUnchanged = last;
        child = last + 1;
        continue;
      }
      // An underfull run takes in the next leaf, or else the one before (when out holds it with
      // its separator, or it is the first child and has none).
      if (entries.totalBytes < NODE_MERGE_THRESHOLD_BYTES) {
        if (last + 1 < childCount) {
          last++;
          const right = (await this.#leaves(branch, nodes, last, last))[0]!;
          entries.pushSource(right, 0, right.offsets.length - 1);
        } else if (canTakeLeft(out, first, lastUnchanged)) {
          popLast(out);
          first--;
          const left = (await this.#leaves(branch, nodes, first, first))[0]!;
          const joined = this.#joined;
          joined.reset();
          joined.pushSource(left, 0, left.offsets.length - 1);
          joined.pushSequence(entries);
          entries = joined;
        }
      }
      changed = true;
      for (let index = first; index <= last; index++) {
        this.#target.free(branch.children[index]!.pageId);
        // Separators inside the run bounded leaves that are gone: they are dropped.
        if (index > first) this.#dropSeparator(branch.keyOverflows[index - 1]);
      }
      this.#append(out, entries.length === 0 ? emptyList() : await this.buildLeaves(entries), separatorBefore(branch, first));
      lastUnchanged = undefined;
      child = last + 1;
    }
    return changed ? out : undefined;
  }

  /**
   * The entries of `leaves` merged with changes [start, end): a change replaces or deletes the
   * entry of its key, or inserts one. Undefined when no change alters anything (deletes of
   * absent keys only). Unchanged entries between two changes are copied at once, found by a
   * galloping search for the next change's key from the last one's place. The sequence returned
   * is the merge's own, valid until the next run is merged.
   */
  async mergeLeafRun(leaves: readonly LeafSource[], start: number, end: number): Promise<EntrySequence | undefined> {
    const changes = this.#changes;
    const pacer = this.#target.pacer;
    const entries = this.#entries;
    entries.reset();
    let changed = false;
    let next = start;
    for (let leafIndex = 0; leafIndex < leaves.length; leafIndex++) {
      if (pacer.spend(PAGE_BYTES)) await pacer.pause();
      const leaf = leaves[leafIndex]!;
      const count = leaf.offsets.length - 1;
      const lastLeaf = leafIndex === leaves.length - 1;
      let position = 0;
      for (; next < end; next++) {
        const change = changes[next]!;
        const index = lowerBoundFrom(leaf, change.key, position, count);
        // Past this leaf's last key: the change belongs to a later leaf, or at the end of the last one.
        if (index === count && !lastLeaf) break;
        if (pacer.spend(changeWorkBytes(change))) await pacer.pause();
        entries.pushSource(leaf, position, index);
        position = index;
        if (index < count && compareEntryKey(leaf, index, change.key) === 0) {
          changed = true;
          position = index + 1;
          const offset = leaf.offsets[index]!;
          const runs = leafEntryRunsAt(leaf.page, offset, leaf.pageId);
          if (runs.value !== undefined) this.#target.freeRun(runs.value);
          if (change.value === null) {
            if (runs.key !== undefined) this.#target.freeRun(runs.key);
            continue;
          }
          const key = leaf.overflowKeys?.get(index) ?? leafEntryKeyAt(leaf.page, offset);
          this.#pushChanged(entries, { key, keyOverflow: runs.key, version: change.version, value: change.value });
          continue;
        }
        if (change.value === null) continue;
        changed = true;
        this.#pushInserted(entries, change);
      }
      entries.pushSource(leaf, position, count);
    }
    for (; next < end; next++) {
      const change = changes[next]!;
      if (pacer.spend(changeWorkBytes(change))) await pacer.pause();
      if (change.value === null) continue;
      changed = true;
      this.#pushInserted(entries, change);
    }
    return changed || leaves.length === 0 ? entries : undefined;
  }

  #pushInserted(entries: EntrySequence, change: TreeChange): void {
    // A long key gets a copy of its own in its run, so nothing keeps alive the buffer it is a view of.
    const key = keyIsInline(change.key) ? change.key : change.key.slice();
    this.#pushChanged(entries, { key, keyOverflow: keyIsInline(key) ? undefined : this.#target.newRun(key), version: change.version, value: change.value! });
  }

  /** Encodes an entry that changed at the end of `entries`. */
  #pushChanged(entries: EntrySequence, entry: { key: Uint8Array; keyOverflow: OverflowReference | undefined; version: number; value: Uint8Array }): void {
    const value = valueIsInline(entry.value.length) ? entry.value : this.#target.newRun(entry.value);
    const size = leafEntryBytes(entry.key, value);
    entries.reserve(size, 1);
    const written = encodeLeafEntry(entries.bytes, entries.totalBytes, { key: entry.key, keyOverflow: entry.keyOverflow, version: entry.version, value });
    assert(written === size, 'a changed entry is as large as its accounting says');
    entries.pushEncoded(size, entry.keyOverflow === undefined ? undefined : entry.key);
  }

  /**
   * Cuts merged entries into new leaf pages: one when they fit a page, else evenly filled ones with
   * room left (MERGE_FILL_BYTES), so that the next merge's few inserts into a leaf do not split it.
   * Each page is made by one copy of its entries' bytes.
   */
  async buildLeaves(entries: EntrySequence): Promise<NodeList> {
    const list = emptyList();
    const total = entries.length;
    const ends = entries.totalBytes > PAGE_PAYLOAD_BYTES ? pieceEnds(entries.ends, total) : [total];
    let first = 0;
    for (const end of ends) {
      if (this.#target.pacer.spend(PAGE_BYTES)) await this.#target.pacer.pause();
      const pageId = this.#target.allocate();
      const page = newPage({ kind: PAGE_KIND.leaf, count: end - first, pageId, txn: this.#target.txn });
      const writeOffset = copyInto(page, PAGE_PAYLOAD_OFFSET, entries.bytes, entries.startOf(first), entries.endOf(end - 1));
      assert(writeOffset - PAGE_PAYLOAD_OFFSET <= PAGE_PAYLOAD_BYTES, 'a merged leaf fits its page');
      this.#target.addLeafPage(pageId, sealPage(page));
      this.#newLeafPages.add(pageId);
      if (first > 0) {
        const separator = shortestSeparator(entries.keyAt(first - 1), entries.keyAt(first));
        list.keys.push(separator);
        list.keyOverflows.push(keyIsInline(separator) ? undefined : this.#target.newRun(separator));
      }
      list.children.push({ pageId, txn: this.#target.txn });
      first = end;
    }
    return list;
  }

  /**
   * Cuts a list of children into evenly filled new branches; the separator at each cut moves up,
   * into the returned list, with its run.
   */
  buildBranches(list: NodeList): NodeList {
    const up = emptyList();
    if (list.children.length === 0) return up;
    // Where each child's bytes end, laid one after another: the first child's, then a separator and child each.
    const ends: number[] = [];
    let totalBytes = 0;
    for (let index = 0; index < list.children.length; index++) {
      totalBytes += index === 0 ? BRANCH_FIRST_CHILD_BYTES : branchSeparatorBytes(list.keys[index - 1]!);
      ends.push(totalBytes);
    }
    let first = 0;
    for (const end of totalBytes > PAGE_PAYLOAD_BYTES ? pieceEnds(ends, ends.length) : [ends.length]) {
      const branch: BranchNode = {
        kind: 'branch',
        pageId: this.#target.allocate(),
        txn: this.#target.txn,
        keys: list.keys.slice(first, end - 1),
        keyOverflows: list.keyOverflows.slice(first, end - 1),
        children: list.children.slice(first, end),
        payloadBytes: BRANCH_FIRST_CHILD_BYTES,
      };
      for (const key of branch.keys) branch.payloadBytes += branchSeparatorBytes(key);
      if (first > 0) {
        up.keys.push(list.keys[first - 1]!);
        up.keyOverflows.push(list.keyOverflows[first - 1]);
      }
      up.children.push(this.#add(branch));
      first = end;
    }
    return up;
  }

  /** A root branch with one child gives way to the child, level by level. */
  async shrinkRoot(root: PageReference | undefined): Promise<PageReference | undefined> {
    for (let depth = 0; root !== undefined; depth++) {
      assert(depth < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
      if (root.txn === this.#target.txn && this.#newLeafPages.has(root.pageId)) return root;
      const node = await this.#target.read(root);
      if (node.kind !== 'branch' || node.children.length !== 1) return root;
      this.#target.free(node.pageId);
      root = node.children[0]!;
    }
    return root;
  }

  /**
   * Where each child's changes start: child `i` gets changes [bounds[i], bounds[i + 1]), those
   * at or above its left separator and below its right one. Each bound is found galloping from the
   * one before: below the top of the tree a child gets a few dozen changes of thousands.
   */
  #partition(branch: BranchNode, start: number, end: number): number[] {
    const changes = this.#changes;
    const prefixes = this.#prefixes;
    const bounds = [start];
    let low = start;
    for (const separator of branch.keys) {
      const separatorPrefix = keyPrefix(separator);
      low = gallop(low, end, (index) => compareChangeKey(changes, prefixes, index, separator, separatorPrefix) >= 0);
      bounds.push(low);
    }
    bounds.push(end);
    return bounds;
  }

  /**
   * Reads the touched children: cached ones from the cache, the others a run of consecutive page
   * ids at a time (a merge writes the leaves of a range in order, so they often are), up to
   * readsConcurrentMax reads at a time, so the medium serves them together.
   */
  async #readChildren(branch: BranchNode, touched: readonly number[]): Promise<Map<number, ChildSource>> {
    const nodes = new Map<number, ChildSource>();
    const runs: number[][] = [];
    for (const child of touched) {
      const reference = branch.children[child]!;
      const cached = this.#cachedSource(reference);
      if (cached !== undefined) {
        nodes.set(child, cached);
        continue;
      }
      const run = runs.at(-1);
      const previous = run === undefined ? undefined : branch.children[run.at(-1)!]!;
      if (run !== undefined && previous!.pageId + 1 === reference.pageId && run.length < MERGE_READ_PAGES_MAX) run.push(child);
      else runs.push([child]);
    }
    let next = 0;
    const reader = async (): Promise<void> => {
      while (next < runs.length) {
        const run = runs[next++]!;
        const sources = await this.#readSources(run.map((child) => branch.children[child]!));
        run.forEach((child, index) => nodes.set(child, sources[index]!));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#target.readsConcurrentMax, runs.length) }, reader));
    return nodes;
  }

  /** The child at `reference` as the merge reads it (see #cachedSource and #readSources). */
  async #source(reference: PageReference): Promise<ChildSource> {
    return this.#cachedSource(reference) ?? (await this.#readSources([reference]))[0]!;
  }

  /** A cached branch, or a cached leaf as its sealed page; undefined when not cached. */
  #cachedSource(reference: PageReference): ChildSource | undefined {
    const cached = this.#target.cachedNode(reference);
    if (cached?.kind === 'branch') return cached;
    if (cached?.page === undefined) return undefined;
    // Its entries' offsets are in its index, and every key in its page.
    if (cached instanceof PageLeaf) return { kind: 'leaf', pageId: reference.pageId, page: cached.page, offsets: cached.entryOffsets(), overflowKeys: undefined };
    let overflowKeys: Map<number, Uint8Array> | undefined;
    const keyOverflows = cached.keyOverflows;
    for (let index = 0; index < keyOverflows.length; index++) {
      if (keyOverflows[index] !== undefined) (overflowKeys ??= new Map()).set(index, cached.keys[index]!);
    }
    return { kind: 'leaf', pageId: reference.pageId, page: cached.page, offsets: leafEntryOffsets(cached.page, cached.keys.length, reference.pageId), overflowKeys };
  }

  /**
   * The children at `references` (consecutive page ids) read from the file: a leaf as its page,
   * checked but not decoded (its entries are copied as bytes, never looked at again); a branch as
   * its node.
   */
  async #readSources(references: readonly PageReference[]): Promise<ChildSource[]> {
    const pages = await this.#target.readNodePages(references);
    // Read and checked by now; paused for at the next pause point.
    this.#target.pacer.spend(references.length * PAGE_BYTES);
    const sources: ChildSource[] = [];
    for (let index = 0; index < references.length; index++) {
      const reference = references[index]!;
      const { page, kind, count } = pages[index]!;
      if (kind === 'branch') {
        const node = await this.#target.nodeOfPage(page, reference);
        assert(node.kind === 'branch', 'a branch page decodes to a branch');
        sources.push(node);
        continue;
      }
      const offsets = leafEntryOffsets(page, count, reference.pageId);
      let overflowKeys: Map<number, Uint8Array> | undefined;
      for (let entry = 0; entry < count; entry++) {
        if (!leafEntryKeyOverflows(page, offsets[entry]!)) continue;
        const run = leafEntryRunsAt(page, offsets[entry]!, reference.pageId).key!;
        (overflowKeys ??= new Map()).set(entry, await this.#target.readOverflow(run));
      }
      sources.push({ kind: 'leaf', pageId: reference.pageId, page, offsets, overflowKeys });
    }
    return sources;
  }

  /** The leaves `first` to `last` of `branch`, read now when the merge did not read them already. */
  async #leaves(branch: BranchNode, nodes: Map<number, ChildSource>, first: number, last: number): Promise<LeafSource[]> {
    const leaves: LeafSource[] = [];
    for (let child = first; child <= last; child++) {
      const node = nodes.get(child) ?? (await this.#source(branch.children[child]!));
      assert(node.kind === 'leaf', 'the children of a branch are of one kind');
      leaves.push(node);
    }
    return leaves;
  }

  /**
   * Appends `result` (what became of a child) to `out`, with `separator` (the child's left one)
   * between them; with nothing on one side the separator bounds nothing and is dropped.
   */
  #append(out: NodeList, result: NodeList, separator: { key: Uint8Array; overflow: OverflowReference | undefined } | undefined): void {
    if (result.children.length === 0 || out.children.length === 0) {
      if (separator !== undefined) this.#dropSeparator(separator.overflow);
      if (result.children.length === 0) return;
    } else {
      assert(separator !== undefined, 'a child after another has a separator');
      out.keys.push(separator.key);
      out.keyOverflows.push(separator.overflow);
    }
    out.children.push(...result.children);
    out.keys.push(...result.keys);
    out.keyOverflows.push(...result.keyOverflows);
  }

  #dropSeparator(overflow: OverflowReference | undefined): void {
    if (overflow !== undefined) this.#target.freeRun(overflow);
  }


  #add(node: TreeNode): PageReference {
    this.#target.addNode(node);
    return { pageId: node.pageId, txn: node.txn };
  }
}

/**
 * Where to cut `count` items into pieces filled to about MERGE_FILL_BYTES, as even as the items
 * allow, and never past a page: the end index of each piece. `ends[i]` is where item `i` ends when
 * they are laid one after another (item `i` starts at `ends[i - 1]`, the first at 0), so
 * `ends[count - 1]` is their total, more than a page. Each piece holds at least one item.
 */
function pieceEnds(ends: ArrayLike<number>, count: number): number[] {
  const totalBytes = ends[count - 1]!;
  const pieces = Math.max(1, Math.ceil(totalBytes / MERGE_FILL_BYTES));
  const pieceEndIndexes: number[] = [];
  let pieceStart = 0;
  for (let index = 0; index < count; index++) {
    const itemStart = index === 0 ? 0 : ends[index - 1]!;
    const filled = itemStart * pieces >= totalBytes * (pieceEndIndexes.length + 1);
    if (itemStart > pieceStart && (filled || ends[index]! - pieceStart > PAGE_PAYLOAD_BYTES)) {
      pieceEndIndexes.push(index);
      pieceStart = itemStart;
    }
  }
  pieceEndIndexes.push(count);
  return pieceEndIndexes;
}

/**
 * The index of the first entry of `leaf` in [low, high) whose key is not less than `key` (`high`
 * when none), galloping from `low`: the next change's entry is most often one of the next few.
 */
function lowerBoundFrom(leaf: LeafSource, key: Uint8Array, low: number, high: number): number {
  return gallop(low, high, (index) => compareEntryKey(leaf, index, key) >= 0);
}

/**
 * The first index in [low, high) where `atOrAbove` holds (`high` when none), for a predicate false
 * and then true along the range: probes 1, 2, 4, ... steps from `low` (the answer is most often a
 * few steps on), then a binary search within the last step.
 */
function gallop(low: number, high: number, atOrAbove: (index: number) => boolean): number {
  for (let step = 1; ; step *= 2) {
    const probe = low + step - 1;
    if (probe >= high) break;
    if (atOrAbove(probe)) {
      high = probe;
      break;
    }
    low = probe + 1;
  }
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (atOrAbove(middle)) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** compareBytes(changes[index].key, key), by their abbreviated keys (keyPrefix) when those differ. */
function compareChangeKey(changes: readonly TreeChange[], prefixes: Float64Array, index: number, key: Uint8Array, keyPrefixOfKey: number): number {
  const prefix = prefixes[index]!;
  if (prefix !== keyPrefixOfKey) return prefix - keyPrefixOfKey;
  return compareBytes(changes[index]!.key, key);
}

/** Compares the key of entry `index` of `leaf` with `key`, as compareBytes would. */
function compareEntryKey(leaf: LeafSource, index: number, key: Uint8Array): number {
  const overflowKey = leaf.overflowKeys?.get(index);
  return overflowKey === undefined ? compareLeafEntryKey(leaf.page, leaf.offsets[index]!, key) : compareBytes(overflowKey, key);
}

/** The payload of one branch holding every child of `list`. */
function branchListBytes(list: NodeList): number {
  let total = BRANCH_FIRST_CHILD_BYTES;
  for (const key of list.keys) total += branchSeparatorBytes(key);
  return total;
}

function emptyList(): NodeList {
  return { children: [], keys: [], keyOverflows: [] };
}

function single(child: PageReference): NodeList {
  return { children: [child], keys: [], keyOverflows: [] };
}

/**
 * Whether a run of changed children starting at `first` can take in the child before it: `out`
 * ends with that child, unchanged, with its separator before it, or it is the first child and has none.
 */
function canTakeLeft(out: NodeList, first: number, lastUnchanged: number | undefined): boolean {
  return first > 0 && lastUnchanged === first - 1 && (out.children.length >= 2 || first === 1);
}

/** Removes the last child of `out` and the separator before it (none when it is the only child). */
function popLast(out: NodeList): void {
  out.children.pop();
  out.keys.pop();
  out.keyOverflows.pop();
}

function separatorBefore(branch: BranchNode, child: number): { key: Uint8Array; overflow: OverflowReference | undefined } | undefined {
  return child === 0 ? undefined : { key: branch.keys[child - 1]!, overflow: branch.keyOverflows[child - 1] };
}
