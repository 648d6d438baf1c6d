import { describe, expect, it } from 'vitest';
import { PAGE_BYTES } from './constants.ts';
import { PAGE_KIND } from './page-format.ts';
import { openKvStore } from './kv-store.ts';
import { CountingStorageFile } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, numberedKey } from './test-workload.ts';

/**
 * A flipped byte in any page the store reads is reported as ECORRUPT, never returned as data.
 * Each case closes a store, damages one byte of its image, and reads through a fresh store (so the
 * page comes from the file, not the cache).
 */
async function storeImage(): Promise<Uint8Array> {
  const file = new CountingStorageFile();
  const store = await openKvStore(file);
  await store.batch(Array.from({ length: 400 }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value: new Uint8Array(40).fill(index) })));
  await store.put(numberedKey(1000), new Uint8Array(20_000).fill(7));
  await store.close();
  return file.image();
}

// Heavier than most unit tests: give them room on a loaded machine and in slower runtimes.
describe('KV corruption detection', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  it('rejects a damaged tree page with ECORRUPT on every read that reaches it', async () => {
    const image = await storeImage();
    const pageCount = image.length / PAGE_BYTES;
    let detected = 0;
    for (let pageId = 2; pageId < pageCount; pageId++) {
      const file = new CountingStorageFile(image);
      file.corrupt(pageId * PAGE_BYTES + 1000);
      const store = await openKvStore(file, { cachePages: 16 }).catch((error: unknown) => error);
      if (!('scan' in (store as object))) {
        // The damaged page was one recovery verifies: opening itself reports it.
        expect(store).toMatchObject({ code: 'ECORRUPT' });
        detected++;
        continue;
      }
      const opened = store as Awaited<ReturnType<typeof openKvStore>>;
      const reads = [opened.scan({}), opened.get(numberedKey(1000)), opened.scan({ reverse: true })];
      const results = await Promise.allSettled(reads);
      const failures = results.filter((result) => result.status === 'rejected');
      for (const failure of failures) expect((failure as PromiseRejectedResult).reason).toMatchObject({ code: 'ECORRUPT' });
      if (failures.length > 0) detected++;
      await opened.close();
    }
    // Every page in use is either read by a full scan or by the overflow value; free pages are not.
    expect(detected).toBeGreaterThan(5);
  });

  it('refuses to open when both meta slots are damaged', async () => {
    const file = new CountingStorageFile(await storeImage());
    file.corrupt(100);
    file.corrupt(PAGE_BYTES + 100);
    await expect(openKvStore(file)).rejects.toMatchObject({ code: 'ECORRUPT' });
  });

  it('falls back to the other meta slot when the newest one is damaged', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file);
    await store.put(numberedKey(1), new Uint8Array([1]));
    await store.put(numberedKey(2), new Uint8Array([2]));
    // Taken before close, which would copy the last state into the other slot too.
    const image = file.image();
    await store.close();
    const damaged = new CountingStorageFile(image);
    // The newest commit (version 2) went to slot 0: slots alternate after the creating write.
    damaged.corrupt(0 * PAGE_BYTES + 200);
    const reopened = await openKvStore(damaged);
    expect((await reopened.scan({})).entries.map((entry) => entry.version)).toEqual([1]);
    await reopened.close();

    // After a clean close both slots hold the last state: losing one loses nothing.
    for (const slot of [0, 1]) {
      const cleanlyClosed = new CountingStorageFile(file.image());
      cleanlyClosed.corrupt(slot * PAGE_BYTES + 200);
      const opened = await openKvStore(cleanlyClosed);
      expect((await opened.scan({})).entries.map((entry) => entry.version)).toEqual([1, 2]);
      await opened.close();
    }
  });

  it('reports a damaged freelist on the first write, and keeps serving reads', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file);
    // Enough overwritten pages that the freelist outgrows the meta page and gets pages of its own.
    for (let round = 0; round < 3; round++) {
      await store.batch(Array.from({ length: 6000 }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value: new Uint8Array(100).fill(round) })));
    }
    await store.close();
    const image = file.image();
    const freelistPages = [];
    for (let pageId = 2; pageId < image.length / PAGE_BYTES; pageId++) {
      if (isFreelistKind(image[pageId * PAGE_BYTES + 4]!)) freelistPages.push(pageId);
    }
    expect(freelistPages.length).toBeGreaterThan(0);
    // Damage every page that ever held a freelist (base or delta): the live chain is among them.
    const damaged = new CountingStorageFile(image);
    for (const pageId of freelistPages) damaged.corrupt(pageId * PAGE_BYTES + 40);
    const reopened = await openKvStore(damaged);
    expect((await reopened.get(numberedKey(7)))?.value).toEqual(new Uint8Array(100).fill(2));
    await expect(reopened.put(numberedKey(1), new Uint8Array(1))).rejects.toMatchObject({ code: 'ECORRUPT' });
    expect((await reopened.scan({ limit: 10_000 })).entries.length).toBe(6000);
    await reopened.close();
  });
});

function isFreelistKind(kind: number): boolean {
  return kind === PAGE_KIND.freelist || kind === PAGE_KIND.freelistDelta;
}
