import { describe, expect, it } from 'vitest';
import { bytesEqual, compareBytes } from '../contracts/bytes.ts';
import { KEY_INLINE_BYTES_MAX, PAGE_PAYLOAD_BYTES, VALUE_INLINE_BYTES_MAX } from './constants.ts';
import { openKvStore } from './kv-store.ts';
import type { KvStore } from './kv-store-types.ts';
import { checkStoreFile } from './store-check.ts';
import { CountingStorageFile } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, SeededRandom, hex, numberedKey } from './test-workload.ts';

/**
 * The tree through the store's API, checked after each phase against a Map and by checkStoreFile,
 * which walks every page: order, separator bounds, one leaf depth, and no page leaked or used twice.
 */

async function expectSameContents(store: KvStore, model: Map<string, Uint8Array>): Promise<void> {
  const entries = [];
  for (let page = await store.scan({}); ; page = await store.scan({ cursor: page.cursor! })) {
    entries.push(...page.entries);
    if (page.cursor === undefined) break;
  }
  const expected = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  expect(entries.map((entry) => hex(entry.key))).toEqual(expected.map(([key]) => key));
  expect(entries.map((entry) => hex(entry.value))).toEqual(expected.map(([, value]) => hex(value)));
}

async function checkImage(file: CountingStorageFile) {
  return checkStoreFile(new CountingStorageFile(file.image()));
}

