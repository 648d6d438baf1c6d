import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openFileKvStore } from '../../drivers/node-fs/file-kv-store.ts';
import { NodeStorageFile } from '../../drivers/node-fs/storage-file.ts';
import { runMetastoreSuite } from '../../test/conformance/metastore-suite.ts';
import type { Metastore } from '../contracts/metastore.ts';
import { openKvStore } from './kv-store.ts';

/**
 * The Metastore suite on the KV engine over a real file (Node and Deno): every durable commit is
 * an fdatasync, and reopening opens the same path again.
 */
const directories: string[] = [];
const paths = new WeakMap<Metastore, string>();
let fileCount = 0;

async function openAt(path: string): Promise<Metastore> {
  const store = await openKvStore(await NodeStorageFile.open(path), { cachePages: 64 });
  paths.set(store, path);
  return store;
}

async function freshPath(): Promise<string> {
  if (directories.length === 0) directories.push(await mkdtemp(join(tmpdir(), 'nexusfs-kv-')));
  return join(directories[0]!, `store-${fileCount++}.kv`);
}

afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

runMetastoreSuite('KvStore on a NodeStorageFile', async () => openAt(await freshPath()), {
  reopen: async (closed) => openAt(paths.get(closed)!),
});


/** The local Metastore of Node and Deno as the driver opens it: a store file and its commit log. */
async function openWithLogAt(path: string): Promise<Metastore> {
  const store = await openFileKvStore(path, { cachePages: 64 });
  paths.set(store, path);
  return store;
}

runMetastoreSuite('openFileKvStore (KvStore with a commit log on NodeStorageFiles)', async () => openWithLogAt(await freshPath()), {
  reopen: async (closed) => openWithLogAt(paths.get(closed)!),
});
