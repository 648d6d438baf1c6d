import { runMetastoreSuite } from '../../test/conformance/metastore-suite.ts';
import { MemoryMetastore } from './metastore.ts';

runMetastoreSuite('MemoryMetastore', async () => new MemoryMetastore());
