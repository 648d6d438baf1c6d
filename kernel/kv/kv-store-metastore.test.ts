import { runMetastoreSuite } from '../../test/conformance/metastore-suite.ts';
import type { Metastore } from '../contracts/metastore.ts';
import { openKvStore } from './kv-store.ts';
import { CountingStorageFile } from './test-storage.ts';

/** The file behind each store, so the suite's reopen capability can open it again. */
const files = new WeakMap<Metastore, CountingStorageFile>();

async function openOn(file: CountingStorageFile): Promise<Metastore> {
  const store = await openKvStore(file, { cachePages: 64 });
  files.set(store, file);
  return store;
}

runMetastoreSuite('KvStore on memory storage', () => openOn(new CountingStorageFile()), {
  reopen: async (closed) => openOn(new CountingStorageFile(files.get(closed)!.image())),
});
