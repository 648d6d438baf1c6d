import { describe, expect, it } from 'vitest';
import { KEY_INLINE_BYTES_MAX, MERGE_FILL_BYTES, PAGE_BYTES, VALUE_INLINE_BYTES_MAX } from './constants.ts';
import type { KvSnapshot, KvStore } from './kv-store-types.ts';
import { openKvStore } from './kv-store.ts';
import { type BranchNode, type LeafNode, leafEntryBytes } from './node.ts';
import { PageStore } from './page-store.ts';
import { recoverState } from './recovery.ts';
import { checkStoreFile } from './store-check.ts';
import { CountingStorageFile } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, SeededRandom, hex, numberedKey } from './test-workload.ts';

/**
 * The checkpoint's merge (tree-merge.ts), through a store with a commit log: the write buffer
 * merged into the tree must give exactly the state the commits describe, keep every snapshot
 * pinned before it whole, account for every page (checkStoreFile), and rewrite only what the
 * buffer reaches.
 */

type Reference = Map<string, { key: Uint8Array; value: Uint8Array; version: number }>;

async function scanAll(reader: KvStore | KvSnapshot): Promise<string[]> {
  const described: string[] = [];
  for (let page = await reader.scan({ limit: 500 }); ; page = await reader.scan({ limit: 500, cursor: page.cursor! })) {
    for (const entry of page.entries) described.push(`${hex(entry.key)}=${hex(entry.value)}@${entry.version}`);
    if (page.cursor === undefined) return described;
  }
}

function describeReference(reference: Reference): string[] {
  return [...reference.values()]
    .sort((left, right) => (hex(left.key) < hex(right.key) ? -1 : 1))
    .map((entry) => `${hex(entry.key)}=${hex(entry.value)}@${entry.version}`);
}

/**
 * Key `index`; every seventh one longer than a node keeps inline, so it lives in an overflow run,
 * and shares so long a prefix with the others that separators between them do too.
 */
function workloadKey(index: number): Uint8Array {
  const key = numberedKey(index);
  if (index % 7 !== 3) return key;
  const long = new Uint8Array(KEY_INLINE_BYTES_MAX + 20 + key.length).fill(0x7a);
  long.set(key, KEY_INLINE_BYTES_MAX + 20);
  return long;
}

async function treeImageOf(tree: CountingStorageFile): Promise<CountingStorageFile> {
  return new CountingStorageFile(tree.image());
}

