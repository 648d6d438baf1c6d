import { describe, expect, it } from 'vitest';
import { PAGE_BYTES } from './constants.ts';
import { openKvStore } from './kv-store.ts';
import { CountingStorageFile } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, SeededRandom, numberedKey } from './test-workload.ts';

// Heavier than most unit tests: give them room on a loaded machine and in slower runtimes.
describe('KV open', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  it('reads only the meta slots and the pages of unsynced commits, not the whole store', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file, { cachePages: 32 });
    const random = new SeededRandom(4);
    for (let round = 0; round < 20; round++) {
      await store.batch(Array.from({ length: 1000 }, (_, index) => ({ type: 'put' as const, key: numberedKey(round * 1000 + index), value: random.bytes(100) })));
    }
    await store.close();
    const image = file.image();
    expect(image.length / PAGE_BYTES).toBeGreaterThan(600);
    const reopenedFile = new CountingStorageFile(image);
    const reopened = await openKvStore(reopenedFile, { cachePages: 32 });
    // One read for both meta slots, nothing else: the store was closed cleanly, so nothing needs
    // verifying, and the freelist is read by the first write transaction, not by opening.
    expect(reopenedFile.readCount).toBe(1);
    expect((await reopened.get(numberedKey(12_345)))?.value.length).toBe(100);
    const stats = await reopened.stats();
    expect(stats.cachedPages).toBeLessThanOrEqual(32);
    // A session that only read closes without reading anything more (no freelist, no sync work).
    const readsBeforeClose = reopenedFile.readCount;
    await reopened.close();
    expect(reopenedFile.readCount).toBe(readsBeforeClose);
  });

  it('verifies the pages of relaxed commits when it opens after them', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file, { cachePages: 32 });
    await store.batch(Array.from({ length: 3000 }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value: new Uint8Array(50) })));
    await store.commit([{ type: 'put', key: numberedKey(5), value: new Uint8Array(1) }], [], { durability: 'relaxed' });
    // Taken without close: the relaxed commit was never synced, so recovery must check its path.
    const image = file.image();
    await store.close();
    const reopenedFile = new CountingStorageFile(image);
    const reopened = await openKvStore(reopenedFile, { cachePages: 32 });
    expect(reopenedFile.readCount).toBeGreaterThan(2);
    expect(reopenedFile.readCount).toBeLessThan(12);
    expect((await reopened.get(numberedKey(5)))?.value).toEqual(new Uint8Array(1));
    await reopened.close();
  });
});
