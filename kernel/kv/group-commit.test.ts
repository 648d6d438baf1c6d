import { describe, expect, it } from 'vitest';
import { openKvStore } from './kv-store.ts';
import { CountingStorageFile } from './test-storage.ts';
import { numberedKey } from './test-workload.ts';

const value = new Uint8Array([1, 2, 3]);

describe('KV group commit', () => {
  it('lets 64 concurrent durable commits share a few syncs, each with its own version', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file);
    const syncsBefore = file.syncCount;
    const versions = await Promise.all(Array.from({ length: 64 }, (_, index) => store.put(numberedKey(index), value)));
    expect(new Set(versions).size).toBe(64);
    expect([...versions].sort((a, b) => a - b)).toEqual(versions);
    // Queued in one synchronous run, all 64 form one group: one sync.
    expect(file.syncCount - syncsBefore).toBe(1);
    for (const [index, version] of versions.entries()) expect((await store.get(numberedKey(index)))!.version).toBe(version);
    await store.close();
  });

  it('lets a pool of committers that commit again when they hear back form whole groups, when scheduleGroup waits for them', async () => {
    const committers = 8;
    const rounds = 5;
    /** Syncs of the log while each committer commits `rounds` times, each behind its own number of awaits (as behind APIs). */
    const logSyncs = async (scheduleGroup?: (takeGroup: () => void) => void): Promise<number> => {
      const log = new CountingStorageFile();
      const store = await openKvStore(new CountingStorageFile(), { log, scheduleGroup });
      const commitBehindAwaits = async (key: Uint8Array, awaits: number): Promise<void> => {
        if (awaits === 0) await store.put(key, value);
        else await commitBehindAwaits(key, awaits - 1);
      };
      const committer = async (committerIndex: number): Promise<void> => {
        for (let round = 0; round < rounds; round++) await commitBehindAwaits(numberedKey(committerIndex * rounds + round), committerIndex);
      };
      await Promise.all(Array.from({ length: committers }, (_, index) => committer(index)));
      const syncs = log.syncCount;
      await store.close();
      return syncs;
    };
    // A macrotask between groups: each round is one group of all eight committers, one sync.
    expect(await logSyncs((takeGroup) => setTimeout(takeGroup, 0))).toBe(rounds);
    // The default microtask comes before these callers commit again: they miss the next group.
    expect(await logSyncs()).toBeGreaterThan(rounds);
  });

  it('fails the store when scheduleGroup throws, after the group before it committed', async () => {
    const broken = new Error('scheduler broke');
    const store = await openKvStore(new CountingStorageFile(), {
      scheduleGroup: () => {
        throw broken;
      },
    });
    // One group of two: both commit; taking the group after them fails.
    expect(await Promise.all([store.put(numberedKey(1), value), store.put(numberedKey(2), value)])).toEqual([1, 2]);
    await expect(store.put(numberedKey(3), value)).rejects.toBe(broken);
    await store.close();
  });

  it('checks each batch against the batches queued before it, and fails only the conflicting one', async () => {
    const store = await openKvStore(new CountingStorageFile());
    const key = numberedKey(1);
    await store.put(numberedKey(0), value); // keeps the writer busy so the rest form one group
    const results = await Promise.allSettled([
      store.put(numberedKey(99), value),
      store.batch([{ type: 'put', key, value }], [{ key, version: null }]),
      store.batch([{ type: 'put', key, value }], [{ key, version: null }]),
      store.batch([{ type: 'delete', key }], []),
      store.batch([{ type: 'put', key, value }], [{ key, version: null }]),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'ECONFLICT' });
    const versions = results.filter((result) => result.status === 'fulfilled').map((result) => (result as PromiseFulfilledResult<number>).value);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect((await store.get(key))!.version).toBe(versions.at(-1));
    await store.close();
  });

  it('syncs relaxed commits only on sync(), a durable commit, or close()', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file);
    const start = file.syncCount;
    for (let index = 0; index < 10; index++) await store.commit([{ type: 'put', key: numberedKey(index), value }], [], { durability: 'relaxed' });
    expect(file.syncCount).toBe(start);
    await store.sync();
    await store.sync();
    expect(file.syncCount).toBe(start + 1);
    await store.commit([{ type: 'put', key: numberedKey(0), value }], [], { durability: 'relaxed' });
    await store.close();
    expect(file.syncCount).toBe(start + 2);
    expect((await store.stats().catch((error: unknown) => error)) as object).toMatchObject({ code: 'ECLOSED' });
  });

  it('refuses every call after a failed sync, and recovers the last durable state on reopen', async () => {
    const file = new CountingStorageFile();
    const store = await openKvStore(file);
    await store.put(numberedKey(1), value);
    file.failNextSync = true;
    await expect(store.put(numberedKey(2), value)).rejects.toThrow('simulated sync failure');
    await expect(store.get(numberedKey(1))).rejects.toThrow('simulated sync failure');
    await store.close();
    const reopened = await openKvStore(new CountingStorageFile(file.image()));
    expect((await reopened.get(numberedKey(1)))?.value).toEqual(value);
    await reopened.close();
  });

  it('hides a logged commit from readers until its log sync is done, then reads it and checks preconditions against it', async () => {
    const log = new HeldSyncFile();
    const store = await openKvStore(new CountingStorageFile(), { log });
    await store.put(numberedKey(1), value);
    log.holdNextSync();
    const committing = store.batch([{ type: 'put', key: numberedKey(2), value }, { type: 'delete', key: numberedKey(1) }], []);
    await log.syncStarted;
    // The record is written and its sync in flight: nothing of the commit is read yet.
    expect((await store.get(numberedKey(1)))?.value).toEqual(value);
    expect(await store.get(numberedKey(2))).toBeUndefined();
    expect((await store.scan({})).entries.map((entry) => entry.key)).toEqual([numberedKey(1)]);
    log.releaseSync();
    const version = await committing;
    expect(await store.get(numberedKey(1))).toBeUndefined();
    expect(await store.get(numberedKey(2))).toMatchObject({ value, version });
    // A precondition reads the buffer the commit went into while its sync ran.
    await expect(store.batch([{ type: 'put', key: numberedKey(2), value }], [{ key: numberedKey(2), version: null }])).rejects.toMatchObject({
      code: 'ECONFLICT',
    });
    expect(await store.batch([{ type: 'put', key: numberedKey(2), value }], [{ key: numberedKey(2), version }])).toBe(version + 1);
    await store.close();
  });

  it('refuses every call after a failed log sync, and keeps the durable commits on reopen', async () => {
    const file = new CountingStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(file, { log });
    await store.put(numberedKey(1), value);
    log.failNextSync = true;
    await expect(store.put(numberedKey(2), value)).rejects.toThrow('simulated sync failure');
    await expect(store.get(numberedKey(2))).rejects.toThrow('simulated sync failure');
    await store.close();
    // The failed sync's record may or may not have reached the disk; the durable commit did.
    const reopened = await openKvStore(new CountingStorageFile(file.image()), { log: new CountingStorageFile(log.image()) });
    expect((await reopened.get(numberedKey(1)))?.value).toEqual(value);
    await reopened.close();
  });

  it('rejects bad durability options with EINVAL', async () => {
    const store = await openKvStore(new CountingStorageFile());
    await expect(store.commit([], [], { durability: 'eventually' as 'durable' })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(openKvStore(new CountingStorageFile(), { cachePages: 1 })).rejects.toMatchObject({ code: 'EINVAL' });
    const scheduleGroup = 'soon' as unknown as (takeGroup: () => void) => void;
    await expect(openKvStore(new CountingStorageFile(), { scheduleGroup })).rejects.toMatchObject({ code: 'EINVAL' });
    await store.close();
  });
});

/** A log file whose next sync, once held, waits until the test releases it. */
class HeldSyncFile extends CountingStorageFile {
  #held: { started: () => void; release: Promise<void> } | undefined;
  #release: () => void = () => undefined;
  syncStarted: Promise<void> = Promise.resolve();

  holdNextSync(): void {
    let started!: () => void;
    this.syncStarted = new Promise((resolve) => (started = resolve));
    this.#held = { started, release: new Promise((resolve) => (this.#release = resolve)) };
  }

  releaseSync(): void {
    this.#release();
  }

  override async sync(): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) {
      held.started();
      await held.release;
    }
    await super.sync();
  }
}
