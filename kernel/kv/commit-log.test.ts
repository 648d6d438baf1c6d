import { describe, expect, it } from 'vitest';
import { encodeLogRecord, readCommitLog } from './commit-log.ts';
import { openKvStore } from './kv-store.ts';
import { checkStoreFile } from './store-check.ts';
import { CountingStorageFile } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, SeededRandom, numberedKey } from './test-workload.ts';

const KEYS = 500;

describe('KV store with a commit log', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  it('makes a durable commit one log append and one log sync, leaving the tree file alone until a checkpoint', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log, checkpointPages: 1_000_000 });
    await store.put(numberedKey(0), new Uint8Array(10));
    const treeWrites = tree.writeCount;
    const treeSyncs = tree.syncCount;
    const logSyncs = log.syncCount;
    for (let index = 1; index <= 50; index++) await store.put(numberedKey(index), new Uint8Array(10));
    expect(tree.writeCount).toBe(treeWrites);
    expect(tree.syncCount).toBe(treeSyncs);
    expect(log.syncCount).toBe(logSyncs + 50);
    // Relaxed commits are logged without a sync; `sync()` syncs the log once.
    for (let index = 51; index <= 60; index++) await store.commit([{ type: 'put', key: numberedKey(index), value: new Uint8Array(1) }], [], { durability: 'relaxed' });
    expect(log.syncCount).toBe(logSyncs + 50);
    await store.sync();
    expect(log.syncCount).toBe(logSyncs + 51);
    await store.close();
    expect(tree.syncCount).toBeGreaterThan(treeSyncs);
    const report = await checkStoreFile(new CountingStorageFile(tree.image()));
    expect(report.entryCount).toBe(61);
  });

  it('reuses pages that commits freed before any checkpoint wrote them, so memory and file stay bounded', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log, cachePages: 64, checkpointPages: 1_000_000 });
    const random = new SeededRandom(1);
    await store.batch(Array.from({ length: KEYS }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value: random.bytes(100) })));
    const pagesAfterLoad = (await store.stats()).pageCount;
    // Thousands of single-key commits copy a leaf and its branches each time: without reuse of
    // never-written pages, the store would need thousands of new pages.
    for (let index = 0; index < 2000; index++) await store.put(numberedKey(random.below(KEYS)), random.bytes(100));
    expect((await store.stats()).pageCount).toBeLessThan(pagesAfterLoad * 2 + 20);
    expect(tree.syncCount).toBeLessThanOrEqual(1);
    await store.close();
    const report = await checkStoreFile(new CountingStorageFile(tree.image()));
    expect(report.entryCount).toBe(KEYS);
  });

  it('keeps what a snapshot sees while later commits free and reuse the pages it reads, across a checkpoint', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log, cachePages: 16, checkpointPages: 40 });
    const random = new SeededRandom(2);
    const values = Array.from({ length: KEYS }, () => random.bytes(100));
    await store.batch(values.map((value, index) => ({ type: 'put' as const, key: numberedKey(index), value })));
    const snapshot = store.snapshot();
    for (let index = 0; index < 600; index++) await store.put(numberedKey(random.below(KEYS)), random.bytes(100));
    // The small cache evicted what the snapshot reads: it comes from staged pages or the file.
    for (let index = 0; index < KEYS; index += 7) expect((await snapshot.get(numberedKey(index)))?.value).toEqual(values[index]);
    snapshot.release();
    await store.close();
    await checkStoreFile(new CountingStorageFile(tree.image()));
  });

  it('replays only the batches a tree lacks, and stops at the first record that is not whole', async () => {
    const put = (index: number) => ({ type: 'put' as const, key: numberedKey(index), value: new Uint8Array([index]) });
    const first = encodeLogRecord([{ version: 5, operations: [put(5)] }, { version: 6, operations: [put(6)] }]);
    const second = encodeLogRecord([{ version: 7, operations: [put(7)] }]);
    const third = encodeLogRecord([{ version: 8, operations: [put(8)] }]);
    const image = new Uint8Array(first.length + second.length + third.length);
    image.set(first, 0);
    image.set(second, first.length);
    image.set(third, first.length + second.length);
    const read = async (bytes: Uint8Array, afterVersion: number) => (await readCommitLog(new CountingStorageFile(bytes), afterVersion)).batches.map((batch) => batch.version);
    expect(await read(image, 4)).toEqual([5, 6, 7, 8]);
    // A tree at version 5 straddles the first record: replay resumes at 6.
    expect(await read(image, 5)).toEqual([6, 7, 8]);
    expect(await read(image, 8)).toEqual([]);
    // A gap (the tree is older than the log's first record) replays nothing: those commits are lost
    // from the log, and replaying later ones would skip them.
    expect(await read(image, 2)).toEqual([]);
    // A torn second record ends the log there.
    const torn = image.slice();
    torn[first.length + 20] = torn[first.length + 20]! ^ 0xff;
    expect(await read(torn, 4)).toEqual([5, 6]);
    expect((await readCommitLog(new CountingStorageFile(new Uint8Array(64)), 0)).empty).toBe(true);
  });
});
