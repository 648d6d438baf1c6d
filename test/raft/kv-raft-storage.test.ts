import { describe, expect, it } from 'vitest';
import { MemoryStorageFile } from '../../drivers/memory/storage-file.ts';
import { BusyError, CorruptionError, InvalidArgumentError } from '../../kernel/errors.ts';
import { openKvStore, type KvStore } from '../../kernel/kv/index.ts';
import { RAFT_STORAGE_GARBAGE_DELETES_PER_COMMIT_MAX, RAFT_STORAGE_PERSIST_ENTRIES_MAX, RAFT_STORAGE_SNAPSHOT_CHUNK_BYTES } from '../../kernel/raft/constants.ts';
import { KvRaftStorage, type KvRaftStorageOptions, type WritableRaftStorage } from '../../kernel/raft/index.ts';
import { chunkKey, entryKey, KEY_HARD_STATE, storageKey } from '../../kernel/raft/kv-raft-storage-format.ts';
import { bytesDifference, patternBytes, utf8 } from '../conformance/test-bytes.ts';
import { describeStorage, entry, entryRange, persistRequest, runRaftStorageSuite } from './raft-storage-suite.ts';

/**
 * KvRaftStorage on the KV engine over a memory StorageFile, in every runtime: the conformance suite
 * (reopening closes the store and opens the file's bytes again), and what is particular to it:
 * sharing the store, one commit per write, the record format refusing damaged or foreign values,
 * garbage collection of compacted keys, chunked snapshots and its bounds.
 */

const PREFIX = utf8('zone/a/raft/');
const CACHE_PAGES = 64;

interface Opened {
  storage: KvRaftStorage;
  store: KvStore;
  file: MemoryStorageFile;
}

const mediums = new WeakMap<WritableRaftStorage, Opened>();

async function openOn(file: MemoryStorageFile, options: Partial<KvRaftStorageOptions> = {}): Promise<Opened> {
  const store = await openKvStore(file, { cachePages: CACHE_PAGES });
  const storage = await KvRaftStorage.open(store, { keyPrefix: PREFIX, ...options });
  const opened = { storage, store, file };
  mediums.set(storage, opened);
  return opened;
}

/** Closes the store and opens a new one on the same bytes: what a process restart sees. */
async function reopen(closed: WritableRaftStorage, options: Partial<KvRaftStorageOptions> = {}): Promise<Opened> {
  const { store, file } = mediums.get(closed)!;
  await closed.close();
  await store.close();
  return openOn(new MemoryStorageFile(file.image()), options);
}

runRaftStorageSuite('KvRaftStorage on a memory file', async () => (await openOn(new MemoryStorageFile())).storage, {
  reopen: async (closed) => (await reopen(closed)).storage,
});

