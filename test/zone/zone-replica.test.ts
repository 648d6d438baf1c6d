import { describe, expect, it } from 'vitest';
import { ZONE_RAFT_KEY_PREFIX, ZONE_RESERVED_KEY_PREFIX } from '../../kernel/zone/constants.ts';
import { ZoneTestCluster, valueAt, withCluster } from './zone-cluster.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const utf8 = (text: string): Uint8Array => encoder.encode(text);

describe('zone replica: leader failure', () => {
  it('elects a new leader when the leader is partitioned away, and loses no acknowledged write', async () => {
    await withCluster({}, async (cluster) => {
      const acknowledged = await cluster.replica(1).metastore.put(utf8('before'), utf8('1'));
      cluster.network.isolate(ZoneTestCluster.address(1));
      await cluster.waitUntil(() => [2, 3].some((id) => cluster.replica(id).status().role === 'leader'), 'a new leader among 2 and 3');
      const newLeader = [2, 3].find((id) => cluster.replica(id).status().role === 'leader')!;
      expect(cluster.replica(newLeader).status().term).toBeGreaterThan(2);
      const during = await cluster.drive(cluster.replica(newLeader).metastore.put(utf8('during'), utf8('2')));
      expect(during).toBeGreaterThan(acknowledged);
      cluster.network.heal();
      await cluster.waitUntil(() => cluster.replica(1).status().leader === newLeader && cluster.replica(1).status().appliedIndex >= during, 'node 1 to follow');
      for (const nodeId of [1, 2, 3]) {
        expect(await valueAt(cluster, nodeId, 'before')).toBe('1');
        expect(await valueAt(cluster, nodeId, 'during')).toBe('2');
      }
    });
  });

  it('fails a write through the isolated old leader with a retryable EBUSY once it times out', async () => {
    await withCluster({ requestTimeoutTicks: 30 }, async (cluster) => {
      cluster.network.isolate(ZoneTestCluster.address(1));
      const write = cluster.replica(1).metastore.put(utf8('lost?'), utf8('x'));
      await expect(cluster.drive(write)).rejects.toMatchObject({ code: 'EBUSY' });
    });
  });

  it('hands leadership to a chosen voter', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.drive(cluster.replica(1).transferLeadership(3));
      expect(cluster.replica(3).status().role).toBe('leader');
      expect(await cluster.drive(cluster.replica(3).metastore.put(utf8('k'), utf8('v')))).toBeGreaterThan(0);
    });
  });
});

describe('zone replica: restart and catch-up', () => {
  it('catches a restarted node up through the log', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.replica(1).metastore.put(utf8('a'), utf8('1'));
      await cluster.crash(3);
      for (let index = 0; index < 5; index++) await cluster.replica(1).metastore.put(utf8(`k${index}`), utf8(`v${index}`));
      await cluster.restart(3);
      const leaderApplied = cluster.replica(1).status().appliedIndex;
      await cluster.waitUntil(() => cluster.replica(3).status().appliedIndex >= leaderApplied, 'node 3 to catch up');
      expect(cluster.replica(3).status().snapshotIndex).toBe(1);
      expect(await valueAt(cluster, 3, 'k4')).toBe('v4');
    });
  });

  it('catches a restarted node up through a snapshot once the log is compacted', async () => {
    await withCluster({ snapshotIntervalEntries: 4 }, async (cluster) => {
      await cluster.crash(3);
      const versions: number[] = [];
      for (let index = 0; index < 12; index++) versions.push(await cluster.replica(1).metastore.put(utf8(`k${index}`), utf8(`v${index}`)));
      const leader = cluster.replica(1).status();
      expect(leader.snapshotIndex).toBeGreaterThan(1);
      await cluster.restart(3);
      await cluster.waitUntil(() => cluster.replica(3).status().appliedIndex >= leader.appliedIndex, 'node 3 to install the snapshot');
      expect(cluster.replica(3).status().snapshotIndex).toBeGreaterThan(1);
      const page = await cluster.drive(cluster.replica(3).metastore.scan({ prefix: utf8('k') }));
      expect(page.entries.map((entry) => entry.version).sort((a, b) => a - b)).toEqual(versions);
      expect(page.entries.map((entry) => decoder.decode(entry.key)).sort()).toEqual(versions.map((_, index) => `k${index}`).sort());
      for (const entry of page.entries) expect(decoder.decode(entry.value)).toBe(`v${decoder.decode(entry.key).slice(1)}`);
    });
  });

  it('applies each entry exactly once across a crash: a restart re-applies nothing', async () => {
    await withCluster({}, async (cluster) => {
      for (let index = 0; index < 4; index++) await cluster.replica(1).metastore.put(utf8(`k${index}`), utf8(`v${index}`));
      await cluster.waitUntil(() => cluster.replica(2).status().appliedIndex === cluster.replica(1).status().appliedIndex, 'node 2 to apply');
      const applied = cluster.replica(2).status().appliedIndex;
      const commitsBefore = (await cluster.nodes.get(2)!.store.stats()).lastVersion;
      await cluster.crash(2);
      await cluster.restart(2);
      await cluster.tick(3);
      expect(cluster.replica(2).status().appliedIndex).toBe(applied);
      // The only KvStore commit since the crash is the incarnation bump of the restart.
      expect((await cluster.nodes.get(2)!.store.stats()).lastVersion).toBe(commitsBefore + 1);
      expect(await valueAt(cluster, 2, 'k3')).toBe('v3');
    });
  });
});

