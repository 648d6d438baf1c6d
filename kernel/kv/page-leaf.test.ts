import { describe, expect, it } from 'vitest';
import { resolveMetastoreScan } from '../contracts/metastore-validation.ts';
import { KEY_INLINE_BYTES_MAX, VALUE_INLINE_BYTES_MAX } from './constants.ts';
import { openKvStore } from './kv-store.ts';
import { type LeafNode, type PageReference, computeLeafPayloadBytes } from './node.ts';
import { PageLeaf, decodeNode, decodeSealedNode, encodeNode, leafEntryOffsets } from './node-codec.ts';
import { CheckpointPacer } from './checkpoint-pacer.ts';
import { FreeSpace } from './free-space.ts';
import { PageAllocator } from './page-allocator.ts';
import { PageStore } from './page-store.ts';
import { recoverState } from './recovery.ts';
import { CountingStorageFile } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, SeededRandom, numberedKey } from './test-workload.ts';
import { NEEDS_FILE, readEntry, readEntryCached, readVersion, scanTree } from './tree-read.ts';
import { keyPrefix } from './write-buffer.ts';
import { WriteTransaction } from './write-transaction.ts';

/** A leaf of `count` entries, the third value in an overflow run; `longKey` makes the first key one. */
function leaf(count: number, longKey = false): LeafNode {
  const random = new SeededRandom(count);
  const keys = Array.from({ length: count }, (_, index) => numberedKey(index));
  if (longKey) keys[0] = new Uint8Array(KEY_INLINE_BYTES_MAX + 1).fill(1);
  const node: LeafNode = {
    kind: 'leaf',
    pageId: 7,
    txn: 3,
    keys,
    keyOverflows: keys.map((key, index) => (longKey && index === 0 ? { pageId: 40, txn: 2, lengthBytes: key.length } : undefined)),
    versions: keys.map((_, index) => 2 ** 40 + index),
    values: keys.map((_, index) => (index === 2 ? { pageId: 30, txn: 2, lengthBytes: VALUE_INLINE_BYTES_MAX + 1 } : random.bytes(index * 3))),
    payloadBytes: 0,
  };
  node.payloadBytes = computeLeafPayloadBytes(node);
  return node;
}