describe('KvRaftStorage', () => {
  it('shares its store: keys outside its prefix are untouched, and two prefixes are independent', async () => {
    const { store, storage } = await openOn(new MemoryStorageFile());
    await store.put(utf8('zone/a/state/x'), utf8('kept'));
    const other = await KvRaftStorage.open(store, { keyPrefix: utf8('zone/b/raft/') });
    await storage.persist(persistRequest({ entries: entryRange(1, 30, 1), hardState: { term: 1, vote: 1, commit: 10 } }));
    await other.persist(persistRequest({ entries: entryRange(1, 3, 5) }));
    await storage.createSnapshot(20, { voters: [1], learners: [] }, utf8('a'));
    expect((await store.get(utf8('zone/a/state/x')))?.value).toEqual(utf8('kept'));
    expect([other.firstIndex(), other.lastIndex(), other.term(3)]).toEqual([1, 3, 5]);
    const reopenedOther = await KvRaftStorage.open(store, { keyPrefix: utf8('zone/b/raft/') });
    expect(describeStorage(reopenedOther)).toEqual(describeStorage(other));
  });

  it('writes each persist as one commit, synced only when mustSync', async () => {
    const { store, storage } = await openOn(new MemoryStorageFile());
    const before = await store.stats();
    await storage.persist(persistRequest({ entries: entryRange(1, 50, 1), hardState: { term: 1, vote: 1, commit: 0 }, mustSync: true }));
    const afterDurable = await store.stats();
    await storage.persist(persistRequest({ hardState: { term: 1, vote: 1, commit: 40 }, mustSync: false }));
    const afterRelaxed = await store.stats();
    expect(afterDurable.lastVersion - before.lastVersion).toBe(1);
    expect(afterDurable.syncCount).toBeGreaterThan(before.syncCount);
    expect(afterRelaxed.lastVersion - afterDurable.lastVersion).toBe(1);
    expect(afterRelaxed.syncCount).toBe(afterDurable.syncCount);
    // A durable persist with nothing to write still makes the relaxed one before it durable.
    await storage.persist(persistRequest({ mustSync: true }));
    const afterEmpty = await store.stats();
    expect(afterEmpty.lastVersion).toBe(afterRelaxed.lastVersion);
    expect(afterEmpty.syncCount).toBeGreaterThan(afterRelaxed.syncCount);
  });

  it('bootstraps an empty prefix durably, and ignores the bootstrap once state exists', async () => {
    const confState = { voters: [1, 2, 3], learners: [] };
    const opened = await openOn(new MemoryStorageFile(), { bootstrap: { confState, index: 1, term: 1 } });
    expect(opened.storage.initialState()).toEqual({ hardState: { term: 1, vote: 0, commit: 1 }, confState });
    await opened.storage.persist(persistRequest({ entries: [entry(2, 2)], hardState: { term: 2, vote: 3, commit: 1 } }));
    const reopened = await reopen(opened.storage, { bootstrap: { confState: { voters: [9], learners: [] }, index: 1, term: 1 } });
    expect(reopened.storage.initialState()).toEqual({ hardState: { term: 2, vote: 3, commit: 1 }, confState });
    expect(reopened.storage.lastIndex()).toBe(2);
  });

  it('stores a snapshot larger than one value in chunks, and drops the chunks a smaller one no longer needs', async () => {
    const { storage } = await openOn(new MemoryStorageFile());
    const large = patternBytes(RAFT_STORAGE_SNAPSHOT_CHUNK_BYTES * 2 + 1234, 5);
    await storage.persist(persistRequest({ entries: entryRange(1, 10, 1) }));
    await storage.createSnapshot(5, { voters: [1], learners: [] }, large);
    let reopened = await reopen(storage);
    expect(bytesDifference(reopened.storage.snapshot().data, large)).toBeUndefined();
    await reopened.storage.createSnapshot(8, { voters: [1], learners: [] }, utf8('small'));
    expect(await reopened.store.get(chunkKey(PREFIX, 1))).toBeUndefined();
    expect(await reopened.store.get(chunkKey(PREFIX, 2))).toBeUndefined();
    reopened = await reopen(reopened.storage);
    expect(reopened.storage.snapshot().data).toEqual(utf8('small'));
  });

  it('deletes compacted and replaced entry keys over the following commits, a bounded number each', async () => {
    const { storage } = await openOn(new MemoryStorageFile());
    const count = RAFT_STORAGE_GARBAGE_DELETES_PER_COMMIT_MAX * 2 + 500;
    await storage.persist(persistRequest({ entries: entryRange(1, count, 1) }));
    await storage.createSnapshot(count - 10, { voters: [1], learners: [] }, new Uint8Array(0));
    expect(storage.garbageEntryCount).toBe(count - 10 - RAFT_STORAGE_GARBAGE_DELETES_PER_COMMIT_MAX);
    await storage.persist(persistRequest({ entries: [entry(count - 5, 2)] })); // replaces a tail of five
    expect(storage.garbageEntryCount).toBe(count - 10 - 2 * RAFT_STORAGE_GARBAGE_DELETES_PER_COMMIT_MAX + 5);
    // A reopen finds the garbage left (without decoding it) and the next writes finish the job.
    const reopened = await reopen(storage);
    expect(reopened.storage.garbageEntryCount).toBe(storage.garbageEntryCount);
    await reopened.storage.persist(persistRequest({ entries: [entry(count - 4, 2)] }));
    expect(reopened.storage.garbageEntryCount).toBe(0);
    const stored = await reopened.store.scan({ prefix: storageKey(PREFIX, 0x05) });
    expect(stored.entries.map((found) => found.key)).toEqual([entryKey(PREFIX, count - 9), ...[-8, -7, -6, -5, -4].map((offset) => entryKey(PREFIX, count + offset))]);
  });

  it('refuses a persist that would grow the log beyond its bound with BusyError, changing nothing', async () => {
    const { storage } = await openOn(new MemoryStorageFile(), { logSizeBytesMax: 1000 });
    await storage.persist(persistRequest({ entries: [entry(1, 1, patternBytes(500))] }));
    await expect(storage.persist(persistRequest({ entries: [entry(2, 1, patternBytes(500))] }))).rejects.toThrow(BusyError);
    expect(storage.lastIndex()).toBe(1);
    await storage.createSnapshot(1, { voters: [1], learners: [] }, new Uint8Array(0));
    await storage.persist(persistRequest({ entries: [entry(2, 1, patternBytes(500))] }));
    expect(storage.lastIndex()).toBe(2);
  });

  it('refuses bad options and oversized persists with InvalidArgumentError', async () => {
    const store = await openKvStore(new MemoryStorageFile(), { cachePages: CACHE_PAGES });
    await expect(KvRaftStorage.open(store, { keyPrefix: new Uint8Array(2000) })).rejects.toThrow(InvalidArgumentError);
    await expect(KvRaftStorage.open(store, { keyPrefix: 'raft/' as unknown as Uint8Array })).rejects.toThrow(InvalidArgumentError);
    await expect(KvRaftStorage.open(store, { keyPrefix: PREFIX, logSizeBytesMax: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(KvRaftStorage.open(store, { keyPrefix: PREFIX, bootstrap: { confState: { voters: [1], learners: [] }, index: 3, term: 0 } })).rejects.toThrow(InvalidArgumentError);
    const storage = await KvRaftStorage.open(store, { keyPrefix: PREFIX });
    const tooMany = entryRange(1, RAFT_STORAGE_PERSIST_ENTRIES_MAX + 1, 1);
    await expect(storage.persist(persistRequest({ entries: tooMany }))).rejects.toThrow(InvalidArgumentError);
    expect(storage.lastIndex()).toBe(0);
  });

  describe('refuses damaged or foreign records with CorruptionError at open', () => {
    async function damaged(damage: (store: KvStore) => Promise<unknown>): Promise<KvRaftStorage> {
      const { storage, store } = await openOn(new MemoryStorageFile());
      await storage.persist(persistRequest({ entries: entryRange(1, 5, 1), hardState: { term: 1, vote: 2, commit: 3 } }));
      await storage.createSnapshot(2, { voters: [1, 2], learners: [] }, utf8('state'));
      await damage(store);
      return KvRaftStorage.open(store, { keyPrefix: PREFIX });
    }

    async function flipByte(store: KvStore, key: Uint8Array, position: number): Promise<void> {
      const value = (await store.get(key))!.value;
      value[position] = value[position]! ^ 0x40;
      await store.put(key, value);
    }

    it('a flipped bit in an entry, the hard state or the snapshot record', async () => {
      await expect(damaged((store) => flipByte(store, entryKey(PREFIX, 4), 20))).rejects.toThrow(CorruptionError);
      await expect(damaged((store) => flipByte(store, storageKey(PREFIX, KEY_HARD_STATE), 5))).rejects.toThrow(CorruptionError);
      await expect(damaged((store) => flipByte(store, storageKey(PREFIX, 0x03), 10))).rejects.toThrow(CorruptionError);
    });

    it('a record of another format version or kind, or cut short', async () => {
      await expect(damaged((store) => flipByte(store, storageKey(PREFIX, KEY_HARD_STATE), 0))).rejects.toThrow(/format version/);
      await expect(damaged(async (store) => store.put(storageKey(PREFIX, KEY_HARD_STATE), (await store.get(entryKey(PREFIX, 4)))!.value))).rejects.toThrow(/record kind/);
      await expect(damaged((store) => store.put(storageKey(PREFIX, KEY_HARD_STATE), new Uint8Array(3)))).rejects.toThrow(CorruptionError);
      await expect(damaged((store) => store.put(storageKey(PREFIX, 0x02), utf8('not a raft record at all')))).rejects.toThrow(CorruptionError);
    });

    it('an entry stored under another index, or a missing entry', async () => {
      await expect(damaged(async (store) => store.put(entryKey(PREFIX, 4), (await store.get(entryKey(PREFIX, 5)))!.value))).rejects.toThrow(/says it is entry 5/);
      await expect(damaged((store) => store.delete(entryKey(PREFIX, 4)))).rejects.toThrow(/missing entry 4/);
      await expect(damaged((store) => store.delete(entryKey(PREFIX, 5)))).rejects.toThrow(CorruptionError);
    });

    it('a snapshot chunk of another snapshot, or a missing one', async () => {
      await expect(damaged((store) => store.delete(chunkKey(PREFIX, 0)))).rejects.toThrow(/missing/);
      await expect(
        damaged(async (store) => {
          const other = await KvRaftStorage.open(store, { keyPrefix: utf8('other/') });
          await other.persist(persistRequest({ entries: entryRange(1, 4, 1) }));
          await other.createSnapshot(3, { voters: [1], learners: [] }, utf8('other state'));
          await store.put(chunkKey(PREFIX, 0), (await store.get(chunkKey(utf8('other/'), 0)))!.value);
        }),
      ).rejects.toThrow(/holds chunk 0 of snapshot 3/);
    });
  });
});
