import { describe, expect, it } from 'vitest';
import type { MetastoreOperation } from '../../kernel/contracts/metastore.ts';
import type { KvStore } from '../../kernel/kv/index.ts';
import { KvRaftStorage } from '../../kernel/raft/kv-raft-storage.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { ZONE_RAFT_KEY_PREFIX } from '../../kernel/zone/constants.ts';
import { caughtUp, stateAt, ZoneTestCluster } from './zone-cluster.ts';

/**
 * A zone above the 40,000 keys that bounded snapshots when they travelled as one message: its log
 * is compacted, and a follower behind the compaction and a new node catch up through a snapshot
 * of the real size, in default-sized chunks. Node only, for its running time.
 */
const openRaftStorage = (store: KvStore) => KvRaftStorage.open(store, { keyPrefix: ZONE_RAFT_KEY_PREFIX });

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const KEY_COUNT = 41_000;
const KEYS_PER_BATCH = 4_100;

describe('zone snapshots above 40,000 keys', () => {
  it(`compacts the log of a zone of ${KEY_COUNT} keys and catches a lagging follower and a new node up through a snapshot`, async () => {
    const cluster = await ZoneTestCluster.start({ openRaftStorage, snapshotIntervalEntries: 4, snapshotCatchUpEntries: 0 });
    try {
      let chunks = 0;
      cluster.network.dropRule = ({ message }) => {
        if (message.type === 'snapshot-chunk') chunks++;
        return false;
      };
      await cluster.crash(3);
      for (let first = 0; first < KEY_COUNT; first += KEYS_PER_BATCH) {
        const operations: MetastoreOperation[] = [];
        for (let index = first; index < first + KEYS_PER_BATCH; index++) {
          operations.push({ type: 'put', key: encoder.encode(`/files/${String(index).padStart(6, '0')}.txt`), value: encoder.encode(`metadata of file ${index}`) });
        }
        await cluster.drive(cluster.replica(1).commit(operations), `keys from ${first}`);
      }
      expect(cluster.nodes.get(1)!.raftStorage.firstIndex()).toBeGreaterThan(cluster.nodes.get(3)!.raftStorage.lastIndex() + 1);
      const expected = await stateAt(cluster, 1);
      expect(expected.size).toBe(KEY_COUNT);

      await cluster.restart(3);
      await caughtUp(cluster, 3);
      expect(await stateAt(cluster, 3)).toEqual(expected);
      await cluster.addNode(4);
      await caughtUp(cluster, 4);
      expect(await stateAt(cluster, 4)).toEqual(expected);
      // SNAPSHOT_CHUNK_ENTRIES_MAX entries at most per chunk, so at least 11 chunks per transfer.
      expect(chunks).toBeGreaterThanOrEqual(22);
    } finally {
      await cluster.close();
    }
  }, 60_000);
});