describe('cached leaves as their page (PageLeaf)', () => {
  it('decodes a leaf whose keys are all in its page to its index, and its arrays only when asked, as decodeLeaf made them', () => {
    const original = leaf(12);
    const page = encodeNode(structuredClone(original));
    const decoded = decodeNode(page, { pageId: 7, txn: 3 });
    expect(decoded).toBeInstanceOf(PageLeaf);
    const pageLeaf = decoded as PageLeaf;
    expect(pageLeaf.decoded).toBe(false);
    expect(pageLeaf.count).toBe(12);
    expect(pageLeaf.payloadBytes).toBe(original.payloadBytes);
    expect([...pageLeaf.index.subarray(0, 12)]).toEqual(original.keys.map(keyPrefix));
    expect(pageLeaf.entryOffsets()).toEqual(leafEntryOffsets(page, 12, 7));
    expect(pageLeaf.decoded).toBe(false);
    expect(pageLeaf.keys).toEqual(original.keys);
    expect(pageLeaf.decoded).toBe(true);
    expect(pageLeaf.versions).toEqual(original.versions);
    expect(pageLeaf.values).toEqual(original.values);
    expect(pageLeaf.keyOverflows).toEqual(original.keyOverflows);
  });

  it('decodes a leaf with a key in an overflow run as before: its arrays, the key to be read in', () => {
    const decoded = decodeNode(encodeNode(leaf(5, true)), { pageId: 7, txn: 3 });
    expect(decoded).not.toBeInstanceOf(PageLeaf);
    expect((decoded as LeafNode).keyOverflows[0]).toEqual({ pageId: 40, txn: 2, lengthBytes: KEY_INLINE_BYTES_MAX + 1 });
  });

  it('refuses a malformed entry when the leaf is decoded, with ECORRUPT', () => {
    const page = encodeNode(leaf(4));
    const offsets = leafEntryOffsets(page, 4, 7);
    // Decoded without its checksum (as a page the engine sealed): the entries are checked still.
    const zeroKey = page.slice();
    zeroKey[offsets[1]! + 1] = 0;
    zeroKey[offsets[1]! + 2] = 0;
    expect(() => decodeSealedNode(zeroKey, { pageId: 7, txn: 3 })).toThrow(expect.objectContaining({ code: 'ECORRUPT' }));
    const pastTheEnd = page.slice();
    pastTheEnd[offsets[3]! + 1] = 0xff;
    pastTheEnd[offsets[3]! + 2] = 0x0f;
    expect(() => decodeSealedNode(pastTheEnd, { pageId: 7, txn: 3 })).toThrow(expect.objectContaining({ code: 'ECORRUPT' }));
  });

  it(
    'serves point reads, version checks and scans from cached leaves without decoding their arrays',
    async () => {
      const tree = new CountingStorageFile();
      const store = await openKvStore(tree);
      const random = new SeededRandom(5);
      const values = new Map<number, Uint8Array>();
      for (let start = 0; start < 3000; start += 1000) {
        const operations = Array.from({ length: 1000 }, (_, index) => {
          const value = random.bytes(random.below(7) === 0 ? VALUE_INLINE_BYTES_MAX + 1 : random.below(150));
          values.set(start + index, value);
          return { type: 'put' as const, key: numberedKey(start + index), value };
        });
        await store.batch(operations);
      }
      await store.close();
      const pages = new PageStore(new CountingStorageFile(tree.image()), 4096);
      const root = (await recoverState(pages)).meta.root!;
      for (let index = 0; index < 3000; index += 7) {
        const value = values.get(index)!;
        const entry = await readEntry(pages, root, numberedKey(index));
        expect(entry?.value).toEqual(value);
        // Cached now: an inline value without a wait, one in an overflow run from the file.
        const cached = readEntryCached(pages, root, numberedKey(index));
        if (value.length > VALUE_INLINE_BYTES_MAX) expect(cached).toBe(NEEDS_FILE);
        else expect(cached).toEqual(entry);
        expect(await readVersion(pages, root, numberedKey(index))).toBe(entry!.version);
      }
      expect(await readEntry(pages, root, numberedKey(5000))).toBeUndefined();
      expect(await readVersion(pages, root, numberedKey(5000))).toBeNull();
      const scanned = await scanTree(pages, root, resolveMetastoreScan({ start: numberedKey(100), limit: 500, reverse: true }));
      expect(scanned.entries.map((entry) => entry.value)).toEqual(Array.from({ length: 500 }, (_, index) => values.get(2999 - index)));
      const leaves = await cachedLeaves(pages, root);
      expect(leaves.length).toBeGreaterThan(10);
      expect(leaves.every((node) => node instanceof PageLeaf && !node.decoded)).toBe(true);
    },
    HEAVY_TEST_TIMEOUT_MS,
  );

  it('lets a merge copy entries from cached leaves without decoding their arrays', async () => {
    const tree = new CountingStorageFile();
    const store = await openKvStore(tree);
    await store.batch(Array.from({ length: 3000 }, (_, index) => ({ type: 'put' as const, key: numberedKey(index * 2), value: new Uint8Array(40) })));
    await store.close();
    const pages = new PageStore(new CountingStorageFile(tree.image()), 4096);
    const { meta } = await recoverState(pages);
    const root = meta.root!;
    // Every leaf into the cache, read as a scan reads them.
    expect((await scanTree(pages, root, resolveMetastoreScan({ limit: 10_000 }))).entries).toHaveLength(3000);
    const before = await cachedLeaves(pages, root);
    expect(before.every((node) => node instanceof PageLeaf && !node.decoded)).toBe(true);
    // New keys among the old: the merge rewrites each leaf they reach, copying the rest of it.
    const changes = Array.from({ length: 60 }, (_, index) => ({ key: numberedKey(index * 100 + 1), version: meta.lastVersion + 1, value: new Uint8Array(8) }));
    const transaction = new WriteTransaction({
      txn: meta.txn + 1,
      pages,
      allocator: new PageAllocator({ txn: meta.txn + 1, pageCount: meta.pageCount, space: new FreeSpace() }),
      root,
    });
    const pacer = new CheckpointPacer({ schedule: (resume) => resume(), workBytes: 1 << 30, pressure: () => 0, hurry: () => false });
    await transaction.merge(changes, { readsConcurrentMax: 4, pacer });
    // It wrote dozens of new leaves, their old entries copied from the cached pages.
    expect([...transaction.mergedLeaves(1000)].length).toBeGreaterThan(20);
    expect(before.every((node) => !(node as PageLeaf).decoded)).toBe(true);
  });
});

/** The cached leaves of the tree at `root`. */
async function cachedLeaves(pages: PageStore, root: PageReference): Promise<LeafNode[]> {
  const leaves: LeafNode[] = [];
  const visit = (reference: PageReference): void => {
    const node = pages.cachedNode(reference);
    if (node === undefined) return;
    if (node.kind === 'leaf') leaves.push(node);
    else node.children.forEach(visit);
  };
  visit(root);
  return leaves;
}
