import { MemoryStorageFile } from '../../drivers/memory/storage-file.ts';
import { runMetastoreSuite } from '../../test/conformance/metastore-suite.ts';
import type { Metastore } from '../contracts/metastore.ts';
import { openKvStore } from './kv-store.ts';

/** The file behind each store, so the suite's reopen capability can open its image again. */
const files = new WeakMap<Metastore, MemoryStorageFile>();
const logs = new WeakMap<Metastore, MemoryStorageFile>();

async function openOn(file: MemoryStorageFile): Promise<Metastore> {
  // A small cache, so the suite also reads pages back from the file, not only from the cache.
  const store = await openKvStore(file, { cachePages: 64 });
  files.set(store, file);
  return store;
}

runMetastoreSuite('KvStore on memory storage', () => openOn(new MemoryStorageFile()), {
  reopen: async (closed) => openOn(new MemoryStorageFile(files.get(closed)!.image())),
});

async function openWithLog(file: MemoryStorageFile, log: MemoryStorageFile): Promise<Metastore> {
  const store = await openKvStore(file, { cachePages: 64, log });
  files.set(store, file);
  logs.set(store, log);
  return store;
}

runMetastoreSuite('KvStore with a commit log on memory storage', () => openWithLog(new MemoryStorageFile(), new MemoryStorageFile()), {
  reopen: async (closed) => openWithLog(new MemoryStorageFile(files.get(closed)!.image()), new MemoryStorageFile(logs.get(closed)!.image())),
});

const secondLogs = new WeakMap<Metastore, MemoryStorageFile>();

/** Two logs and a small write buffer: checkpoints run beside the suite's commits, often. */
async function openWithTwoLogs(file: MemoryStorageFile, log: MemoryStorageFile, secondLog: MemoryStorageFile): Promise<Metastore> {
  const store = await openKvStore(file, { cachePages: 64, log, secondLog, writeBufferBytes: 4096 });
  files.set(store, file);
  logs.set(store, log);
  secondLogs.set(store, secondLog);
  return store;
}

runMetastoreSuite('KvStore with two commit logs on memory storage', () => openWithTwoLogs(new MemoryStorageFile(), new MemoryStorageFile(), new MemoryStorageFile()), {
  reopen: async (closed) =>
    openWithTwoLogs(
      new MemoryStorageFile(files.get(closed)!.image()),
      new MemoryStorageFile(logs.get(closed)!.image()),
      new MemoryStorageFile(secondLogs.get(closed)!.image()),
    ),
});
