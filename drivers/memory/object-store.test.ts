import { runObjectStoreSuite } from '../../test/conformance/object-store-suite.ts';
import { MemoryObjectStore } from './object-store.ts';

runObjectStoreSuite('MemoryObjectStore', async () => new MemoryObjectStore());
