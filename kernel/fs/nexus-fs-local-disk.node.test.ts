import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { ObjectStore } from '../contracts/object-store.ts';
import { MemoryMetastore } from '../../drivers/memory/index.ts';
import { LocalObjectStore } from '../../drivers/node-fs/index.ts';
import { runNexusFSSuite } from '../../test/conformance/nexus-fs-suite.ts';
import { NexusFS } from './nexus-fs.ts';

/** The file-API suite with blobs on local disk: the driver set `nexus serve` uses for content. */
const directories: string[] = [];

async function freshStore(): Promise<LocalObjectStore> {
  const directory = await mkdtemp(join(tmpdir(), 'nexusfs-kernel-local-'));
  directories.push(directory);
  return new LocalObjectStore({ directory });
}

afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

runNexusFSSuite('embedded NexusFS with LocalObjectStore blobs', async () => {
  const metastore = new MemoryMetastore();
  const rootObjectStore = await freshStore();
  const objectStores: ObjectStore[] = [rootObjectStore];
  const nexusFS = new NexusFS({ metastore });
  await nexusFS.mount('/', rootObjectStore);
  return {
    fs: nexusFS,
    admin: {
      mount: (path, store, options) => nexusFS.mount(path, store, options),
      unmount: (path) => nexusFS.unmount(path),
      listMounts: () => nexusFS.listMounts(),
      async createObjectStore() {
        const store = await freshStore();
        objectStores.push(store);
        return store;
      },
    },
    rootObjectStore,
    async close() {
      await nexusFS.close();
      for (const store of objectStores) await store.close();
      await metastore.close();
    },
  };
});