describe('zone replica: membership', () => {
  it('adds a node with its address, which every member learns, then removes it', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.replica(1).metastore.put(utf8('old'), utf8('data'));
      await cluster.addNode(4);
      // Followers learn a commit with the next append or heartbeat (lazy commit propagation).
      const leaderApplied = cluster.replica(1).status().appliedIndex;
      await cluster.waitUntil(() => [2, 3, 4].every((nodeId) => cluster.replica(nodeId).status().appliedIndex >= leaderApplied), 'every member to catch up');
      for (const nodeId of [1, 2, 3, 4]) {
        const members = cluster.replica(nodeId).status().members;
        expect(members.map(({ nodeId: id, address, role }) => ({ id, address, role }))).toEqual(
          [1, 2, 3, 4].map((id) => ({ id, address: ZoneTestCluster.address(id), role: 'voter' })),
        );
      }
      expect(cluster.nodes.get(2)!.transport!.peerAddress(cluster.zoneId, 4)).toBe('memory:node-4');
      expect(await valueAt(cluster, 4, 'old')).toBe('data');
      const leaderStatus = cluster.replica(1).status();
      expect(leaderStatus.members.find((member) => member.nodeId === 4)).toMatchObject({ matchIndex: leaderStatus.commitIndex, lagEntries: 0 });

      await cluster.drive(cluster.replica(1).removeMember(4));
      await cluster.waitUntil(() => cluster.replica(2).status().members.length === 3, 'node 2 to apply the removal');
      expect(cluster.replica(1).status().members.map((member) => member.nodeId)).toEqual([1, 2, 3]);
      // The transports forget it REMOVAL_NOTICE_TICKS later, once the leader's last append has told it of its removal.
      await cluster.waitUntil(() => cluster.nodes.get(2)!.transport!.peerAddress(cluster.zoneId, 4) === undefined, 'node 2 to forget node 4\'s address');
      expect(cluster.replica(4).status().removed).toBe(true);
      expect(await cluster.drive(cluster.replica(1).metastore.put(utf8('after'), utf8('removal')))).toBeGreaterThan(0);
    });
  });

  it('adds a learner, which receives the log without voting', async () => {
    await withCluster({}, async (cluster) => {
      await cluster.openNode(5, { peers: [{ nodeId: 1, address: ZoneTestCluster.address(1) }] });
      await cluster.drive(cluster.replica(1).addMember({ nodeId: 5, address: ZoneTestCluster.address(5) }, { role: 'learner' }));
      await cluster.replica(1).metastore.put(utf8('k'), utf8('v'));
      await cluster.waitUntil(() => cluster.replica(5).status().appliedIndex >= cluster.replica(1).status().appliedIndex, 'the learner to catch up');
      expect(cluster.replica(1).status().members.find((member) => member.nodeId === 5)?.role).toBe('learner');
    });
  });
});

