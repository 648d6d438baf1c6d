import { describe, expect, it } from 'vitest';
import { openKvStore } from './kv-store.ts';
import { checkStoreFile } from './store-check.ts';
import { CountingStorageFile } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, SeededRandom, numberedKey } from './test-workload.ts';

const KEYS = 1000;

function overwriteAll(random: SeededRandom) {
  return Array.from({ length: KEYS }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value: random.bytes(100) }));
}

// Heavier than most unit tests: give them room on a loaded machine and in slower runtimes.
describe('KV space reuse', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  it('stops growing the file under a steady overwrite workload', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file, { cachePages: 64 });
    const random = new SeededRandom(1);
    const sizes: number[] = [];
    for (let round = 0; round < 120; round++) {
      await store.batch(overwriteAll(random));
      sizes.push(await file.size());
    }
    // Then single-key commits, relaxed and durable mixed.
    for (let index = 0; index < 1000; index++) {
      const key = numberedKey(random.below(KEYS));
      await store.commit([{ type: 'put', key, value: random.bytes(100) }], [], { durability: index % 4 === 0 ? 'durable' : 'relaxed' });
    }
    await store.sync();
    sizes.push(await file.size());
    expect(sizes[119]).toBe(sizes[20]);
    expect(sizes.at(-1)!).toBeLessThanOrEqual(sizes[20]! * 1.1);
    const report = await checkStoreFile(new CountingStorageFile(file.image()));
    expect(report.entryCount).toBe(KEYS);
    await store.close();
  });

  it('keeps the pages a snapshot can see until it is released, then reuses them', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file, { cachePages: 64 });
    const random = new SeededRandom(2);
    for (let round = 0; round < 5; round++) await store.batch(overwriteAll(random));
    const plateau = await file.size();
    const snapshot = store.snapshot();
    for (let round = 0; round < 10; round++) await store.batch(overwriteAll(random));
    const pinned = await file.size();
    expect(pinned).toBeGreaterThan(plateau * 3);
    snapshot.release();
    for (let round = 0; round < 30; round++) await store.batch(overwriteAll(random));
    expect(await file.size()).toBe(pinned);
    await store.close();
  });

  it('does not reuse pages freed by relaxed commits before a durable one', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file, { cachePages: 64 });
    const random = new SeededRandom(3);
    await store.batch(overwriteAll(random));
    const durableSize = await file.size();
    // Relaxed overwrites cannot reuse what they free: the last durable state still needs it.
    for (let round = 0; round < 4; round++) await store.commit(overwriteAll(random), [], { durability: 'relaxed' });
    const relaxedSize = await file.size();
    expect(relaxedSize).toBeGreaterThanOrEqual(durableSize * 4);
    await store.sync();
    for (let round = 0; round < 4; round++) await store.commit(overwriteAll(random), [], { durability: 'relaxed' });
    // After the sync, the pages freed before it are reused.
    expect(await file.size()).toBeLessThanOrEqual(relaxedSize * 1.3);
    await store.close();
  });

  it('writes a bounded number of pages per commit however long the freelist grows', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file, { cachePages: 64 });
    const random = new SeededRandom(4);
    const keys = 8000;
    const overwrite = () => Array.from({ length: keys }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value: random.bytes(100) }));
    await store.batch(overwrite());
    // Relaxed overwrites cannot reuse what they free: the freelist grows to thousands of pages.
    for (let round = 0; round < 12; round++) await store.commit(overwrite(), [], { durability: 'relaxed' });
    await store.sync();
    const freePages = (await store.stats()).freePageCount;
    expect(freePages).toBeGreaterThan(10 * 340);
    const writesBefore = file.writtenBytes;
    const commits = 200;
    for (let index = 0; index < commits; index++) await store.put(numberedKey(random.below(keys)), random.bytes(100));
    const pagesPerCommit = (file.writtenBytes - writesBefore) / 4096 / commits;
    // The tree path, the meta page, a delta page, and now and then a new base (a dozen pages of
    // entries, amortized over the commits between rewrites): far below a full freelist per commit.
    expect(pagesPerCommit).toBeLessThan(8);
    await store.close();
    const report = await checkStoreFile(new CountingStorageFile(file.image()));
    expect(report.entryCount).toBe(keys);
    expect(report.freePages).toBeGreaterThan(10 * 340 - commits * 8);
    const reopened = await openKvStore(new CountingStorageFile(file.image()));
    expect((await reopened.stats()).freePageCount).toBe(report.freePages);
    await reopened.put(numberedKey(1), random.bytes(10));
    await reopened.close();
  });
});