// Heavier than most unit tests: give them room on a loaded machine and in slower runtimes.
describe('KV tree', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  it('splits as it grows and merges as it shrinks, keeping every key in order', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file, { cachePages: 32 });
    const random = new SeededRandom(7);
    const model = new Map<string, Uint8Array>();
    const keys = Array.from({ length: 5000 }, (_, index) => numberedKey(index));
    for (let start = 0; start < keys.length; start += 500) {
      const operations = keys.slice(start, start + 500).map((key) => ({ type: 'put' as const, key, value: random.bytes(random.below(60)) }));
      await store.batch(operations);
      for (const operation of operations) model.set(hex(operation.key), operation.value);
    }
    await expectSameContents(store, model);
    const grown = await checkImage(file);
    expect(grown.entryCount).toBe(5000);
    expect(grown.depth).toBeGreaterThanOrEqual(2);

    // Delete nine keys in ten, in a scattered order, one commit per 250 deletes.
    const doomed = keys.filter((_, index) => index % 10 !== 0).sort((a, b) => compareBytes(a.slice(4).reverse(), b.slice(4).reverse()));
    for (let start = 0; start < doomed.length; start += 250) {
      await store.batch(doomed.slice(start, start + 250).map((key) => ({ type: 'delete' as const, key })));
      for (const key of doomed.slice(start, start + 250)) model.delete(hex(key));
    }
    await expectSameContents(store, model);
    const shrunk = await checkImage(file);
    expect(shrunk.entryCount).toBe(500);
    expect(shrunk.treePages).toBeLessThan(grown.treePages / 3);

    await store.batch(keys.filter((_, index) => index % 10 === 0).map((key) => ({ type: 'delete' as const, key })));
    expect((await store.scan({})).entries).toEqual([]);
    expect((await checkImage(file)).treePages).toBe(0);
    await store.close();
  });

  it('matches a Map under random puts, overwrites and deletes in random batches', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file, { cachePages: 16 });
    const random = new SeededRandom(11);
    const model = new Map<string, Uint8Array>();
    for (let round = 0; round < 60; round++) {
      const operations = Array.from({ length: 1 + random.below(200) }, () => {
        const key = random.bytes(1 + random.below(40));
        key[0] = random.below(4); // few first bytes: many shared prefixes
        if (random.below(3) === 0) return { type: 'delete' as const, key };
        return { type: 'put' as const, key, value: random.bytes(random.below(3) === 0 ? random.below(2000) : random.below(100)) };
      });
      await store.batch(operations);
      for (const operation of operations) {
        if (operation.type === 'put') model.set(hex(operation.key), operation.value);
        else model.delete(hex(operation.key));
      }
    }
    await expectSameContents(store, model);
    const report = await checkImage(file);
    expect(report.entryCount).toBe(model.size);
    await store.close();
  });

  it('keeps keys longer than a node can hold inline, with long shared prefixes, in overflow runs', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file, { cachePages: 16 });
    const model = new Map<string, Uint8Array>();
    const random = new SeededRandom(3);
    // 4096-byte keys that differ only near the end: separators cannot be shortened below the key.
    for (let index = 0; index < 200; index++) {
      const key = new Uint8Array(4096).fill(0x61);
      key[4090] = index >> 8;
      key[4095] = index & 0xff;
      const value = random.bytes(random.below(3) === 0 ? VALUE_INLINE_BYTES_MAX + 1 + random.below(10_000) : 20);
      await store.commit([{ type: 'put', key, value }], [], { durability: 'relaxed' });
      model.set(hex(key), value);
    }
    await expectSameContents(store, model);
    const report = await checkImage(file);
    expect(report.depth).toBeGreaterThanOrEqual(2);
    expect(report.overflowPages).toBeGreaterThan(200);
    for (const key of [...model.keys()].filter((_, index) => index % 2 === 0)) {
      await store.delete(Uint8Array.from(key.match(/../g)!, (pair) => parseInt(pair, 16)));
      model.delete(key);
    }
    await expectSameContents(store, model);
    await checkImage(file);
    await store.close();
    expect(KEY_INLINE_BYTES_MAX * 4 < PAGE_PAYLOAD_BYTES).toBe(true);
  });

  it('answers point reads from cached leaves as from the file: keys past their abbreviation, in overflow runs, and absent', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file);
    const random = new SeededRandom(11);
    const model = new Map<string, { key: Uint8Array; value: Uint8Array }>();
    const put = (key: Uint8Array, value: Uint8Array): void => void model.set(hex(key), { key, value });
    // Keys that share their first 8 bytes (abbreviations tie), of every length around them.
    const shared = new TextEncoder().encode('sharedpr');
    for (let index = 0; index < 600; index++) put(Uint8Array.from([...shared, ...random.bytes(random.below(6))]), random.bytes(random.below(200)));
    for (let index = 0; index < 300; index++) put(random.bytes(1 + random.below(40)), random.bytes(random.below(3) === 0 ? VALUE_INLINE_BYTES_MAX + 1 : random.below(100)));
    for (let index = 0; index < 20; index++) put(random.bytes(KEY_INLINE_BYTES_MAX + 1 + random.below(100)), random.bytes(10));
    const versions = new Map<string, number>();
    for (const { key, value } of model.values()) versions.set(hex(key), await store.commit([{ type: 'put', key, value }], [], { durability: 'relaxed' }));
    const keys = [...model.values()].map(({ key }) => key);
    // Absent: each key with a byte more, a byte less, and its last byte changed.
    const absent = keys.flatMap((key) => [Uint8Array.from([...key, 0]), key.subarray(0, key.length - 1), Uint8Array.from(key, (byte, index) => (index === key.length - 1 ? byte ^ 1 : byte))]);
    const readAll = async (reader: KvStore) => {
      const found = await Promise.all(keys.map(async (key) => reader.get(key)));
      expect(found.map((entry) => entry && [hex(entry.key), hex(entry.value), entry.version])).toEqual(keys.map((key) => [hex(key), hex(model.get(hex(key))!.value), versions.get(hex(key))]));
      const missing = absent.filter((key) => key.length > 0 && !model.has(hex(key)));
      expect(await Promise.all(missing.map(async (key) => reader.get(key)))).toEqual(missing.map(() => undefined));
    };
    // Without a commit log every commit went into the tree, whose new pages stay in the cache.
    const hitsBefore = (await store.stats()).cacheHits;
    await readAll(store);
    expect((await store.stats()).cacheHits).toBeGreaterThan(hitsBefore);
    await store.close();
    // Reopened: the first reads come from the file, the next from the leaves they cached.
    const reopened = await openKvStore(new CountingStorageFile(file.image()));
    await readAll(reopened);
    await readAll(reopened);
    await reopened.close();
  });

  it('stores values up to the maximum in overflow runs and frees them on overwrite and delete', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file);
    const big = new SeededRandom(5).bytes(3 * 1024 * 1024 + 17);
    await store.put(numberedKey(1), big);
    await store.put(numberedKey(2), new Uint8Array(VALUE_INLINE_BYTES_MAX + 1).fill(9));
    expect(bytesEqual((await store.get(numberedKey(1)))!.value, big)).toBe(true);
    const afterPut = await checkImage(file);
    expect(afterPut.overflowPages).toBe(Math.ceil(big.length / PAGE_PAYLOAD_BYTES) + 1);
    await store.put(numberedKey(1), new Uint8Array(3));
    await store.delete(numberedKey(2));
    const afterDelete = await checkImage(file);
    expect(afterDelete.overflowPages).toBe(0);
    expect(afterDelete.freePages).toBeGreaterThanOrEqual(afterPut.overflowPages);
    // Overwriting a large value again and again reuses the freed runs: the file stops growing.
    const pageCounts = [];
    for (let round = 0; round < 12; round++) {
      await store.put(numberedKey(3), round % 2 === 0 ? big : big.subarray(1));
      pageCounts.push((await store.stats()).pageCount);
    }
    expect(pageCounts[11]).toBe(pageCounts[5]);
    await store.close();
  });
});
