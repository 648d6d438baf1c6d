import { MemoryRaftStorage } from '../../kernel/raft/index.ts';
import { runRaftStorageSuite } from './raft-storage-suite.ts';

/** The reference implementation passes the suite it defines the behaviour for (no reopen: it is memory). */
runRaftStorageSuite('MemoryRaftStorage', async () => new MemoryRaftStorage());
