import { describe, expect, it } from 'vitest';
import { NODE_PUBLIC_KEY_BYTES, PROMOTION_LAG_ENTRIES_MAX } from '../../kernel/zone/constants.ts';
import { ZoneTestCluster, valueAt, withCluster } from './zone-cluster.ts';

const encoder = new TextEncoder();
const utf8 = (text: string): Uint8Array => encoder.encode(text);
const address = (nodeId: number): string => ZoneTestCluster.address(nodeId);

function memberAt(cluster: ZoneTestCluster, at: number, nodeId: number) {
  return cluster.replica(at).status().members.find((member) => member.nodeId === nodeId);
}

/**
 * Node 4 catches up as an explicit learner (so its progress at the leader is `replicate`), is cut
 * off while node 1 commits `writes` more writes, then is added as a voter: a learner whose
 * promotion is pending, that many entries behind.
 */
async function joinCutOffLearner(cluster: ZoneTestCluster, writes: number): Promise<void> {
  await cluster.openNode(4, { peers: [1, 2, 3].map((nodeId) => ({ nodeId, address: address(nodeId) })) });
  await cluster.drive(cluster.replica(1).addMember({ nodeId: 4, address: address(4) }, { role: 'learner' }));
  await cluster.waitUntil(() => memberAt(cluster, 1, 4)?.lagEntries === 0, 'node 4 to catch up as a learner');
  cluster.network.isolate(address(4));
  const puts = Array.from({ length: writes }, (_, write) => cluster.replica(1).metastore.put(utf8(`k${write}`), utf8('v')));
  await cluster.drive(Promise.all(puts), 'the writes');
  await cluster.drive(cluster.replica(1).addMember({ nodeId: 4, address: address(4) }, { waitForPromotion: false }));
}

