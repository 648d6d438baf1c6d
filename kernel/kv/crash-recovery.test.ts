import { describe, expect, it } from 'vitest';
import { FREELIST_DELTA_PAGES_MIN, PAGE_BYTES } from './constants.ts';
import type { KvStore } from './kv-store-types.ts';
import { PAGE_KIND } from './page-format.ts';
import { openKvStore } from './kv-store.ts';
import { checkStoreFile } from './store-check.ts';
import { CountingStorageFile, RecordingStorageFile, crashImage, lastDurableState, randomCrashFates, type StorageEvent, type WriteFate } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, SeededRandom, hex, numberedKey } from './test-workload.ts';

/**
 * Crash at every write of a workload of durable and relaxed commits, with the unsynced writes of
 * that moment lost, kept, torn and reordered at random, then reopen. The reopened store must hold
 * exactly the state after some commit: at least the last one acknowledged as durable (a durable
 * commit, or any commit followed by a resolved sync), never half of a commit. It must pass
 * checkStoreFile (no page leaked or used twice) and take new commits.
 */

/** The shape of one generated workload. */
interface WorkloadShape {
  commits: number;
  keys: number;
  operationsMax: number;
  /** Crash points checked at most: beyond it, every n-th write is a crash point. */
  crashPointsMax: number;
  /** Relaxed commits overwriting every key first, so the freelist grows long (none by default). */
  growRounds?: number;
}

/** Few keys, small commits: every crash point lands in a different kind of commit. */
const SMALL_WORKLOAD: WorkloadShape = { commits: 40, keys: 24, operationsMax: 12, crashPointsMax: Number.POSITIVE_INFINITY };

/** Enough keys and large enough commits that the freelist outgrows the meta page. */
const LARGE_WORKLOAD: WorkloadShape = { commits: 8, keys: 1500, operationsMax: 600, crashPointsMax: 24 };

/**
 * Long enough, with enough pages freed per commit, that commits write freelist delta pages on a
 * chain and, once the deltas outgrow the base, a new base (see freelist.ts).
 */
const FREELIST_DELTA_WORKLOAD: WorkloadShape = { commits: 30, keys: 2000, operationsMax: 12, crashPointsMax: 14, growRounds: 8 };

async function describeState(store: KvStore): Promise<string> {
  const page = await store.scan({ limit: 10_000 });
  return page.entries.map((entry) => `${hex(entry.key)}=${hex(entry.value).slice(0, 16)}:${entry.value.length}@${entry.version}`).join(',');
}

/** Runs a workload on a recording file; returns its events and the state after each commit. */
async function recordWorkload(seed: number, shape: WorkloadShape = SMALL_WORKLOAD): Promise<{ events: StorageEvent[]; states: string[] }> {
  const random = new SeededRandom(seed);
  const file = new RecordingStorageFile();
  const store = await openKvStore(file, { cachePages: 16 });
  const states = [await describeState(store)];
  file.mark('state 0 durable');
  const growRounds = shape.growRounds ?? 0;
  for (let commit = 1; commit <= shape.commits; commit++) {
    if (commit <= growRounds) {
      const overwrite = Array.from({ length: shape.keys }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value: random.bytes(100) }));
      await store.commit(overwrite, [], { durability: 'relaxed' });
      states.push(await describeState(store));
      continue;
    }
    const operations = Array.from({ length: 1 + random.below(shape.operationsMax) }, () => {
      const key = numberedKey(random.below(shape.keys));
      if (random.below(4) === 0) return { type: 'delete' as const, key };
      const length = random.below(5) === 0 ? 5000 + random.below(9000) : random.below(200);
      return { type: 'put' as const, key, value: random.bytes(length) };
    });
    const durable = random.below(3) === 0;
    await store.commit(operations, [], { durability: durable ? 'durable' : 'relaxed' });
    states.push(await describeState(store));
    if (durable) file.mark(`state ${commit} durable`);
    if (!durable && random.below(8) === 0) {
      await store.sync();
      file.mark(`state ${commit} durable`);
    }
  }
  await store.close();
  return { events: file.events, states };
}


