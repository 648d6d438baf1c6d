import { describe, expect, it } from 'vitest';
import { openKvStore } from './kv-store.ts';
import { CountingStorageFile } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, SeededRandom, numberedKey } from './test-workload.ts';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

// Heavier than most unit tests: give them room on a loaded machine and in slower runtimes.
describe('KV snapshots', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  it('keep reading the state they pinned while the writer commits', async () => {
    const store = await openKvStore(new CountingStorageFile(), { cachePages: 16 });
    const keys = Array.from({ length: 2000 }, (_, index) => numberedKey(index));
    await store.batch(keys.map((key) => ({ type: 'put' as const, key, value: encoder.encode('generation 0') })));
    const snapshots = [store.snapshot()];
    const writes: Promise<number>[] = [];
    for (let generation = 1; generation <= 5; generation++) {
      writes.push(store.batch(keys.map((key) => ({ type: 'put' as const, key, value: encoder.encode(`generation ${generation}`) }))));
      if (generation % 2 === 0) writes.push(store.batch(keys.slice(0, 500).map((key) => ({ type: 'delete' as const, key }))));
      await writes.at(-1);
      snapshots.push(store.snapshot());
    }
    await Promise.all(writes);
    // Read every snapshot concurrently while more commits run.
    const moreWrites = Array.from({ length: 20 }, (_, index) => store.put(numberedKey(index * 7), encoder.encode('late')));
    const reads = snapshots.map(async (snapshot, generation) => {
      const all = [];
      for (let page = await snapshot.scan({ limit: 300 }); ; page = await snapshot.scan({ limit: 300, cursor: page.cursor! })) {
        all.push(...page.entries);
        if (page.cursor === undefined) break;
      }
      // Even generations ended with a delete of the first 500 keys; odd ones put them back.
      const deleted = generation > 0 && generation % 2 === 0 ? 500 : 0;
      expect(all.length).toBe(keys.length - deleted);
      expect(new Set(all.map((entry) => decoder.decode(entry.value)))).toEqual(new Set([`generation ${generation}`]));
      expect(Math.max(...all.map((entry) => entry.version))).toBeLessThanOrEqual(snapshot.version);
      expect(decoder.decode((await snapshot.get(numberedKey(1999)))!.value)).toBe(`generation ${generation}`);
    });
    await Promise.all([...reads, ...moreWrites]);
    for (const snapshot of snapshots) snapshot.release();
    await expect(snapshots[0]!.get(numberedKey(1))).rejects.toMatchObject({ code: 'ECLOSED' });
    await store.close();
  });

  it('many readers on fresh snapshots see monotonic versions while one writer commits', async () => {
    const store = await openKvStore(new CountingStorageFile(), { cachePages: 32 });
    const random = new SeededRandom(9);
    let writing = true;
    const writer = (async () => {
      for (let index = 0; index < 200; index++) {
        await store.commit([{ type: 'put', key: numberedKey(random.below(300)), value: random.bytes(50) }], [], { durability: 'relaxed' });
      }
      writing = false;
    })();
    const readers = Array.from({ length: 8 }, async () => {
      let lastVersion = 0;
      while (writing) {
        const snapshot = store.snapshot();
        expect(snapshot.version).toBeGreaterThanOrEqual(lastVersion);
        lastVersion = snapshot.version;
        const page = await snapshot.scan({});
        for (const entry of page.entries) expect(entry.version).toBeLessThanOrEqual(snapshot.version);
        snapshot.release();
      }
    });
    await Promise.all([writer, ...readers]);
    await store.close();
  });
});
