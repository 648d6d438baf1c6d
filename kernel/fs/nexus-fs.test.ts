import type { ObjectStore } from '../contracts/object-store.ts';
import { MemoryMetastore, MemoryObjectStore } from '../../drivers/memory/index.ts';
import { runNexusFSSuite } from '../../test/conformance/nexus-fs-suite.ts';
import { NexusFS } from './nexus-fs.ts';

runNexusFSSuite('embedded NexusFS on memory drivers', async () => {
  const metastore = new MemoryMetastore();
  const rootObjectStore = new MemoryObjectStore();
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
        const store = new MemoryObjectStore();
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
