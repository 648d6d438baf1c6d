import type { Metastore } from '../kernel/contracts/metastore.ts';
import type { ObjectStore } from '../kernel/contracts/object-store.ts';
import { MemoryMetastore } from '../drivers/memory/index.ts';
import { NexusFS } from '../kernel/fs/nexus-fs.ts';
import type { NexusFSSuiteContext } from './conformance/nexus-fs-suite.ts';

/**
 * The suite context for an embedded NexusFS on a Metastore (a memory one unless given), with
 * ObjectStores from `createObjectStore` (the root one and every one the suite mounts), all closed
 * with it.
 */
export async function embeddedSuiteContext(
  createObjectStore: () => Promise<ObjectStore>,
  createMetastore: () => Promise<Metastore> = async () => new MemoryMetastore(),
): Promise<NexusFSSuiteContext> {
  const metastore = await createMetastore();
  const rootObjectStore = await createObjectStore();
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
        const store = await createObjectStore();
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
}
