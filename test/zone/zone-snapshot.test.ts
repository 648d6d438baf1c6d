import { describe, expect, it } from 'vitest';
import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import type { MetastoreOperation } from '../../kernel/contracts/metastore.ts';
import type { KvStore } from '../../kernel/kv/index.ts';
import { entrySizeBytes } from '../../kernel/raft/entry-size.ts';
import { KvRaftStorage } from '../../kernel/raft/kv-raft-storage.ts';
import { MemoryRaftStorage } from '../../kernel/raft/memory-storage.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { SNAPSHOT_CHUNKS_MAX, ZONE_RAFT_KEY_PREFIX, ZONE_RESERVED_KEY_PREFIX } from '../../kernel/zone/constants.ts';
import { decodeSnapshotChunk, encodeSnapshotChunk, type SnapshotChunkMessage } from '../../kernel/zone/snapshot-chunk.ts';
import { CrashStorageFile } from '../crash/crash-storage-file.ts';
import { SnapshotReceiver } from '../../kernel/zone/snapshot-transfer.ts';
import { MemoryStorageFile } from '../../drivers/memory/storage-file.ts';
import { openKvStore } from '../../kernel/kv/index.ts';
import { encodeStoredStateSnapshot, isReservedKey, ZoneStateMachine } from '../../kernel/zone/zone-state-machine.ts';
import { catchUpCompactIndex } from '../../kernel/zone/zone-replica.ts';
import { caughtUp, stateAt, ZoneTestCluster, type ZoneTestClusterOptions, withCluster } from './zone-cluster.ts';

/**
 * Zone snapshots (kernel/zone/snapshot-chunk.ts): the log is compacted without copying the state,
 * and a follower behind the compaction, or a new node, is sent the state in chunks. The chunk size
 * is lowered so that a small state spans many chunks and an install many commits.
 */
const openRaftStorage = (store: KvStore) => KvRaftStorage.open(store, { keyPrefix: ZONE_RAFT_KEY_PREFIX });

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const utf8 = (text: string): Uint8Array => encoder.encode(text);

/** Compacts up to each snapshot (no entries kept behind it), so that any follower behind a compaction is sent a snapshot. */
/** Writes the livelock test makes at most while chunks travel: far more than one transfer needs. */
const LAGGING_WRITES_MAX = 400;

const SMALL_SNAPSHOTS: ZoneTestClusterOptions = {
  openRaftStorage,
  snapshotIntervalEntries: 8,
  snapshotCatchUpEntries: 0,
  snapshotChunkBytes: 200,
  snapshotInstallOperationsPerCommit: 7,
};

/** Counts the snapshot chunks the network carries to each node. */
function countChunks(cluster: ZoneTestCluster): Map<NodeId, number> {
  const counts = new Map<NodeId, number>();
  const previous = cluster.network.dropRule;
  cluster.network.dropRule = (delivery) => {
    if (delivery.message.type === 'snapshot-chunk') counts.set(delivery.message.to, (counts.get(delivery.message.to) ?? 0) + 1);
    return previous?.(delivery) ?? false;
  };
  return counts;
}

/** Counts the snapshot transfers the network carries to each node (first chunks: no test here drops one). */
function countTransfers(cluster: ZoneTestCluster): Map<NodeId, number> {
  const counts = new Map<NodeId, number>();
  const previous = cluster.network.dropRule;
  cluster.network.dropRule = (delivery) => {
    const message = delivery.message;
    if (message.type === 'snapshot-chunk' && message.chunk === 0) counts.set(message.to, (counts.get(message.to) ?? 0) + 1);
    return previous?.(delivery) ?? false;
  };
  return counts;
}

/**
 * Restarts node 3, which needs a snapshot, while each chunk sent brings a write at the leader
 * (LAGGING_WRITES_MAX at most); waits until node 3 has caught up with the leader's state, and
 * returns the writes made and the transfers node 3 was sent.
 */
async function restartThreeWhileWriting(cluster: ZoneTestCluster): Promise<{ writes: number; transfers: number }> {
  const transfers = countTransfers(cluster);
  const writes: Array<Promise<unknown>> = [];
  const previous = cluster.network.dropRule;
  cluster.network.dropRule = (delivery) => {
    if (delivery.message.type === 'snapshot-chunk' && writes.length < LAGGING_WRITES_MAX) {
      const key = utf8(`during/${writes.length}`);
      writes.push(cluster.replica(1).commit([{ type: 'put', key, value: utf8('written during a transfer') }]));
    }
    return previous?.(delivery) ?? false;
  };
  await cluster.restart(3);
  await cluster.waitUntil(() => cluster.replica(3).status().snapshotIndex > 0 && cluster.replica(3).status().appliedIndex >= cluster.nodes.get(1)!.raftStorage.snapshot().metadata.index, 'node 3 to install a snapshot');
  await cluster.drive(Promise.all(writes), 'the writes made during the transfer');
  await caughtUp(cluster, 3);
  expect(await stateAt(cluster, 3)).toEqual(await stateAt(cluster, 1));
  return { writes: writes.length, transfers: transfers.get(3) ?? 0 };
}

