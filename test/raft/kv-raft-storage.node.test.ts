import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { NodeStorageFile } from '../../drivers/node-fs/storage-file.ts';
import { openKvStore, type KvStore } from '../../kernel/kv/index.ts';
import { KvRaftStorage, type WritableRaftStorage } from '../../kernel/raft/index.ts';
import { utf8 } from '../conformance/test-bytes.ts';
import { runRaftStorageSuite } from './raft-storage-suite.ts';

/**
 * The RaftStorage suite on KvRaftStorage over the KV engine on a real file (Node and Deno): every
 * mustSync persist is an fdatasync, and reopening closes the store and opens the same path again.
 */
const directories: string[] = [];
const stores: KvStore[] = [];
const opened = new WeakMap<WritableRaftStorage, { store: KvStore; path: string }>();
let fileCount = 0;

async function openAt(path: string): Promise<WritableRaftStorage> {
  const store = await openKvStore(await NodeStorageFile.open(path), { cachePages: 64 });
  const storage = await KvRaftStorage.open(store, { keyPrefix: utf8('raft/') });
  opened.set(storage, { store, path });
  stores.push(store);
  return storage;
}

async function freshPath(): Promise<string> {
  if (directories.length === 0) directories.push(await mkdtemp(join(tmpdir(), 'nexusfs-raft-')));
  return join(directories[0]!, `raft-${fileCount++}.kv`);
}

afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

runRaftStorageSuite('KvRaftStorage on a NodeStorageFile', async () => openAt(await freshPath()), {
  reopen: async (closed) => {
    const { store, path } = opened.get(closed)!;
    await store.close();
    return openAt(path);
  },
});
