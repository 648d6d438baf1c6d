import { describe, expect, it } from 'vitest';
import type { KvStore } from '../../kernel/kv/index.ts';
import { KvRaftStorage } from '../../kernel/raft/kv-raft-storage.ts';
import { ZONE_PROPOSAL_BYTES_MAX, ZONE_RAFT_KEY_PREFIX } from '../../kernel/zone/constants.ts';
import { runMetastoreSuite } from '../conformance/metastore-suite.ts';
import { ZoneTestCluster } from './zone-cluster.ts';

/**
 * Zones whose raft log lives in the replica's own KvStore (KvRaftStorage under
 * ZONE_RAFT_KEY_PREFIX), as a process keeps them: one file per node holds the log and the state
 * machine, and a restart reopens both from that file alone.
 */
const openRaftStorage = (store: KvStore) => KvRaftStorage.open(store, { keyPrefix: ZONE_RAFT_KEY_PREFIX });

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const utf8 = (text: string): Uint8Array => encoder.encode(text);

/** Room for a batch's header beside the largest value, within one proposal. */
const PROPOSAL_HEADER_BYTES_RESERVED = 1024;

const clusters = new WeakMap<object, ZoneTestCluster>();

runMetastoreSuite(
  'replicated zone (3 voters, SC) with its raft log in the KvStore',
  async () => {
    const cluster = await ZoneTestCluster.start({ openRaftStorage });
    const metastore = wrap(cluster);
    return metastore;
  },
  {
    valueBytesMax: ZONE_PROPOSAL_BYTES_MAX - PROPOSAL_HEADER_BYTES_RESERVED,
    reopen: async (closed) => {
      const cluster = clusters.get(closed)!;
      await cluster.reopen(1);
      return wrap(cluster);
    },
  },
);

/** Node 1's Metastore view, whose close closes the whole zone. */
function wrap(cluster: ZoneTestCluster) {
  const view = cluster.replica(1).metastore;
  const metastore = Object.assign(Object.create(view) as typeof view, {
    close: async () => {
      await view.close();
      await cluster.close();
    },
  });
  clusters.set(metastore, cluster);
  return metastore;
}

describe('zone replica on KvRaftStorage', () => {
  it('restarts a crashed node from its file alone and catches it up through a snapshot', async () => {
    const cluster = await ZoneTestCluster.start({ openRaftStorage, snapshotIntervalEntries: 4 });
    try {
      await cluster.replica(1).metastore.put(utf8('first'), utf8('1'));
      await cluster.waitUntil(() => cluster.replica(3).status().appliedIndex === cluster.replica(1).status().appliedIndex, 'node 3 to apply');
      await cluster.crash(3);
      for (let index = 0; index < 10; index++) await cluster.replica(1).metastore.put(utf8(`k${index}`), utf8(`v${index}`));
      expect(cluster.replica(1).status().snapshotIndex).toBeGreaterThan(1);
      await cluster.restart(3);
      const leaderApplied = cluster.replica(1).status().appliedIndex;
      await cluster.waitUntil(() => cluster.replica(3).status().appliedIndex >= leaderApplied, 'node 3 to catch up');
      const page = await cluster.drive(cluster.replica(3).metastore.scan({}));
      expect(page.entries.map((entry) => decoder.decode(entry.key)).sort()).toEqual(['first', ...Array.from({ length: 10 }, (_, index) => `k${index}`)].sort());
    } finally {
      await cluster.close();
    }
  });

  it("writes a follower's append and the apply of the entries it commits as one KvStore group", async () => {
    const stores = new Map<number, KvStore>();
    const cluster = await ZoneTestCluster.start({
      openRaftStorage,
      wrapStore: (nodeId, store) => {
        stores.set(nodeId, store);
        return store;
      },
    });
    try {
      const follower = 2;
      const warmUp = await cluster.replica(1).metastore.put(utf8('warm-up'), utf8('0'));
      await cluster.waitUntil(() => cluster.replica(follower).status().appliedIndex >= warmUp, 'the follower to apply the warm-up');
      // Without a commit log, each group the store's writer takes is one tree transaction.
      const before = (await stores.get(follower)!.stats()).writeTransactionCount;
      const writes = 6;
      let last = 0;
      for (let index = 0; index < writes; index++) last = await cluster.replica(1).metastore.put(utf8(`k${index}`), utf8(`v${index}`));
      await cluster.waitUntil(() => cluster.replica(follower).status().appliedIndex >= last, 'the follower to apply every write');
      // Each append also carries the commit of the write before it (lazy commit propagation); the
      // last write's commit arrives alone. As two groups, an append and its apply took 2 per write.
      expect((await stores.get(follower)!.stats()).writeTransactionCount - before).toBeLessThanOrEqual(writes + 1);
    } finally {
      await cluster.close();
    }
  });

  it('keeps every acknowledged write when the leader crashes and restarts', async () => {
    const cluster = await ZoneTestCluster.start({ openRaftStorage });
    try {
      const versions = new Map<string, number>();
      for (let index = 0; index < 5; index++) versions.set(`k${index}`, await cluster.replica(1).metastore.put(utf8(`k${index}`), utf8(`v${index}`)));
      await cluster.crash(1);
      await cluster.waitUntil(() => [2, 3].some((id) => cluster.replica(id).status().role === 'leader'), 'a new leader');
      await cluster.restart(1);
      await cluster.waitUntil(() => cluster.replica(1).status().leader !== 0 && cluster.replica(1).status().role === 'follower', 'node 1 to follow');
      for (const nodeId of [1, 2, 3]) {
        const entries = await cluster.drive(cluster.replica(nodeId).metastore.getMany([...versions.keys()].map(utf8)));
        expect(entries.map((entry) => entry?.version)).toEqual([...versions.values()]);
      }
    } finally {
      await cluster.close();
    }
  });
});