describe('the checkpoint merge', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  for (const seed of [1, 2, 3]) {
    it(`leaves the state the commits describe, and pinned snapshots whole, across many checkpoints (seed ${seed})`, async () => {
      const random = new SeededRandom(seed);
      const tree = new CountingStorageFile();
      const log = new CountingStorageFile();
      const store = await openKvStore(tree, { cachePages: 16, log, writeBufferBytes: 40_000 });
      const reference: Reference = new Map();
      const pinned: { snapshot: KvSnapshot; expected: string[] }[] = [];
      const keySpace = 3_000;
      let checkpoints = 0;
      for (let commit = 0; commit < 120; commit++) {
        const operations: { type: 'put' | 'delete'; key: Uint8Array; value?: Uint8Array }[] = [];
        const shape = random.below(10);
        if (shape === 0) {
          // A range emptied: whole leaves and branches go, neighbours take in what is left.
          const first = random.below(keySpace);
          for (let index = first; index < Math.min(keySpace, first + 400); index++) operations.push({ type: 'delete', key: workloadKey(index) });
        } else if (shape === 1) {
          // A run of adjacent new keys: many new leaves in one place, the tree grows taller.
          const first = random.below(keySpace);
          for (let index = first; index < Math.min(keySpace, first + 300); index++) {
            operations.push({ type: 'put', key: workloadKey(index), value: random.bytes(20 + random.below(120)) });
          }
        } else {
          for (let count = 1 + random.below(60); count > 0; count--) {
            const key = workloadKey(random.below(keySpace));
            if (random.below(4) === 0) operations.push({ type: 'delete', key });
            else operations.push({ type: 'put', key, value: random.bytes(random.below(12) === 0 ? VALUE_INLINE_BYTES_MAX + random.below(3_000) : random.below(200)) });
          }
        }
        const deduplicated = new Map(operations.map((operation) => [hex(operation.key), operation]));
        const transactionsBefore = (await store.stats()).writeTransactionCount;
        const version = await store.commit([...deduplicated.values()].map((operation) => operation.type === 'put' ? { type: 'put', key: operation.key, value: operation.value! } : { type: 'delete', key: operation.key }), [], { durability: 'relaxed' });
        if ((await store.stats()).writeTransactionCount > transactionsBefore) checkpoints++;
        for (const operation of deduplicated.values()) {
          if (operation.type === 'delete') reference.delete(hex(operation.key));
          else reference.set(hex(operation.key), { key: operation.key, value: operation.value!, version });
        }
        if (random.below(6) === 0) {
          // Pinned now, read after later checkpoints merged the buffer it reads.
          pinned.push({ snapshot: store.snapshot(), expected: describeReference(reference) });
          if (pinned.length > 3) {
            const oldest = pinned.shift()!;
            expect(await scanAll(oldest.snapshot)).toEqual(oldest.expected);
            oldest.snapshot.release();
          }
        }
        if (commit % 20 === 19) expect(await scanAll(store)).toEqual(describeReference(reference));
      }
      for (const { snapshot, expected } of pinned) {
        expect(await scanAll(snapshot)).toEqual(expected);
        snapshot.release();
      }
      expect(checkpoints).toBeGreaterThan(5);
      expect(await scanAll(store)).toEqual(describeReference(reference));
      await store.close();
      const report = await checkStoreFile(await treeImageOf(tree));
      expect(report.entryCount).toBe(reference.size);
      const reopened = await openKvStore(await treeImageOf(tree), { log: new CountingStorageFile(log.image()) });
      expect(await scanAll(reopened)).toEqual(describeReference(reference));
      await reopened.close();
    });
  }

  it('rewrites only the leaves and branches the write buffer reaches', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log });
    await store.batch(Array.from({ length: 20_000 }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value: new Uint8Array(100).fill(index % 256) })));
    await store.close();
    const before = await checkStoreFile(await treeImageOf(tree));
    expect(before.depth).toBe(3);
    const reopenedTree = await treeImageOf(tree);
    const reopened = await openKvStore(reopenedTree, { log: new CountingStorageFile(log.image()) });
    await reopened.put(numberedKey(5_000), new Uint8Array([1]));
    await reopened.delete(numberedKey(15_000));
    const writtenBefore = reopenedTree.writtenBytes;
    await reopened.close();
    // Two leaves, their branches and the root, the freelist and the meta page; not the whole tree.
    expect(reopenedTree.writtenBytes - writtenBefore).toBeLessThanOrEqual(10 * PAGE_BYTES);
    expect((await checkStoreFile(await treeImageOf(reopenedTree))).entryCount).toBe(19_999);
  });

  it('fills the leaves of a large merge evenly, with room for the next inserts', async () => {
    const tree = new CountingStorageFile();
    const store = await openKvStore(tree, { log: new CountingStorageFile() });
    const value = new Uint8Array(60);
    const count = 10_000;
    await store.batch(Array.from({ length: count }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value })));
    await store.close();
    const report = await checkStoreFile(await treeImageOf(tree));
    const payloadBytes = count * leafEntryBytes(numberedKey(0), value);
    const leavesAtFill = Math.ceil(payloadBytes / MERGE_FILL_BYTES);
    // Leaves, plus their branches: about one per hundred leaves here.
    expect(report.treePages).toBeGreaterThanOrEqual(leavesAtFill);
    expect(report.treePages).toBeLessThanOrEqual(leavesAtFill + Math.ceil(leavesAtFill / 50) + 1);
  });

  it('drops the leaves and branches of a range deleted whole, and takes in the underfull ones left', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const loading = await openKvStore(tree, { log, cachePages: 16 });
    await loading.batch(Array.from({ length: 20_000 }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value: new Uint8Array(100) })));
    await loading.close();
    expect((await checkStoreFile(await treeImageOf(tree))).depth).toBe(3);
    const reopenedTree = await treeImageOf(tree);
    const reopenedLog = new CountingStorageFile(log.image());
    const store = await openKvStore(reopenedTree, { log: reopenedLog, cachePages: 16 });
    // Keep a few keys at each end and one lone key in the middle of the range.
    const deletes = [];
    for (let index = 3; index < 19_997; index++) if (index !== 10_000) deletes.push({ type: 'delete' as const, key: numberedKey(index) });
    await store.batch(deletes);
    await store.close();
    const report = await checkStoreFile(await treeImageOf(reopenedTree));
    expect(report.entryCount).toBe(7);
    // What is left of each former branch's leaves is one leaf, and the emptied branches are gone:
    // one branch over three small leaves, not hundreds of near-empty pages.
    expect(report.treePages).toBeLessThanOrEqual(4);
    expect(report.depth).toBeLessThanOrEqual(2);
    const reopened = await openKvStore(await treeImageOf(reopenedTree), { log: new CountingStorageFile(reopenedLog.image()) });
    expect((await reopened.scan({ limit: 100 })).entries.map((entry) => new TextDecoder().decode(entry.key))).toEqual(
      [0, 1, 2, 10_000, 19_997, 19_998, 19_999].map((index) => `key-${String(index).padStart(6, '0')}`),
    );
    await reopened.close();
  });

  it('has a leaf left nearly empty take in its neighbour: the next one, or the one before when it is the last', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const loading = await openKvStore(tree, { log });
    await loading.batch(Array.from({ length: 20_000 }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value: new Uint8Array(100) })));
    await loading.close();
    const before = await checkStoreFile(await treeImageOf(tree));
    expect(before.depth).toBe(3);
    // The leaves under the first branch of the root.
    const pages = new PageStore(await treeImageOf(tree), 64);
    const root = (await pages.readNode((await recoverState(pages)).meta.root!)) as BranchNode;
    const branch = (await pages.readNode(root.children[0]!)) as BranchNode;
    const leaves = (await Promise.all(branch.children.map((child) => pages.readNode(child)))) as LeafNode[];
    expect(leaves.length).toBeGreaterThan(8);
    // Empty leaf 5 but for its first key, and the last leaf but for its first: neither neighbour changes.
    const deletes = [leaves[5]!, leaves.at(-1)!].flatMap((leaf) => leaf.keys.slice(1).map((key) => ({ type: 'delete' as const, key })));
    const reopenedTree = await treeImageOf(tree);
    const store = await openKvStore(reopenedTree, { log: new CountingStorageFile(log.image()) });
    await store.batch(deletes);
    await store.close();
    const after = await checkStoreFile(await treeImageOf(reopenedTree));
    expect(after.entryCount).toBe(20_000 - deletes.length);
    // Each nearly empty leaf and its neighbour became one leaf.
    expect(after.treePages).toBe(before.treePages - 2);
  });
});