/**
 * Records each snapshot chunk sent to `nodeId` (delivered or not); with `dropFirstTransferFrom`, the
 * first transfer loses its chunks from that number on, so that it is given up with those before staged.
 */
function recordChunksTo(cluster: ZoneTestCluster, nodeId: NodeId, options: { dropFirstTransferFrom: number }): { transferId: number; chunk: number; snapshotIndex: number }[] {
  const sent: { transferId: number; chunk: number; snapshotIndex: number }[] = [];
  cluster.network.dropRule = ({ message }) => {
    if (message.type !== 'snapshot-chunk' || message.to !== nodeId) return false;
    sent.push({ transferId: message.transferId, chunk: message.chunk, snapshotIndex: message.snapshot.metadata.index });
    return message.transferId === sent[0]!.transferId && message.chunk >= options.dropFirstTransferFrom;
  };
  return sent;
}

/** Writes that a node that fell behind must catch up on: new keys, and keys deleted or overwritten since. */
async function writeWhileBehind(cluster: ZoneTestCluster, batches: number): Promise<void> {
  for (let batch = 0; batch < batches; batch++) {
    const operations: MetastoreOperation[] = [];
    for (let index = 0; index < 12; index++) operations.push({ type: 'put', key: utf8(`new/${batch}/${index}`), value: utf8(`value ${batch}.${index}`) });
    operations.push({ type: 'delete', key: utf8(`old/${batch * 2}`) });
    operations.push({ type: 'put', key: utf8(`old/${batch * 2 + 1}`), value: utf8(`overwritten in ${batch}`) });
    await cluster.drive(cluster.replica(1).commit(operations), `batch ${batch}`);
  }
}

/**
 * Runs `body` on a SMALL_SNAPSHOTS cluster whose node 3 crashed after the first writes and missed
 * ten batches since, beyond a compaction: it needs a snapshot transfer once restarted.
 */
async function withNodeThreeBehind(
  body: (cluster: ZoneTestCluster) => Promise<void>,
  options: Parameters<typeof ZoneTestCluster.start>[0] = SMALL_SNAPSHOTS,
): Promise<void> {
  await withCluster(options, async (cluster) => {
    await writeOld(cluster);
    await caughtUp(cluster, 3);
    await cluster.crash(3);
    await writeWhileBehind(cluster, 10);
    await body(cluster);
  });
}

async function writeOld(cluster: ZoneTestCluster): Promise<void> {
  const operations: MetastoreOperation[] = Array.from({ length: 24 }, (_, index) => ({ type: 'put', key: utf8(`old/${index}`), value: utf8(`old value ${index}`) }));
  await cluster.drive(cluster.replica(1).commit(operations), 'the old keys');
}