describe('zone membership: a new voter joins as a learner first', () => {
  it('a 1-node zone keeps committing while the newcomer is partitioned away, then promotes it once it has caught up', async () => {
    await withCluster({ nodeIds: [1], requestTimeoutTicks: 30 }, async (cluster) => {
      await cluster.openNode(2, { peers: [{ nodeId: 1, address: address(1) }] });
      cluster.network.isolate(address(2));
      const join = cluster.replica(1).addMember({ nodeId: 2, address: address(2) });
      join.catch(() => {});
      await cluster.waitUntil(() => memberAt(cluster, 1, 2) !== undefined, 'node 2 to be a member');
      expect(memberAt(cluster, 1, 2)).toMatchObject({ role: 'learner', promotionPending: true });
      // A second voter would make the quorum 2 of 2: with node 2 away, nothing would commit.
      const versions: number[] = [];
      for (let write = 0; write < 5; write++) versions.push(await cluster.drive(cluster.replica(1).metastore.put(utf8(`k${write}`), utf8(`v${write}`))));
      expect(versions).toHaveLength(5);
      // The join reports a retryable timeout and leaves the learner in place.
      await expect(cluster.drive(join)).rejects.toMatchObject({ code: 'EBUSY' });
      expect(memberAt(cluster, 1, 2)).toMatchObject({ role: 'learner', promotionPending: true });

      cluster.network.heal();
      // A retry waits for the promotion, which the leader makes once node 2 has caught up.
      await cluster.drive(cluster.replica(1).addMember({ nodeId: 2, address: address(2) }), 'the retried join');
      expect(memberAt(cluster, 1, 2)).toMatchObject({ role: 'voter', promotionPending: false });
      await cluster.waitUntil(() => memberAt(cluster, 2, 2)?.role === 'voter', 'node 2 to apply its promotion');
      expect(await valueAt(cluster, 2, 'k4')).toBe('v4');
      // Both voters now: with node 2 away, a write no longer commits.
      cluster.network.isolate(address(2));
      const stalled = cluster.replica(1).metastore.put(utf8('stalled'), utf8('x'));
      await expect(cluster.drive(stalled)).rejects.toMatchObject({ code: 'EBUSY' });
      // Adding a voter again changes nothing.
      await cluster.replica(1).addMember({ nodeId: 2, address: address(2) });
    });
  });

  it('a join whose newcomer never comes up costs no availability, and a retry adds nothing twice', async () => {
    await withCluster({ requestTimeoutTicks: 30 }, async (cluster) => {
      await expect(cluster.drive(cluster.replica(1).addMember({ nodeId: 4, address: address(4) }))).rejects.toMatchObject({
        code: 'EBUSY',
        message: expect.stringContaining('node 4 is a learner and was not promoted'),
      });
      await expect(cluster.drive(cluster.replica(1).addMember({ nodeId: 4, address: address(4) }))).rejects.toMatchObject({ code: 'EBUSY' });
      expect(cluster.replica(1).status().members.map(({ nodeId, role }) => ({ nodeId, role }))).toEqual([
        { nodeId: 1, role: 'voter' },
        { nodeId: 2, role: 'voter' },
        { nodeId: 3, role: 'voter' },
        { nodeId: 4, role: 'learner' },
      ]);
      // With node 3 away too, two voters of three still commit (two of four would not).
      cluster.network.isolate(address(3));
      expect(await cluster.drive(cluster.replica(1).metastore.put(utf8('still'), utf8('available')))).toBeGreaterThan(0);
      expect(memberAt(cluster, 1, 4)).toMatchObject({ role: 'learner', promotionPending: true });
    });
  });

  it('a new leader finishes a promotion its predecessor left pending', async () => {
    await withCluster({ requestTimeoutTicks: 30 }, async (cluster) => {
      // Given every member, as `nexus zone join` is: it must answer whichever replica leads.
      await cluster.openNode(4, { peers: [1, 2, 3].map((nodeId) => ({ nodeId, address: address(nodeId) })) });
      cluster.network.isolate(address(4));
      await cluster.drive(cluster.replica(1).addMember({ nodeId: 4, address: address(4) }, { waitForPromotion: false }));
      expect(memberAt(cluster, 1, 4)).toMatchObject({ role: 'learner', promotionPending: true });
      await cluster.waitUntil(() => memberAt(cluster, 2, 4)?.promotionPending === true, 'node 2 to apply the learner');

      // The leader goes away before node 4 catches up; node 2 takes over, then node 4 comes back.
      cluster.network.heal();
      cluster.network.isolate(address(1));
      await cluster.elect(2);
      await cluster.waitUntil(() => memberAt(cluster, 2, 4)?.role === 'voter', 'the new leader to promote node 4');
      expect(memberAt(cluster, 2, 4)).toMatchObject({ promotionPending: false, lagEntries: 0 });
      await cluster.waitUntil(() => memberAt(cluster, 3, 4)?.role === 'voter', 'node 3 to apply the promotion');
    });
  });

  it('a pending promotion travels in snapshots: a replica that caught up by snapshot promotes the learner once it leads', async () => {
    await withCluster({ requestTimeoutTicks: 30, snapshotIntervalEntries: 4 }, async (cluster) => {
      await cluster.openNode(4, { peers: [1, 2, 3].map((nodeId) => ({ nodeId, address: address(nodeId) })) });
      cluster.network.isolate(address(3));
      cluster.network.isolate(address(4));
      await cluster.drive(cluster.replica(1).addMember({ nodeId: 4, address: address(4) }, { waitForPromotion: false }));
      for (let write = 0; write < 10; write++) await cluster.drive(cluster.replica(1).metastore.put(utf8(`k${write}`), utf8('v')));
      // Node 3 was away when node 4 was added, and the log up to the writes is compacted.
      cluster.network.heal();
      cluster.network.isolate(address(4));
      const applied = cluster.replica(1).status().appliedIndex;
      await cluster.waitUntil(() => cluster.replica(3).status().appliedIndex >= applied, 'node 3 to catch up');
      expect(cluster.replica(3).status().snapshotIndex).toBeGreaterThan(0);
      expect(memberAt(cluster, 3, 4)).toMatchObject({ role: 'learner', promotionPending: true });
      await cluster.drive(cluster.replica(1).transferLeadership(3));
      cluster.network.heal();
      await cluster.waitUntil(() => memberAt(cluster, 3, 4)?.role === 'voter', 'node 3 to promote node 4');
    });
  });

  it('a pending promotion survives a restart of every replica', async () => {
    await withCluster({ requestTimeoutTicks: 30 }, async (cluster) => {
      await cluster.drive(cluster.replica(1).addMember({ nodeId: 4, address: address(4) }, { waitForPromotion: false }));
      await cluster.waitUntil(() => [2, 3].every((nodeId) => memberAt(cluster, nodeId, 4)?.promotionPending === true), 'every replica to apply the learner');
      await cluster.close();
      await cluster.reopen(2);
      // The membership comes back as the log is applied again; the promotion record from the store.
      await cluster.waitUntil(() => [1, 2, 3].every((nodeId) => memberAt(cluster, nodeId, 4) !== undefined), 'every replica to apply the log again');
      for (const nodeId of [1, 2, 3]) expect(memberAt(cluster, nodeId, 4)).toMatchObject({ role: 'learner', promotionPending: true });
    });
  });

  it('at the leader, a join refused because another membership change is under way is proposed again at the next tick', async () => {
    await withCluster({ requestTimeoutTicks: 30 }, async (cluster) => {
      // Both address records commit together, then both learners are proposed in one turn: Raft
      // takes one membership change at a time and refuses the second.
      const joins = [4, 5].map((nodeId) => cluster.replica(1).addMember({ nodeId, address: address(nodeId) }, { waitForPromotion: false }));
      await cluster.drive(Promise.all(joins), 'both joins');
      expect(cluster.replica(1).status().members.map(({ nodeId, role }) => `${nodeId} ${role}`)).toEqual(['1 voter', '2 voter', '3 voter', '4 learner', '5 learner']);
    });
  });

  it('an explicit learner stays one, and adding it as a voter later promotes it', async () => {
    await withCluster({ requestTimeoutTicks: 30 }, async (cluster) => {
      await cluster.openNode(4, { peers: [{ nodeId: 1, address: address(1) }] });
      await cluster.drive(cluster.replica(1).addMember({ nodeId: 4, address: address(4) }, { role: 'learner' }));
      await cluster.tick(20);
      expect(memberAt(cluster, 1, 4)).toMatchObject({ role: 'learner', promotionPending: false, lagEntries: 0 });
      await cluster.drive(cluster.replica(1).addMember({ nodeId: 4, address: address(4) }));
      expect(memberAt(cluster, 1, 4)).toMatchObject({ role: 'voter', promotionPending: false });
    });
  });

  it(`a learner more than PROMOTION_LAG_ENTRIES_MAX (${PROMOTION_LAG_ENTRIES_MAX}) entries behind is not promoted, and is once it catches up`, async () => {
    await withCluster({ requestTimeoutTicks: 30 }, async (cluster) => {
      await joinCutOffLearner(cluster, PROMOTION_LAG_ENTRIES_MAX + 20);
      expect(memberAt(cluster, 1, 4)!.lagEntries).toBeGreaterThan(PROMOTION_LAG_ENTRIES_MAX);
      // The leader checks at every tick; the learner stays one however long it is behind.
      await cluster.tick(50);
      expect(memberAt(cluster, 1, 4)).toMatchObject({ role: 'learner', promotionPending: true });

      cluster.network.heal();
      await cluster.waitUntil(() => memberAt(cluster, 1, 4)?.role === 'voter', 'the leader to promote node 4');
      expect(memberAt(cluster, 1, 4)).toMatchObject({ promotionPending: false });
      expect(memberAt(cluster, 1, 4)!.lagEntries).toBeLessThanOrEqual(PROMOTION_LAG_ENTRIES_MAX);
      expect(await valueAt(cluster, 4, `k${PROMOTION_LAG_ENTRIES_MAX + 19}`)).toBe('v');
    });
  });

  it(`a learner within PROMOTION_LAG_ENTRIES_MAX entries of the leader is promoted before it has caught up`, async () => {
    await withCluster({ requestTimeoutTicks: 30 }, async (cluster) => {
      await joinCutOffLearner(cluster, PROMOTION_LAG_ENTRIES_MAX - 20);
      expect(memberAt(cluster, 1, 4)!.lagEntries).toBeGreaterThan(0);
      // Still cut off: promoted on the leader's view of its progress alone.
      await cluster.waitUntil(() => memberAt(cluster, 1, 4)?.role === 'voter', 'the leader to promote node 4');
      expect(memberAt(cluster, 1, 4)!.lagEntries).toBeGreaterThan(PROMOTION_LAG_ENTRIES_MAX - 30);
    });
  });

  it('records a member\'s public key on every replica, through snapshots and restarts, and refuses it for that node id with another key', async () => {
    await withCluster({ requestTimeoutTicks: 30, snapshotIntervalEntries: 4, snapshotCatchUpEntries: 0 }, async (cluster) => {
      const publicKey = new Uint8Array(NODE_PUBLIC_KEY_BYTES).fill(7);
      await cluster.openNode(4, { peers: [1, 2, 3].map((nodeId) => ({ nodeId, address: address(nodeId) })) });
      cluster.network.isolate(address(3));
      await cluster.drive(cluster.replica(1).addMember({ nodeId: 4, address: address(4), publicKey }));
      for (let write = 0; write < 10; write++) await cluster.drive(cluster.replica(1).metastore.put(utf8(`k${write}`), utf8('v')));
      // Node 3 was away: it learns node 4's record from a snapshot.
      cluster.network.heal();
      const applied = cluster.replica(1).status().appliedIndex;
      await cluster.waitUntil(() => cluster.replica(3).status().appliedIndex >= applied, 'node 3 to catch up');
      expect(cluster.replica(3).status().snapshotIndex).toBeGreaterThan(1);
      for (const nodeId of [1, 2, 3, 4]) expect(memberAt(cluster, nodeId, 4)).toMatchObject({ address: address(4), publicKey });
      expect(memberAt(cluster, 1, 2)!.publicKey).toBeUndefined();
      await cluster.crash(3);
      await cluster.restart(3);
      expect(memberAt(cluster, 3, 4)).toMatchObject({ publicKey });
      const other = new Uint8Array(NODE_PUBLIC_KEY_BYTES).fill(8);
      await expect(cluster.replica(1).addMember({ nodeId: 4, address: address(4), publicKey: other })).rejects.toMatchObject({ code: 'EEXIST' });
      await expect(cluster.replica(1).addMember({ nodeId: 5, address: address(5), publicKey: new Uint8Array(31) })).rejects.toMatchObject({ code: 'EINVAL' });
    });
  });
});
