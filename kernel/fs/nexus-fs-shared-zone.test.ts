import { describe, expect, it } from 'vitest';
import { MemoryMetastore, MemoryObjectStore } from '../../drivers/memory/index.ts';
import { NexusFS } from './nexus-fs.ts';

/**
 * Several NexusFS over one Metastore (two processes over one Postgres table, or a restart): the
 * zone revision guards every commit, so a lost race is retried from fresh reads and nothing is lost.
 */
const decoder = new TextDecoder();

async function openZone(metastore: MemoryMetastore, store: MemoryObjectStore): Promise<NexusFS> {
  const nexusFS = new NexusFS({ metastore });
  await nexusFS.mount('/', store);
  return nexusFS;
}

describe('NexusFS instances sharing one zone', () => {
  it('interleaved writers lose nothing and the revision counts every mutation', async () => {
    const metastore = new MemoryMetastore();
    const store = new MemoryObjectStore();
    const writers = [await openZone(metastore, store), await openZone(metastore, store), await openZone(metastore, store)];
    const filesPerWriter = 40;
    await Promise.all(
      writers.map(async (writer, writerIndex) => {
        for (let index = 0; index < filesPerWriter; index++) {
          await writer.write(`/shared/w${writerIndex}/f${index}.txt`, `writer ${writerIndex} file ${index}`);
        }
      }),
    );
    const reader = writers[0]!;
    const listed = await reader.list('/shared', { recursive: true, limit: 1000 });
    const files = listed.entries.filter((entry) => entry.type === 'REG');
    expect(files).toHaveLength(writers.length * filesPerWriter);
    // Each writer's first write also created /shared/wN (and one of them /shared): same revision.
    expect(await reader.revision()).toBe(writers.length * filesPerWriter);
    expect(decoder.decode(await writers[2]!.read('/shared/w1/f7.txt'))).toBe('writer 1 file 7');
  });

  it('a conditional write from another instance sees the version the first one committed', async () => {
    const metastore = new MemoryMetastore();
    const store = new MemoryObjectStore();
    const first = await openZone(metastore, store);
    const second = await openZone(metastore, store);
    const created = await first.write('/doc.md', 'v1');
    const results = await Promise.allSettled([
      first.write('/doc.md', 'from first', { ifMatch: created.version }),
      second.write('/doc.md', 'from second', { ifMatch: created.version }),
    ]);
    const fulfilled = results.filter((result) => result.status === 'fulfilled');
    const rejected = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.reason).toMatchObject({ code: 'ECONFLICT' });
    const winner = results[0]!.status === 'fulfilled' ? 'from first' : 'from second';
    expect(decoder.decode(await second.read('/doc.md'))).toBe(winner);
  });

  it('a reopened zone keeps its tree and revision, and its mount points wait to be re-attached', async () => {
    const metastore = new MemoryMetastore();
    const rootStore = new MemoryObjectStore();
    const dataStore = new MemoryObjectStore();
    const before = await openZone(metastore, rootStore);
    await before.mount('/data', dataStore);
    await before.write('/data/a.bin', Uint8Array.of(1, 2, 3));
    await before.write('/notes.txt', 'kept');
    const revision = await before.revision();
    await before.close();
    await expect(before.stat('/notes.txt')).rejects.toMatchObject({ code: 'ECLOSED' });
    await expect(before.statMany(['/notes.txt'])).rejects.toMatchObject({ code: 'ECLOSED' });
    await expect(before.write('/after-close.txt', 'x')).rejects.toMatchObject({ code: 'ECLOSED' });

    const after = await openZone(metastore, rootStore);
    expect(await after.revision()).toBe(revision);
    expect(decoder.decode(await after.read('/notes.txt'))).toBe('kept');
    expect((await after.stat('/data')).type).toBe('MOUNT');
    // The mount point is recorded but no store is attached yet: EBUSY, never the root store's bytes.
    await expect(after.read('/data/a.bin')).rejects.toMatchObject({ code: 'EBUSY' });
    await expect(after.write('/data/b.bin', 'x')).rejects.toMatchObject({ code: 'EBUSY' });
    await after.mount('/data', dataStore);
    expect([...(await after.read('/data/a.bin'))]).toEqual([1, 2, 3]);
    expect(after.listMounts().map((mount) => mount.path)).toEqual(['/', '/data']);
  });
});

describe('NexusFS over a damaged ObjectStore', () => {
  it('reports a blob the ObjectStore lost as ECORRUPT, not as a missing file', async () => {
    const store = new MemoryObjectStore();
    const nexusFS = await openZone(new MemoryMetastore(), store);
    const written = await nexusFS.write('/lost.txt', 'gone');
    await store.delete(written.contentId!);
    await expect(nexusFS.read('/lost.txt')).rejects.toMatchObject({ code: 'ECORRUPT' });
    await expect(nexusFS.readStream('/lost.txt')).rejects.toMatchObject({ code: 'ECORRUPT' });
    expect((await nexusFS.stat('/lost.txt')).contentId).toBe(written.contentId);
  });
});
