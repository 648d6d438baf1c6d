import { describe, expect, it } from 'vitest';
import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import { KvRaftStorage } from '../../kernel/raft/kv-raft-storage.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { NODE_PUBLIC_KEY_BYTES, ZONE_RAFT_KEY_PREFIX, ZONE_RESERVED_KEY_PREFIX } from '../../kernel/zone/constants.ts';
import { RemovedError } from '../../kernel/zone/errors.ts';
import { ZoneTestCluster, valueAt, withCluster } from './zone-cluster.ts';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Ticks past two election timeouts at the most (ELECTION_TIMEOUT_TICKS_DEFAULT is 10): a running replica campaigns by then. */
const QUIET_TICKS = 50;

/** Records every message `nodeId` sends from now on. */
function tapSender(cluster: ZoneTestCluster, nodeId: NodeId): ZoneMessage[] {
  const sent: ZoneMessage[] = [];
  const address = ZoneTestCluster.address(nodeId);
  cluster.network.dropRule = (delivery) => {
    if (delivery.fromAddress === address) sent.push(delivery.message);
    return false;
  };
  return sent;
}

/** Asserts that `nodeId`'s replica has stopped for its removal: silent across ticks, refusing requests, saying so. */
async function expectStopped(cluster: ZoneTestCluster, nodeId: NodeId): Promise<void> {
  const replica = cluster.replica(nodeId);
  await replica.removal;
  const before = replica.status();
  expect(before).toMatchObject({ removed: true, closed: false });
  expect(before.role).not.toBe('leader');
  const sent = tapSender(cluster, nodeId);
  await cluster.tick(QUIET_TICKS);
  expect(sent).toEqual([]);
  expect(replica.status()).toMatchObject({ term: before.term, role: before.role, removed: true });
  const refused = `node ${nodeId} was removed from zone ${cluster.zoneId}`;
  for (const request of [replica.metastore.put(utf8('k'), utf8('v')), replica.readBarrier(), replica.campaign(), replica.removeMember(nodeId === 1 ? 2 : 1)]) {
    const error = await request.then(() => undefined, (reason: unknown) => reason);
    expect(error).toBeInstanceOf(RemovedError);
    expect(error).toMatchObject({ code: 'ECLOSED' });
    expect((error as Error).message).toContain(refused);
  }
}

/** A write through `nodeId` commits, and `other` reads it. */
async function expectServing(cluster: ZoneTestCluster, nodeId: NodeId, other: NodeId, key: string): Promise<void> {
  const version = await cluster.drive(cluster.replica(nodeId).metastore.put(utf8(key), utf8('served')), `a write at node ${nodeId}`);
  expect(version).toBeGreaterThan(0);
  expect(await valueAt(cluster, other, key)).toBe('served');
}