/** Whether a write holds a page of `kind` (a freelist base or delta page, say). */
function writesPageOfKind(event: StorageEvent, kind: number): boolean {
  return countPagesOfKind(event, kind) > 0;
}

function countPagesOfKind(event: StorageEvent, kind: number): number {
  if (event.kind !== 'write' || event.offset % PAGE_BYTES !== 0) return 0;
  let count = 0;
  for (let offset = 0; offset + PAGE_BYTES <= event.data.length; offset += PAGE_BYTES) {
    if (event.data[offset + 4] === kind) count++;
  }
  return count;
}


// Heavier than most unit tests: give them room on a loaded machine and in slower runtimes.
describe('KV crash recovery', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  const runs = [
    { seed: 1, shape: SMALL_WORKLOAD },
    { seed: 2, shape: SMALL_WORKLOAD },
    { seed: 3, shape: SMALL_WORKLOAD },
    { seed: 5, shape: LARGE_WORKLOAD },
    { seed: 6, shape: FREELIST_DELTA_WORKLOAD },
  ];
  for (const { seed, shape } of runs) {
    it(`recovers a whole, acknowledged state after a crash at any write (seed ${seed}, ${shape.keys} keys)`, async () => {
      const { events, states } = await recordWorkload(seed, shape);
      const random = new SeededRandom(seed * 7919);
      const writeCount = events.filter((event) => event.kind === 'write').length;
      const stride = Math.max(1, Math.ceil(writeCount / shape.crashPointsMax));
      let writesSeen = 0;
      let crashPoints = 0;
      for (let eventCount = 0; eventCount <= events.length; eventCount++) {
        if (events[eventCount - 1]?.kind !== 'write' && eventCount !== events.length) continue;
        if (writesSeen++ % stride !== 0 && eventCount !== events.length) continue;
        crashPoints++;
        const image = crashImage(events, eventCount, randomCrashFates(random));
        const store = await openKvStore(new CountingStorageFile(image), { cachePages: 16 });
        const state = await describeState(store);
        const durable = lastDurableState(events, eventCount);
        const candidates = states.slice(durable);
        expect(candidates, `crash after ${eventCount} events, last durable state ${durable}`).toContain(state);
        await store.close();
        await checkStoreFile(new CountingStorageFile(image));
      }
      expect(crashPoints).toBeGreaterThan(Math.min(shape.commits, shape.crashPointsMax - 1));
      if (shape === LARGE_WORKLOAD) expect(events.some((event) => writesPageOfKind(event, PAGE_KIND.freelist))).toBe(true);
      if (shape === FREELIST_DELTA_WORKLOAD) {
        // Both kinds of freelist page were written: more delta pages than a chain takes
        // (FREELIST_DELTA_PAGES_MIN), so a base was written again after deltas.
        const pagesOfKind = (kind: number) => events.reduce((count, event) => count + countPagesOfKind(event, kind), 0);
        expect(pagesOfKind(PAGE_KIND.freelistDelta)).toBeGreaterThan(FREELIST_DELTA_PAGES_MIN);
        expect(pagesOfKind(PAGE_KIND.freelist)).toBeGreaterThan(1);
      }
    });
  }

  it('takes new commits after recovering from a torn commit, and keeps them', async () => {
    const { events, states } = await recordWorkload(4);
    const lastWrite = events.findLastIndex((event) => event.kind === 'write');
    const image = crashImage(events, lastWrite, (unsynced) => ({
      order: unsynced.map((_, index) => index),
      fates: unsynced.map((): WriteFate => 'torn'),
      tornBytes: unsynced.map(() => 100),
    }));
    const file = new CountingStorageFile(image);
    const store = await openKvStore(file);
    expect(states).toContain(await describeState(store));
    const version = await store.put(numberedKey(999), new Uint8Array([1, 2, 3]));
    await store.close();
    const reopened = await openKvStore(new CountingStorageFile(file.image()));
    expect((await reopened.get(numberedKey(999)))?.version).toBe(version);
    await reopened.close();
    await checkStoreFile(new CountingStorageFile(file.image()));
  });
});
