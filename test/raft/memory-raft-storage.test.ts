import { describe, expect, it } from 'vitest';
import { MemoryRaftStorage, type MemoryRaftStorageImage } from '../../kernel/raft/index.ts';
import type { WritableRaftStorage } from '../../kernel/raft/storage.ts';
import { utf8 } from '../conformance/test-bytes.ts';
import { entry, entryRange, persistRequest, runRaftStorageSuite } from './raft-storage-suite.ts';

/** The reference implementation passes the suite it defines the behaviour for; it reopens from its image. */
runRaftStorageSuite('MemoryRaftStorage', async () => new MemoryRaftStorage(), {
  reopen: async (closed: WritableRaftStorage) => MemoryRaftStorage.fromImage((closed as MemoryRaftStorage).image()),
});

describe('MemoryRaftStorage beyond the contract', () => {
  it('hands out its image as a copy, even after close, and starts from a copy of one', async () => {
    const storage = new MemoryRaftStorage();
    await storage.persist(persistRequest({ entries: entryRange(1, 3, 1), hardState: { term: 1, vote: 1, commit: 2 } }));
    await storage.close();
    const image = storage.image();
    const reopened = MemoryRaftStorage.fromImage(image);
    image.entries[0]!.data.fill(0x7a);
    expect(storage.entries(1, 2, Infinity)[0]!.data).toEqual(utf8('e1'));
    expect(reopened.entries(1, 4, Infinity)).toEqual(entryRange(1, 3, 1));
    expect(reopened.initialState().hardState).toEqual({ term: 1, vote: 1, commit: 2 });
  });

  it('refuses with EINVAL an image whose entries skip an index or do not follow the compaction point, or whose snapshot is outside the log', () => {
    const storage = new MemoryRaftStorage();
    storage.append(entryRange(1, 3, 1));
    const image = storage.image();
    const refused: MemoryRaftStorageImage[] = [
      { ...image, entries: [entry(1, 1), entry(3, 1)] },
      { ...image, compacted: { index: 1, term: 1 } },
      { ...image, snapshot: { ...image.snapshot, metadata: { ...image.snapshot.metadata, index: 4 } } },
      // The snapshot (at 0) before the compaction point (1): the entries it would cover are gone.
      { ...image, compacted: { index: 1, term: 1 }, entries: [entry(2, 1), entry(3, 1)] },
      { ...image, compacted: { index: -1, term: 0 } },
    ];
    for (const bad of refused) expect(() => MemoryRaftStorage.fromImage(bad)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