describe('zone replica: EC writes and tokens', () => {
  it('acknowledges an EC write with a token that resolves to its version once committed', async () => {
    await withCluster({ consistency: 'eventual' }, async (cluster) => {
      const token = await cluster.replica(1).write([{ type: 'put', key: utf8('ec'), value: utf8('1') }]);
      expect(token).toMatchObject({ zoneId: cluster.zoneId, term: cluster.replica(1).status().term });
      expect(await cluster.drive(cluster.replica(1).waitFor(token))).toBe(token.index);
      // Any replica answers for the token once it has applied that far.
      await cluster.waitUntil(() => cluster.replica(3).status().appliedIndex >= token.index, 'node 3 to apply');
      expect(await cluster.replica(3).waitFor(token)).toBe(token.index);
      const read = await cluster.replica(3).metastore.get(utf8('ec'));
      expect(read).toMatchObject({ version: token.index, value: utf8('1') });
      // The EC Metastore view returns the version its entry will have.
      const version = await cluster.replica(1).metastore.put(utf8('ec2'), utf8('2'));
      expect(await cluster.drive(cluster.replica(1).waitFor({ zoneId: cluster.zoneId, index: version, term: token.term }))).toBe(version);
    });
  });

  it('rejects the token of an EC write whose precondition failed at apply time with ECONFLICT', async () => {
    await withCluster({ consistency: 'eventual' }, async (cluster) => {
      const token = await cluster.replica(1).write([{ type: 'put', key: utf8('k'), value: utf8('v') }], [{ key: utf8('k'), version: 999 }]);
      await expect(cluster.drive(cluster.replica(1).waitFor(token))).rejects.toMatchObject({ code: 'ECONFLICT', name: 'ConflictError' });
    });
  });

  it('rejects the token of an acknowledged EC write that a new leader overwrote (the lost-write case)', async () => {
    await withCluster({ consistency: 'eventual' }, async (cluster) => {
      cluster.network.isolate(ZoneTestCluster.address(1));
      const token = await cluster.replica(1).write([{ type: 'put', key: utf8('doomed'), value: utf8('x') }]);
      const onOldLeader = cluster.replica(1).waitFor(token);
      onOldLeader.catch(() => {});
      await cluster.waitUntil(() => [2, 3].some((id) => cluster.replica(id).status().role === 'leader'), 'a new leader');
      const newLeader = [2, 3].find((id) => cluster.replica(id).status().role === 'leader')!;
      const survivor = await cluster.drive(cluster.replica(newLeader).commit([{ type: 'put', key: utf8('winner'), value: utf8('y') }]));
      expect(survivor).toBeGreaterThanOrEqual(token.index);
      cluster.network.heal();
      await expect(cluster.drive(onOldLeader)).rejects.toMatchObject({ code: 'ECONFLICT', name: 'WriteLostError' });
      await expect(cluster.replica(newLeader).waitFor(token)).rejects.toMatchObject({ name: 'WriteLostError' });
      expect(await valueAt(cluster, 1, 'doomed')).toBeUndefined();
    });
  });

  it('refuses an EC write at a follower with EBUSY naming the leader', async () => {
    await withCluster({ consistency: 'eventual' }, async (cluster) => {
      await expect(cluster.replica(2).write([{ type: 'put', key: utf8('k'), value: utf8('v') }])).rejects.toMatchObject({ code: 'EBUSY', leader: 1 });
    });
  });
});

