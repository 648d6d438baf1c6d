import { MemoryObjectStore, MemoryStorageFile } from '../../drivers/memory/index.ts';
import { runNexusFSSuite } from '../../test/conformance/nexus-fs-suite.ts';
import { embeddedSuiteContext } from '../../test/embedded-nexus-fs.ts';
import { openKvStore } from '../kv/index.ts';

/** The file-API suite on the KV engine (over a memory StorageFile), in every runtime. */
runNexusFSSuite('embedded NexusFS on the KV engine', () =>
  embeddedSuiteContext(
    async () => new MemoryObjectStore(),
    () => openKvStore(new MemoryStorageFile()),
  ),
);