describe('zone replica: a removed node stops', () => {
  it('a removed follower stops ticking and campaigning, rejects pending and new requests with ECLOSED, says so, and the others serve on', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.replica(1).metastore.put(utf8('before'), utf8('1'));
      // Waits with no deadline: only the removal ends it.
      const pending = cluster.replica(3).waitFor({ zoneId: cluster.zoneId, index: 10_000, term: 2 }).then(() => undefined, (reason: unknown) => reason);
      await cluster.drive(cluster.replica(1).removeMember(3));
      await cluster.drive(cluster.replica(3).removal, 'node 3 to learn its removal');
      expect(await pending).toEqual(new RemovedError('node 3 was removed from zone zone-test'));
      expect(await pending).toBeInstanceOf(RemovedError);
      await expectStopped(cluster, 3);
      cluster.network.dropRule = undefined;
      await expectServing(cluster, 1, 2, 'after');
      expect(cluster.replica(1).status().members.map((member) => member.nodeId)).toEqual([1, 2]);
      expect(cluster.replica(1).status().removed).toBe(false);
      await cluster.replica(3).close();
      expect(cluster.replica(3).status()).toMatchObject({ closed: true, removed: true });
    });
  });

  it('a removed follower that proposes its own removal stops once it applied it', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.drive(cluster.replica(2).removeMember(2));
      await cluster.drive(cluster.replica(2).removal, 'node 2 to stop');
      await expectStopped(cluster, 2);
      cluster.network.dropRule = undefined;
      await expectServing(cluster, 1, 3, 'after');
    });
  });

  it('a leader that removes itself hands leadership over, then stops; the others elect and serve', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.replica(1).metastore.put(utf8('before'), utf8('1'));
      await cluster.drive(cluster.replica(1).removeMember(1));
      await cluster.drive(cluster.replica(1).removal, 'node 1 to hand over and stop');
      await cluster.waitUntil(() => [2, 3].some((nodeId) => cluster.replica(nodeId).status().role === 'leader'), 'a new leader among 2 and 3');
      const leader = [2, 3].find((nodeId) => cluster.replica(nodeId).status().role === 'leader')!;
      await expectStopped(cluster, 1);
      cluster.network.dropRule = undefined;
      await expectServing(cluster, leader, leader === 2 ? 3 : 2, 'after');
      expect(await valueAt(cluster, leader, 'before')).toBe('1');
      expect(cluster.replica(leader).status().members.map((member) => member.nodeId)).toEqual([2, 3]);
    });
  });

  for (const [name, openRaftStorage] of [
    ['MemoryRaftStorage', undefined],
    ['KvRaftStorage', (store: Parameters<typeof KvRaftStorage.open>[0]) => KvRaftStorage.open(store, { keyPrefix: ZONE_RAFT_KEY_PREFIX })],
  ] as const) {
    it(`a removed node restarted from its storage (${name}) stays stopped and says so`, async () => {
      await withCluster(openRaftStorage === undefined ? {} : { openRaftStorage }, async (cluster) => {
        await cluster.drive(cluster.replica(1).removeMember(3));
        await cluster.drive(cluster.replica(3).removal, 'node 3 to learn its removal');
        await cluster.crash(3);
        await cluster.restart(3);
        expect(cluster.replica(3).status().removed).toBe(true);
        await expectStopped(cluster, 3);
        cluster.network.dropRule = undefined;
        await expectServing(cluster, 1, 2, 'after');
      });
    });
  }

  it('a removed node id is never a member again: adding it is refused on every replica, after restarts too', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.drive(cluster.replica(1).removeMember(3));
      await cluster.drive(cluster.replica(3).removal, 'node 3 to learn its removal');
      await cluster.waitUntil(() => [1, 2].every((nodeId) => cluster.replica(nodeId).status().removedNodeIds.includes(3)), 'nodes 1 and 2 to record the removal');
      for (const nodeId of [1, 2]) expect(cluster.replica(nodeId).status().removedNodeIds).toEqual([3]);
      const readd = cluster.replica(1).addMember({ nodeId: 3, address: ZoneTestCluster.address(3) });
      await expect(readd).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('node 3 was removed from it') });
      await cluster.crash(1);
      await cluster.restart(1);
      expect(cluster.replica(1).status().removedNodeIds).toEqual([3]);
      await expect(cluster.replica(1).addMember({ nodeId: 3, address: ZoneTestCluster.address(3) })).rejects.toMatchObject({ code: 'EINVAL' });
      await cluster.elect(2);
      expect(cluster.replica(2).status().members.map((member) => member.nodeId)).toEqual([1, 2]);
      await expectServing(cluster, 2, 1, 'after');
    });
  });

  it('a joining node that restarts before it applied its own addition does not take itself for removed', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.drive(cluster.replica(1).metastore.put(utf8('before'), utf8('1')));
      // Node 4 gets the zone's state (its own membership record in it) but no entry of the log after
      // it, so not the change that makes it a learner: appends it would reject (its log is empty)
      // pass, so the leader sends it the state.
      const address4 = ZoneTestCluster.address(4);
      cluster.network.dropRule = ({ toAddress, message }) => toAddress === address4 && message.type === 'append' && message.entries.length > 0 && message.logIndex <= 1;
      await cluster.openNode(4, { peers: [1, 2, 3].map((nodeId) => ({ nodeId, address: ZoneTestCluster.address(nodeId) })) });
      const join = cluster.replica(1).addMember({ nodeId: 4, address: address4 }, { waitForPromotion: false });
      await cluster.waitUntil(() => cluster.replica(4).status().appliedIndex > 0, 'node 4 to install the zone state');
      expect(cluster.replica(4).status().members.map((member) => member.nodeId)).toEqual([1, 2, 3]);
      await cluster.crash(4);
      await cluster.restart(4);
      expect(cluster.replica(4).status()).toMatchObject({ removed: false, removedNodeIds: [] });
      cluster.network.dropRule = undefined;
      await cluster.drive(join, 'the join');
      await cluster.waitUntil(() => cluster.replica(4).status().members.some((member) => member.nodeId === 4), 'node 4 to apply its own addition');
      expect(cluster.replica(4).status().removed).toBe(false);
      expect(await valueAt(cluster, 4, 'before')).toBe('1');
    });
  });

  it('a restart replays the changes that added and then removed a node, and keeps it out', async () => {
    const openRaftStorage = (store: Parameters<typeof KvRaftStorage.open>[0]) => KvRaftStorage.open(store, { keyPrefix: ZONE_RAFT_KEY_PREFIX });
    await withCluster({ openRaftStorage }, async (cluster) => {
      await cluster.addNode(4);
      await cluster.drive(cluster.replica(1).removeMember(4));
      await cluster.drive(cluster.replica(4).removal, 'node 4 to learn its removal');
      for (const nodeId of [2, 1]) {
        await cluster.crash(nodeId);
        await cluster.restart(nodeId);
      }
      await cluster.waitUntil(() => cluster.leaderId() !== undefined, 'a leader among 1, 2 and 3');
      const leader = cluster.leaderId()!;
      await expectServing(cluster, leader, leader === 1 ? 2 : 1, 'after');
      for (const nodeId of [1, 2, 3]) {
        expect(cluster.replica(nodeId).status().members.map((member) => member.nodeId)).toEqual([1, 2, 3]);
        expect(cluster.replica(nodeId).status().removedNodeIds).toEqual([4]);
      }
    });
  });

  it('a removal records the removed member\'s public key, on every replica, through a snapshot and a restart; a member without one leaves an empty record', async () => {
    await withCluster({ requestTimeoutTicks: 30, snapshotIntervalEntries: 4, snapshotCatchUpEntries: 0 }, async (cluster) => {
      const publicKey = new Uint8Array(NODE_PUBLIC_KEY_BYTES).fill(7);
      const peers = [1, 2, 3].map((nodeId) => ({ nodeId, address: ZoneTestCluster.address(nodeId) }));
      await cluster.openNode(4, { peers });
      await cluster.openNode(5, { peers });
      cluster.network.isolate(ZoneTestCluster.address(3));
      await cluster.drive(cluster.replica(1).addMember({ nodeId: 4, address: ZoneTestCluster.address(4), publicKey }));
      await cluster.drive(cluster.replica(1).removeMember(4));
      await cluster.drive(cluster.replica(1).addMember({ nodeId: 5, address: ZoneTestCluster.address(5) }, { role: 'learner' }));
      await cluster.drive(cluster.replica(1).removeMember(5));
      for (let write = 0; write < 10; write++) await cluster.drive(cluster.replica(1).metastore.put(utf8(`k${write}`), utf8('v')));
      // Node 3 was away: it learns both removals from a snapshot.
      cluster.network.heal();
      const applied = cluster.replica(1).status().appliedIndex;
      await cluster.waitUntil(() => cluster.replica(3).status().appliedIndex >= applied, 'node 3 to catch up');
      expect(cluster.replica(3).status().snapshotIndex).toBeGreaterThan(1);
      await cluster.crash(3);
      await cluster.restart(3);
      for (const nodeId of [1, 3]) {
        expect(cluster.replica(nodeId).status().removedNodeIds).toEqual([4, 5]);
        expect((await cluster.nodes.get(nodeId)!.store.get(removalKey(4)))?.value).toEqual(publicKey);
        expect((await cluster.nodes.get(nodeId)!.store.get(removalKey(5)))?.value).toEqual(new Uint8Array(0));
      }
    });
  });
});

/** The key of a node's removal record (zone-state-machine.ts: R 'd' + u32 node id). */
function removalKey(nodeId: NodeId): Uint8Array {
  const key = Uint8Array.of(...ZONE_RESERVED_KEY_PREFIX, 0x64, 0, 0, 0, 0);
  new DataView(key.buffer).setUint32(key.length - 4, nodeId);
  return key;
}
