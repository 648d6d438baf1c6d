import { describe, expect, it } from 'vitest';
import { MemoryObjectStore } from '../../drivers/memory/index.ts';
import { NexusFS } from '../../kernel/fs/nexus-fs.ts';
import { runNexusFSSuite } from '../conformance/nexus-fs-suite.ts';
import { embeddedSuiteContext } from '../embedded-nexus-fs.ts';
import { ZoneTestCluster } from './zone-cluster.ts';

/** The file-API suite on a NexusFS whose Metastore is a 3-voter SC zone, written through its leader. */
runNexusFSSuite('NexusFS on a replicated zone (3 voters, SC)', () =>
  embeddedSuiteContext(
    async () => new MemoryObjectStore(),
    async () => {
      const cluster = await ZoneTestCluster.start();
      const metastore = cluster.replica(1).metastore;
      // Closing the file system's Metastore closes the whole zone.
      return Object.assign(Object.create(metastore) as typeof metastore, {
        close: async () => {
          await metastore.close();
          await cluster.close();
        },
      });
    },
  ),
);

const decoder = new TextDecoder();

describe('NexusFS on a replicated zone, through two nodes', () => {
  it('reads through a follower what was written through the leader, and the other way round', async () => {
    const cluster = await ZoneTestCluster.start();
    const objects = new MemoryObjectStore();
    const onLeader = new NexusFS({ metastore: cluster.replica(1).metastore });
    const onFollower = new NexusFS({ metastore: cluster.replica(3).metastore });
    try {
      await onLeader.mount('/', objects);
      await onFollower.mount('/', objects);
      const written = await onLeader.write('/notes/today.md', 'from the leader');
      expect(decoder.decode(await onFollower.read('/notes/today.md'))).toBe('from the leader');
      expect((await onFollower.stat('/notes/today.md')).version).toBe(written.version);
      await onFollower.write('/notes/reply.md', 'from a follower');
      expect((await onLeader.list('/notes')).entries.map((entry) => entry.path)).toEqual(['/notes/reply.md', '/notes/today.md']);
      await expect(onFollower.write('/notes/today.md', 'stale', { ifMatch: written.version + 1000 })).rejects.toMatchObject({ code: 'ECONFLICT' });
    } finally {
      await onLeader.close();
      await onFollower.close();
      await cluster.close();
    }
  });
});
