import { createMemoryRecordStore } from '../memory/record-store.ts';
import { runRecordStoreSuite } from '../../test/conformance/record-store-suite.ts';

runRecordStoreSuite('memory (wa-sqlite in memory)', () => createMemoryRecordStore());