describe('zone snapshots', () => {
  it('compacts the log and catches a lagging follower and a new node up through a snapshot of many chunks', async () => {
    const cluster = await ZoneTestCluster.start(SMALL_SNAPSHOTS);
    try {
      const chunks = countChunks(cluster);
      await writeOld(cluster);
      await caughtUp(cluster, 3);
      await cluster.crash(3);
      await writeWhileBehind(cluster, 10);
      const leaderStorage = cluster.nodes.get(1)!.raftStorage;
      expect(leaderStorage.firstIndex()).toBeGreaterThan(cluster.nodes.get(3)!.raftStorage.lastIndex() + 1);
      const expected = await stateAt(cluster, 1);
      expect(expected.size).toBe(24 - 10 + 120);

      await cluster.restart(3);
      await caughtUp(cluster, 3);
      expect(await stateAt(cluster, 3)).toEqual(expected);
      expect(chunks.get(3)).toBeGreaterThan(10);

      await cluster.addNode(4);
      await caughtUp(cluster, 4);
      expect(await stateAt(cluster, 4)).toEqual(expected);
      expect(chunks.get(4)).toBeGreaterThan(10);

      // The installed state is the base of what follows, on every replica.
      const version = await cluster.drive(cluster.replica(1).metastore.put(utf8('new/0/0'), utf8('after')));
      for (const nodeId of [3, 4]) {
        await caughtUp(cluster, nodeId);
        expect((await stateAt(cluster, nodeId)).get('new/0/0')).toBe(`${version}:after`);
      }
      // A raft snapshot records no state: the leader's raft storage holds a few bytes of it.
      expect(leaderStorage.snapshot().data.byteLength).toBeLessThan(16);
    } finally {
      await cluster.close();
    }
  });

  it('catches a follower just behind a compaction up by log entries, and one far behind by a snapshot', async () => {
    const cluster = await ZoneTestCluster.start({ ...SMALL_SNAPSHOTS, snapshotCatchUpEntries: 16 });
    try {
      const transfers = countTransfers(cluster);
      await writeOld(cluster);
      await caughtUp(cluster, 3);
      await cluster.crash(3);
      const leaderStorage = cluster.nodes.get(1)!.raftStorage;
      const followerLast = cluster.nodes.get(3)!.raftStorage.lastIndex();
      // Write until the leader compacts past the follower's log: at most one interval of entries.
      for (let batch = 0; leaderStorage.snapshot().metadata.index <= followerLast; batch++) {
        expect(batch).toBeLessThan(10);
        await writeWhileBehind(cluster, 1);
      }
      expect(leaderStorage.firstIndex()).toBeLessThanOrEqual(followerLast + 1);
      await cluster.restart(3);
      await caughtUp(cluster, 3);
      expect(await stateAt(cluster, 3)).toEqual(await stateAt(cluster, 1));
      expect(transfers.get(3)).toBeUndefined();

      // More than the entries kept behind a snapshot: the log no longer reaches the follower.
      await cluster.crash(3);
      const farLast = cluster.nodes.get(3)!.raftStorage.lastIndex();
      await writeWhileBehind(cluster, 30);
      expect(leaderStorage.firstIndex()).toBeGreaterThan(farLast + 1);
      await cluster.restart(3);
      await caughtUp(cluster, 3);
      expect(await stateAt(cluster, 3)).toEqual(await stateAt(cluster, 1));
      expect(transfers.get(3)).toBe(1);
    } finally {
      await cluster.close();
    }
  });

  it('catches a lagging follower up while the leader writes and compacts on during its transfer, with one transfer', async () => {
    // Each chunk sent brings a write, so a transfer of ~20 chunks sees ~20 entries and several
    // compactions (every 4). The entries kept behind a snapshot (64) cover them; with none kept,
    // every transfer would end behind the compaction and another would start, as long as writes go on.
    await withNodeThreeBehind(
      async (cluster) => {
        // Beyond the entries kept behind a snapshot, without growing the state (and its chunks).
        for (let write = 0; write < 64; write++) await cluster.drive(cluster.replica(1).metastore.put(utf8('hot'), utf8(`${write}`)));
        const { writes, transfers } = await restartThreeWhileWriting(cluster);
        expect(writes).toBeGreaterThan(2 * 4);
        expect(writes).toBeLessThan(LAGGING_WRITES_MAX);
        expect(transfers).toBe(1);
      },
      { ...SMALL_SNAPSHOTS, snapshotIntervalEntries: 4, snapshotCatchUpEntries: 64 },
    );
  });

  it('catches a lagging follower up with one transfer while writes outlast the entries kept behind a snapshot, the leader keeping the log after the snapshot sent', async () => {
    // As above, but with no entries kept behind a snapshot: what the follower needs after the
    // snapshot it installs is there only because the leader holds its log for the transfer (without
    // the hold, every transfer ends behind the compaction and another starts while writes go on).
    await withNodeThreeBehind(
      async (cluster) => {
        const { writes, transfers } = await restartThreeWhileWriting(cluster);
        // Several compactions happened during the transfer.
        expect(writes).toBeGreaterThan(3 * 4);
        expect(transfers).toBe(1);
        const leaderStorage = cluster.nodes.get(1)!.raftStorage;
        // Once the follower has the entries, the hold ends: the next snapshot compacts up to itself.
        await writeWhileBehind(cluster, 2);
        expect(leaderStorage.firstIndex()).toBe(leaderStorage.snapshot().metadata.index + 1);
      },
      { ...SMALL_SNAPSHOTS, snapshotIntervalEntries: 4, snapshotCatchUpEntries: 0 },
    );
  });

  it('keeps the log after a snapshot being sent, unless those entries exceed the hold\'s byte bound', () => {
    const storage = new MemoryRaftStorage();
    storage.append(Array.from({ length: 20 }, (_, position) => ({ index: position + 1, term: 1, type: 'normal' as const, data: new Uint8Array(100) })));
    const entryBytes = entrySizeBytes(storage.entries(1, 2, Infinity)[0]!);
    const options = { snapshotIndex: 15, catchUpEntries: 5, catchUpBytesMax: Infinity };
    expect(catchUpCompactIndex(storage, { ...options, heldIndex: 6, heldBytesMax: Infinity })).toBe(6);
    expect(catchUpCompactIndex(storage, { ...options, heldIndex: 6, heldBytesMax: 9 * entryBytes })).toBe(6);
    expect(catchUpCompactIndex(storage, { ...options, heldIndex: 6, heldBytesMax: 9 * entryBytes - 1 })).toBe(10);
    // A hold above the catch-up entries changes nothing.
    expect(catchUpCompactIndex(storage, { ...options, heldIndex: 12, heldBytesMax: Infinity })).toBe(10);
    storage.createSnapshotSynchronously(8, { voters: [1], learners: [] }, new Uint8Array(0));
    storage.compactSynchronously(8);
    expect(catchUpCompactIndex(storage, { ...options, heldIndex: 6, heldBytesMax: Infinity })).toBe(8);
  });

  it('resumes a transfer given up midway after the chunks the follower staged, sending the state it pinned for it while writes go on', async () => {
    await withNodeThreeBehind(async (cluster) => {
      const sent = recordChunksTo(cluster, 3, { dropFirstTransferFrom: 3 });
      const leaderStorage = cluster.nodes.get(1)!.raftStorage;
      await cluster.restart(3);
      await cluster.waitUntil(() => sent.length > 0 && sent.some((chunk) => chunk.chunk >= 3), 'the first transfer to be cut');
      const firstSnapshot = sent[0]!.snapshotIndex;
      // Writes go on, and the leader snapshots again: a new pin would be another state.
      await writeWhileBehind(cluster, 10);
      expect(leaderStorage.snapshot().metadata.index).toBeGreaterThan(firstSnapshot);
      await caughtUp(cluster, 3);
      expect(await stateAt(cluster, 3)).toEqual(await stateAt(cluster, 1));
      const second = sent.filter((chunk) => chunk.transferId !== sent[0]!.transferId);
      // The snapshot the follower staged for, and after chunk 0 (answered with where to resume) the chunks it lacked.
      expect(second[0]).toMatchObject({ chunk: 0, snapshotIndex: firstSnapshot });
      expect(second[1]!.chunk).toBe(3);
      expect(second.filter((chunk) => chunk.chunk === 1 || chunk.chunk === 2)).toEqual([]);
    });
  });

  it('resumes a transfer after a crash of the follower midway, from the chunks it staged', async () => {
    await withNodeThreeBehind(async (cluster) => {
      const sent = recordChunksTo(cluster, 3, { dropFirstTransferFrom: 3 });
      await cluster.restart(3);
      await cluster.waitUntil(() => sent.some((chunk) => chunk.chunk >= 3), 'the first transfer to be cut');
      await cluster.crash(3);
      await cluster.restart(3);
      await caughtUp(cluster, 3);
      expect(await stateAt(cluster, 3)).toEqual(await stateAt(cluster, 1));
      const second = sent.filter((chunk) => chunk.transferId !== sent[0]!.transferId);
      expect(second[0]!.chunk).toBe(0);
      expect(second[1]!.chunk).toBe(3);
      expect(second.filter((chunk) => chunk.chunk === 1 || chunk.chunk === 2)).toEqual([]);
    });
  });

  it('keeps catchUpEntries behind a snapshot, fewer when they exceed the byte bound, and none already compacted', () => {
    const storage = new MemoryRaftStorage();
    storage.append(Array.from({ length: 20 }, (_, position) => ({ index: position + 1, term: 1, type: 'normal' as const, data: new Uint8Array(100) })));
    const entryBytes = entrySizeBytes(storage.entries(1, 2, Infinity)[0]!);
    expect(catchUpCompactIndex(storage, { snapshotIndex: 15, catchUpEntries: 5, catchUpBytesMax: Infinity })).toBe(10);
    expect(catchUpCompactIndex(storage, { snapshotIndex: 15, catchUpEntries: 0, catchUpBytesMax: Infinity })).toBe(15);
    expect(catchUpCompactIndex(storage, { snapshotIndex: 15, catchUpEntries: 5, catchUpBytesMax: 3 * entryBytes })).toBe(12);
    expect(catchUpCompactIndex(storage, { snapshotIndex: 15, catchUpEntries: 5, catchUpBytesMax: entryBytes - 1 })).toBe(15);
    storage.createSnapshotSynchronously(8, { voters: [1], learners: [] }, new Uint8Array(0));
    storage.compactSynchronously(8);
    expect(catchUpCompactIndex(storage, { snapshotIndex: 15, catchUpEntries: 10, catchUpBytesMax: Infinity })).toBe(8);
  });

  it('finishes a transfer whose chunks and acknowledgements are lost now and then, by sending them again', async () => {
    await withNodeThreeBehind(async (cluster) => {
      let transferMessages = 0;
      cluster.network.dropRule = ({ message }) => (message.type === 'snapshot-chunk' || message.type === 'snapshot-chunk-response') && ++transferMessages % 4 === 0;
      await cluster.restart(3);
      await caughtUp(cluster, 3);
      expect(transferMessages).toBeGreaterThan(20);
      expect(await stateAt(cluster, 3)).toEqual(await stateAt(cluster, 1));
    });
  });

  it('gives up a transfer the follower stops answering and sends a new one, which the follower installs', async () => {
    const cluster = await ZoneTestCluster.start(SMALL_SNAPSHOTS);
    try {
      await cluster.crash(3);
      await writeOld(cluster);
      await writeWhileBehind(cluster, 10);
      const started: number[] = [];
      let cut = true;
      cluster.network.dropRule = ({ message }) => {
        if (message.type !== 'snapshot-chunk') return false;
        if (message.chunk === 0 && !started.includes(message.transferId)) started.push(message.transferId);
        // The first transfer loses everything after its third chunk.
        return cut && message.transferId === started[0] && message.chunk >= 3;
      };
      await cluster.restart(3);
      await cluster.waitUntil(() => started.length >= 2, 'a second transfer');
      cut = false;
      await caughtUp(cluster, 3);
      expect(await stateAt(cluster, 3)).toEqual(await stateAt(cluster, 1));
    } finally {
      await cluster.close();
    }
  });

  it('installs a transfer whose last chunk is handled in the same turn as the first chunk of the next transfer', async () => {
    await withNodeThreeBehind(async (cluster) => {
      // The first transfer reaches node 3 but for its last chunk, held back (with its resends) until
      // the leader gives it up and starts the next transfer, whose first chunk is held back too.
      const earlier: SnapshotChunkMessage[] = [];
      const held: SnapshotChunkMessage[] = [];
      let holding = true;
      cluster.network.dropRule = ({ message }) => {
        if (!holding || message.type !== 'snapshot-chunk') return false;
        const first = earlier[0]?.transferId ?? message.transferId;
        if (message.transferId === first && !message.last) {
          earlier.push(message);
          return false;
        }
        held.push(message);
        return true;
      };
      await cluster.restart(3);
      await cluster.waitUntil(() => held.some((message) => message.transferId !== earlier[0]!.transferId), 'a second transfer');
      holding = false;
      const last = held.find((message) => message.transferId === earlier[0]!.transferId)!;
      const next = held.find((message) => message.transferId !== earlier[0]!.transferId)!;
      expect(last.last && next.chunk === 0).toBe(true);
      // Delayed copies: a repeated chunk wakes node 3's loop, and the two held ones queue behind it.
      const transport = cluster.nodes.get(3)!.transport!;
      for (const message of [earlier.at(-1)!, last, next]) transport.deliver(cluster.zoneId, message);
      await caughtUp(cluster, 3);
      expect(await stateAt(cluster, 3)).toEqual(await stateAt(cluster, 1));
    });
  });

  it('refuses chunks whose entries no replica could have stored, and still catches up', async () => {
    await withNodeThreeBehind(async (cluster) => {
      let real: SnapshotChunkMessage | undefined;
      cluster.network.dropRule = ({ message }) => {
        if (message.type !== 'snapshot-chunk' || real !== undefined) return false;
        real = message;
        return true;
      };
      await cluster.restart(3);
      await cluster.waitUntil(() => real !== undefined, 'a transfer to node 3');
      const memberPrefix = [...ZONE_RESERVED_KEY_PREFIX, 0x6e];
      // Well-formed chunks (checksummed, keys in order, in the state's key space) of entries that are
      // not, as a faulty member would send them.
      const forged: { key: Uint8Array; value: Uint8Array }[] = [
        { key: Uint8Array.of(...memberPrefix, 1, 2), value: utf8('member-1') },
        { key: Uint8Array.of(...memberPrefix, 0, 0, 0, 9), value: Uint8Array.of(0) },
        { key: utf8('short-value'), value: Uint8Array.of(1, 2, 3) },
        { key: new Uint8Array(5000).fill(0x61), value: new Uint8Array(9).fill(0x3f) },
      ];
      const transport = cluster.nodes.get(3)!.transport!;
      for (const [position, entry] of forged.entries()) {
        const data = encodeSnapshotChunk({ appliedIndex: real!.snapshot.metadata.index, entries: [entry] });
        transport.deliver(cluster.zoneId, { ...real!, from: 2, transferId: position + 1, chunk: 0, last: true, data });
        await cluster.tick();
        expect(() => cluster.replica(3).throwIfUnusable('read')).not.toThrow();
        if (entry.key.length <= 4096) expect(await cluster.nodes.get(3)!.store.get(entry.key)).toBeUndefined();
      }
      cluster.network.dropRule = undefined;
      await caughtUp(cluster, 3);
      expect(await stateAt(cluster, 3)).toEqual(await stateAt(cluster, 1));
    });
  });

  it('discards a staged transfer whose snapshot the state is already past, rather than keeping its copy of the state', async () => {
    const store = await openKvStore(new MemoryStorageFile());
    try {
      const machine = await ZoneStateMachine.open(store);
      machine.recordMember(5, 1, { address: 'node-1' }, false);
      await machine.flush();
      // A transfer staged whole for a snapshot at 3: the state got to 5 through an earlier, further one.
      const transfer = { from: 2, term: 1, transferId: 1, snapshotIndex: 3, snapshotTerm: 1, chunkCount: 1, complete: true };
      await machine.stageChunk(transfer, encodeSnapshotChunk({ appliedIndex: 3, entries: [] }), undefined);
      await machine.installSnapshot({ metadata: { index: 3, term: 1, confState: { voters: [1], learners: [] } }, data: encodeStoredStateSnapshot() });
      expect(machine.appliedIndex).toBe(5);
      expect(await machine.stagedTransfer()).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('holds reads while an install replaces the state, and serves them the installed state', async () => {
    let holding = false;
    let installCommits = 0;
    const held: (() => void)[] = [];
    const cluster = await ZoneTestCluster.start({
      ...SMALL_SNAPSHOTS,
      consistency: 'eventual',
      // Node 3's second commit of user keys (the install's) waits, with the install half done.
      wrapStore: (nodeId, store) =>
        nodeId !== 3
          ? store
          : new Proxy(store, {
              get: (target, property) => {
                if (property === 'commit') {
                  return async (...args: Parameters<KvStore['commit']>) => {
                    if (holding && args[0].some((operation) => !isReservedKey(operation.key)) && ++installCommits >= 2) {
                      await new Promise<void>((resume) => held.push(resume));
                    }
                    return await target.commit(...args);
                  };
                }
                const value: unknown = Reflect.get(target, property, target);
                return typeof value === 'function' ? value.bind(target) : value;
              },
            }),
    });
    try {
      await writeOld(cluster);
      await caughtUp(cluster, 3);
      await cluster.crash(3);
      await writeWhileBehind(cluster, 10);
      const expected = await stateAt(cluster, 1);
      holding = true;
      await cluster.restart(3);
      await cluster.waitUntil(() => held.length > 0, 'the install to be under way');
      let read: Map<string, string> | undefined;
      const reading = stateAt(cluster, 3).then((state) => (read = state));
      await cluster.tick(5);
      expect(read).toBeUndefined();
      holding = false;
      for (const resume of held.splice(0)) resume();
      await reading;
      expect(read).toEqual(expected);
    } finally {
      holding = false;
      for (const resume of held.splice(0)) resume();
      await cluster.close();
    }
  });

  it('keeps staging the transfer under way when a late first chunk of an earlier term arrives', async () => {
    const events: string[] = [];
    const answers: string[] = [];
    const receiver = new SnapshotReceiver({
      send: (message) => {
        if (message.type === 'snapshot-chunk-response') answers.push(`${message.term}.${message.transferId}.${message.chunk}${message.reject ? ' rejected' : ''}`);
      },
      stageChunk: async (transfer) => {
        events.push(`stage ${transfer.term}.${transfer.transferId}.${transfer.chunkCount - 1}`);
        return undefined;
      },
      stagingResumePoint: async () => undefined,
      discardStaging: async () => {
        events.push('discard');
      },
      stepSnapshot: () => events.push('step'),
    });
    const snapshot = { metadata: { index: 9, term: 2, confState: { voters: [1, 2, 3], learners: [] } }, data: encodeStoredStateSnapshot() };
    const chunk = (from: number, term: number, transferId: number, number: number): SnapshotChunkMessage =>
      ({ type: 'snapshot-chunk', from, to: 3, term, transferId, snapshot, chunk: number, last: false, data: new Uint8Array(0) });
    // Node 2 leads in term 5; a copy of deposed leader 1's first chunk (term 4) comes late.
    for (const message of [chunk(2, 5, 1, 0), chunk(1, 4, 7, 0), chunk(2, 5, 1, 1)]) {
      receiver.accept(message);
      await receiver.process();
    }
    expect(events).toEqual(['discard', 'stage 5.1.0', 'stage 5.1.1']);
    expect(answers).toEqual(['5.1.0', '5.1.1']);
  });

  it('refuses a staged transfer record of more chunks than a transfer may have, rather than looping over them', async () => {
    const store = await openKvStore(new MemoryStorageFile());
    try {
      const record = new Uint8Array(1 + 6 * 8 + 1);
      const view = new DataView(record.buffer);
      record[0] = 1;
      for (const [position, value] of [2, 1, 1, 3, 1, SNAPSHOT_CHUNKS_MAX + 1].entries()) view.setFloat64(1 + position * 8, value);
      await store.commit([{ type: 'put', key: Uint8Array.of(...ZONE_RESERVED_KEY_PREFIX, 0x53), value: record }]);
      const machine = await ZoneStateMachine.open(store);
      await expect(machine.stagedTransfer()).rejects.toMatchObject({ code: 'ECORRUPT' });
    } finally {
      await store.close();
    }
  });

  it('releases the state a leader pinned for a transfer once it stops leading', async () => {
    let pinned = 0;
    const countPins = (store: KvStore): KvStore =>
      new Proxy(store, {
        get: (target, property) => {
          if (property === 'snapshot') {
            return () => {
              const snapshot = target.snapshot();
              pinned++;
              let released = false;
              const release = (): void => {
                if (!released) pinned--;
                released = true;
                snapshot.release();
              };
              return new Proxy(snapshot, {
                get: (inner, name) => {
                  if (name === 'release') return release;
                  const value: unknown = Reflect.get(inner, name, inner);
                  return typeof value === 'function' ? value.bind(inner) : value;
                },
              });
            };
          }
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const cluster = await ZoneTestCluster.start({ ...SMALL_SNAPSHOTS, wrapStore: (nodeId, store) => (nodeId === 1 ? countPins(store) : store) });
    try {
      await writeOld(cluster);
      await cluster.crash(3);
      await writeWhileBehind(cluster, 10);
      // Node 3 never acknowledges: the transfer stays under way, its state pinned.
      cluster.network.dropRule = ({ message }) => message.type === 'snapshot-chunk-response';
      await cluster.restart(3);
      await cluster.waitUntil(() => pinned > 0, 'a transfer from node 1');
      await cluster.drive(cluster.replica(1).transferLeadership(2), 'leadership to node 2');
      // Well before the transfer would be given up for want of answers (SNAPSHOT_CHUNK_RESEND_TICKS each).
      await cluster.tick(2);
      expect(pinned).toBe(0);
      cluster.network.dropRule = undefined;
      await caughtUp(cluster, 3, 2);
      expect(await stateAt(cluster, 3)).toEqual(await stateAt(cluster, 2));
    } finally {
      await cluster.close();
    }
  });

  it('refuses a damaged chunk', () => {
    const data = encodeSnapshotChunk({ appliedIndex: 7, entries: [{ key: utf8('a'), value: utf8('b') }] });
    expect(decodeSnapshotChunk(data).entries.map((entry) => decoder.decode(entry.key))).toEqual(['a']);
    const damaged = data.slice();
    damaged[damaged.length - 6]! ^= 1;
    expect(() => decodeSnapshotChunk(damaged)).toThrow(expect.objectContaining({ code: 'ECORRUPT' }));
  });
});

/**
 * Counts the commits of a store once armed, and holds the `crashAt`-th one (and all after it),
 * taking the store's file image just before it: what a crash at that moment leaves.
 */
class CommitCounter {
  armed = false;
  count = 0;
  crashAt = Number.POSITIVE_INFINITY;
  image: Uint8Array | undefined;
  private readonly held: (() => void)[] = [];

  constructor(private readonly takeImage: () => Uint8Array) {}

  wrap(store: KvStore): KvStore {
    return new Proxy(store, {
      get: (target, property) => {
        if (property === 'commit') {
          return async (...args: Parameters<KvStore['commit']>) => {
            if (this.armed) this.count++;
            if (this.armed && this.count >= this.crashAt) {
              this.image ??= this.takeImage();
              await new Promise<void>((resume) => this.held.push(resume));
            }
            return await target.commit(...args);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** Lets the held commits reach the abandoned store (after the image was taken), so the crashed replica can stop. */
  release(): void {
    this.armed = false;
    for (const resume of this.held.splice(0)) resume();
  }
}

describe('zone snapshots: a crash at every commit of a catch-up through a snapshot', () => {
  /**
   * Node 3 falls behind a compaction, restarts and is sent the state; its store is crashed before
   * its k-th commit since that restart (staging a chunk, Raft persisting the snapshot, each install
   * commit, the applied index, discarding the staging), for every k. It must restart from what
   * its file kept and reach the leader's state: never a mix, nothing acknowledged lost.
   */
  async function catchUpCrashingAt(crashAt: number): Promise<{ commits: number; crashed: boolean }> {
    let wrapNext = false;
    let counter: CommitCounter | undefined;
    const cluster: ZoneTestCluster = await ZoneTestCluster.start({
      ...SMALL_SNAPSHOTS,
      wrapStore: (nodeId, store) => {
        if (nodeId !== 3 || !wrapNext) return store;
        wrapNext = false;
        counter = new CommitCounter(() => cluster.nodes.get(3)!.file.image());
        return counter.wrap(store);
      },
    });
    try {
      await writeOld(cluster);
      await caughtUp(cluster, 3);
      await cluster.crash(3);
      await writeWhileBehind(cluster, 10);
      const expected = await stateAt(cluster, 1);
      const target = cluster.replica(1).status().appliedIndex;
      wrapNext = true;
      await cluster.restart(3);
      // Counted from here: the restart's own commits (its incarnation) are not part of the catch-up.
      counter!.crashAt = crashAt;
      counter!.armed = true;
      await cluster.waitUntil(() => counter!.image !== undefined || cluster.replica(3).status().appliedIndex >= target, 'node 3 to catch up or reach the crash');
      const commits = counter!.count;
      const image = counter!.image;
      if (image !== undefined) {
        const crashed = cluster.crash(3, image);
        counter!.release();
        await crashed;
        await cluster.restart(3);
        await caughtUp(cluster, 3);
      }
      expect(await stateAt(cluster, 3)).toEqual(expected);
      return { commits, crashed: image !== undefined };
    } finally {
      counter?.release();
      await cluster.close();
    }
  }

  it('restarts correctly and catches up after a crash before any commit of the catch-up', async () => {
    const { commits, crashed } = await catchUpCrashingAt(Number.POSITIVE_INFINITY);
    expect(crashed).toBe(false);
    // Staging, persisting and installing many chunks takes many commits; crash before each.
    expect(commits).toBeGreaterThan(20);
    for (let crashAt = 1; crashAt <= commits; crashAt++) {
      const { crashed: crashedThere } = await catchUpCrashingAt(crashAt);
      expect({ crashAt, crashed: crashedThere }).toEqual({ crashAt, crashed: true });
    }
  }, 120_000);
});

/** A crash-simulating file that the cluster can also copy as it is (its live bytes). */
class RecordingFile extends CrashStorageFile {
  image(): Uint8Array {
    return this.liveImage();
  }
}

/** Crash images taken across one catch-up: spread over its file events. */
const CRASH_IMAGES = 40;

describe('zone snapshots: crash images of a catch-up, with unsynced writes lost, kept or torn', () => {
  /**
   * Node 3 catches up through a snapshot on a file that records every write and sync; then it is
   * restarted, again and again, from what a power failure after one of those events could have
   * left (everything synced by then, every later write lost, kept or torn at a sector boundary, in
   * any order). Nodes 1 and 2 make every commit, so node 3 going back in time breaks no promise the
   * zone depends on; but the leader remembers how far node 3 had come, so leadership moves between
   * 1 and 2 while node 3 is down: its new leader starts from what node 3 says. Each time node 3 must
   * open and reach the leader's state.
   */
  it('restarts from each image and reaches the leader\'s state', async () => {
    const cluster = await ZoneTestCluster.start(SMALL_SNAPSHOTS);
    try {
      await writeOld(cluster);
      await caughtUp(cluster, 3);
      await cluster.crash(3);
      await writeWhileBehind(cluster, 10);
      const expected = await stateAt(cluster, 1);
      const file = new RecordingFile(cluster.nodes.get(3)!.file.image());
      await cluster.restart(3, file);
      await caughtUp(cluster, 3);
      await cluster.crash(3);
      const events = file.eventCount;
      expect(file.events.filter((event) => event.kind === 'sync').length).toBeGreaterThan(3);
      let lostOrTorn = 0;
      for (let point = 0; point <= CRASH_IMAGES; point++) {
        const afterEvent = Math.round((point * events) / CRASH_IMAGES);
        const image = file.crashImage(afterEvent, afterEvent);
        lostOrTorn += image.outcomes.filter((outcome) => outcome.fate !== 'kept').length;
        await cluster.crash(3, image.bytes);
        const leader = cluster.leaderId()!;
        await cluster.drive(cluster.replica(leader).transferLeadership(leader === 1 ? 2 : 1), 'a leadership transfer');
        await cluster.restart(3);
        await caughtUp(cluster, 3, cluster.leaderId());
        expect({ afterEvent, state: await stateAt(cluster, 3) }).toEqual({ afterEvent, state: expected });
      }
      expect(lostOrTorn).toBeGreaterThan(0);
    } finally {
      await cluster.close();
    }
  }, 120_000);
});