describe('zone replica: bad inputs', () => {
  it('rejects a bad zone id, a bad bootstrap and bad options with EINVAL', async () => {
    await withCluster({}, async (cluster) => {
      const node = cluster.nodes.get(1)!;
      const base = { nodeId: 9, store: node.store, raftStorage: node.raftStorage, transport: node.transport!, ticker: cluster.ticker, random: { integerBelow: () => 0 } };
      const { ZoneReplica } = await import('../../kernel/zone/zone-replica.ts');
      await expect(ZoneReplica.open({ ...base, zoneId: 'Bad Zone!' })).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(ZoneReplica.open({ ...base, zoneId: '' })).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(ZoneReplica.open({ ...base, zoneId: 'z', bootstrap: { members: [{ nodeId: 1, address: 'a' }] } })).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(ZoneReplica.open({ ...base, zoneId: 'z', nodeId: 0 })).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(ZoneReplica.open({ ...base, zoneId: 'z', snapshotIntervalEntries: 0 })).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(ZoneReplica.open({ ...base, zoneId: 'z', snapshotCatchUpEntries: -1 })).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(ZoneReplica.open({ ...base, zoneId: 'z', snapshotCatchUpEntries: 1.5 })).rejects.toMatchObject({ code: 'EINVAL' });
    });
  });

  it('rejects membership changes naming unknown nodes with ENOENT, and bad members with EINVAL', async () => {
    await withCluster({}, async (cluster) => {
      const replica = cluster.replica(1);
      await expect(replica.removeMember(42)).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(replica.transferLeadership(42)).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(replica.addMember({ nodeId: -1, address: 'memory:x' })).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(replica.addMember({ nodeId: 7, address: '' })).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(replica.addMember({ nodeId: 7, address: 'memory:x' }, { role: 'boss' as 'voter' })).rejects.toMatchObject({ code: 'EINVAL' });
    });
  });

  it('refuses, before proposing it, a batch no replica could apply or that writes the zone\'s own keys: the zone keeps serving', async () => {
    await withCluster({}, async (cluster) => {
      const replica = cluster.replica(1);
      const reserved = Uint8Array.of(...ZONE_RESERVED_KEY_PREFIX, 0x61);
      const lastIndex = replica.status().commitIndex;
      await expect(replica.commit([{ type: 'put', key: new Uint8Array(0), value: utf8('v') }])).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(replica.commit([{ type: 'put', key: reserved, value: utf8('v') }])).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(replica.commit([{ type: 'delete', key: Uint8Array.of(...ZONE_RAFT_KEY_PREFIX) }])).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(replica.commit([{ type: 'put', key: utf8('k'), value: utf8('v') }], [{ key: reserved, version: null }])).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(replica.write([{ type: 'put', key: new Uint8Array(0), value: utf8('v') }])).rejects.toMatchObject({ code: 'EINVAL' });
      expect(replica.status().commitIndex).toBe(lastIndex);
      const version = await cluster.drive(replica.commit([{ type: 'put', key: utf8('after'), value: utf8('fine') }]));
      await cluster.waitUntil(() => [2, 3].every((nodeId) => cluster.replica(nodeId).status().appliedIndex >= version), 'the followers to apply');
      for (const nodeId of [1, 2, 3]) expect(await valueAt(cluster, nodeId, 'after')).toBe('fine');
    });
  });

  it('rejects a proposal larger than one raft entry, and reserved keys, with EINVAL', async () => {
    await withCluster({}, async (cluster) => {
      const huge = new Uint8Array(9 * 1024 * 1024);
      await expect(cluster.replica(1).commit([{ type: 'put', key: utf8('big'), value: huge }])).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(cluster.replica(1).metastore.put(utf8('big'), huge)).rejects.toMatchObject({ code: 'EINVAL' });
      const reserved = Uint8Array.of(...ZONE_RESERVED_KEY_PREFIX, 0x61);
      await expect(cluster.replica(1).metastore.put(reserved, utf8('x'))).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(cluster.replica(1).metastore.get(Uint8Array.of(...ZONE_RAFT_KEY_PREFIX))).rejects.toMatchObject({ code: 'EINVAL' });
      // Nothing of the zone's own state shows in a scan of everything.
      await cluster.replica(1).metastore.put(utf8('only'), utf8('entry'));
      expect((await cluster.replica(1).metastore.scan({})).entries.map((entry) => decoder.decode(entry.key))).toEqual(['only']);
    });
  });

  it('rejects a write token of another zone or malformed with EINVAL', async () => {
    await withCluster({}, async (cluster) => {
      await expect(cluster.replica(1).waitFor({ zoneId: 'other', index: 2, term: 2 })).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(cluster.replica(1).waitFor({ zoneId: cluster.zoneId, index: 0, term: 2 })).rejects.toMatchObject({ code: 'EINVAL' });
    });
  });

  it('fails writes with EBUSY while no leader is known', async () => {
    const cluster = await ZoneTestCluster.start();
    try {
      const fresh = await cluster.openNode(8);
      await expect(fresh.replica!.commit([{ type: 'put', key: utf8('k'), value: utf8('v') }])).rejects.toMatchObject({ code: 'EBUSY' });
      await expect(fresh.replica!.readBarrier()).rejects.toMatchObject({ code: 'EBUSY' });
    } finally {
      await cluster.close();
    }
  });

  it('rejects every call on a closed replica with ECLOSED, and pending requests too', async () => {
    await withCluster({}, async (cluster) => {
      cluster.network.isolate(ZoneTestCluster.address(1));
      const pending = cluster.replica(1).commit([{ type: 'put', key: utf8('k'), value: utf8('v') }]);
      // Queued behind the first while the loop persists it: never stepped before the close.
      const queued = cluster.replica(1).commit([{ type: 'put', key: utf8('k2'), value: utf8('v') }]);
      const replica = cluster.replica(1);
      await replica.close();
      await replica.close();
      await expect(pending).rejects.toMatchObject({ code: 'ECLOSED' });
      await expect(queued).rejects.toMatchObject({ code: 'ECLOSED' });
      await expect(replica.commit([])).rejects.toMatchObject({ code: 'ECLOSED' });
      await expect(replica.metastore.get(utf8('k'))).rejects.toMatchObject({ code: 'ECLOSED' });
      await expect(replica.readBarrier()).rejects.toMatchObject({ code: 'ECLOSED' });
      await expect(replica.addMember({ nodeId: 9, address: 'memory:9' })).rejects.toMatchObject({ code: 'ECLOSED' });
      expect(replica.status().closed).toBe(true);
    });
  });

  it('refuses a second receiver for the same node and zone on one transport with EBUSY', async () => {
    await withCluster({}, async (cluster) => {
      const transport = cluster.nodes.get(1)!.transport!;
      expect(() => transport.listen({ zoneId: cluster.zoneId, nodeId: 1, receive: () => {} })).toThrow(expect.objectContaining({ code: 'EBUSY' }));
      expect(() => transport.listen({ zoneId: 'Bad!', nodeId: 1, receive: () => {} })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => transport.setPeer(cluster.zoneId, 2, '')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    });
  });
});
