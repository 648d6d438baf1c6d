import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openFileKvStore } from '../../drivers/node-fs/file-kv-store.ts';
import { KvRaftStorage } from '../../kernel/raft/kv-raft-storage.ts';
import { ZONE_RAFT_KEY_PREFIX } from '../../kernel/zone/constants.ts';
import { eventually, freePort } from '../../test/zone/process/nexus-process.ts';
import { joinedMessage } from './cli/zone-command.ts';
import { hasNodeIdentity, ZONE_STORE_FILE } from './node-identity.ts';
import { createZoneSecret, formatJoinToken } from '../../drivers/transport-websocket/join-token.ts';
import { decodeBase64url } from '../../kernel/contracts/base64url.ts';
import { createZone, joinZone, startZone, type ZoneNode } from './zone-node.ts';

const nodes: ZoneNode[] = [];
const directories: string[] = [];

afterAll(async () => {
  for (const node of nodes.reverse()) await node.close();
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

describe('zone node', () => {
  it('zone create returns leading its zone, so that a join right after it is answered', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nexus-zone-node-'));
    directories.push(root);
    // An election timeout of 100 s: the node leads at once only because create makes it campaign.
    const timing = { tickIntervalMs: 100, electionTimeoutTicks: 1000 };
    const first = await createZone({ dataDir: join(root, 'one'), listen: `127.0.0.1:${await freePort()}`, zoneId: 'at-once', ...timing });
    nodes.push(first);
    expect(first.replica.status()).toMatchObject({ role: 'leader', leader: 1 });

    const second = await joinZone({ dataDir: join(root, 'two'), listen: `127.0.0.1:${await freePort()}`, peer: first.identity.address, token: first.identity.token, ...timing });
    nodes.push(second);
    expect(second.identity.nodeId).toBe(2);
    expect(first.replica.status().members.map((member) => member.nodeId)).toEqual([1, 2]);
  });

  it('passes snapshotCatchUpEntries to its replica: each snapshot leaves that many entries in the raft log', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nexus-zone-node-'));
    directories.push(root);
    const dataDir = join(root, 'one');
    // The default for an interval of 3 would keep 6 entries (SNAPSHOT_CATCH_UP_INTERVALS intervals).
    const node = await createZone({ dataDir, listen: `127.0.0.1:${await freePort()}`, zoneId: 'catch-up', snapshotIntervalEntries: 3, snapshotCatchUpEntries: 8 });
    const encoder = new TextEncoder();
    try {
      for (let write = 0; write < 20; write++) await node.replica.metastore.put(encoder.encode(`/k${write}`), encoder.encode('v'));
    } finally {
      await node.close();
    }
    const store = await openFileKvStore(join(dataDir, ZONE_STORE_FILE));
    try {
      const raftStorage = await KvRaftStorage.open(store, { keyPrefix: ZONE_RAFT_KEY_PREFIX });
      const snapshotIndex = raftStorage.snapshot().metadata.index;
      expect(snapshotIndex).toBeGreaterThan(8);
      expect(snapshotIndex - raftStorage.firstIndex() + 1).toBe(8);
      await raftStorage.close();
    } finally {
      await store.close();
    }
  });

  it('refuses a malformed snapshotCatchUpEntries with EINVAL before a join adds the node to the zone', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nexus-zone-node-'));
    directories.push(root);
    const first = await createZone({ dataDir: join(root, 'one'), listen: `127.0.0.1:${await freePort()}`, zoneId: 'bad-timing' });
    nodes.push(first);
    const joining = { dataDir: join(root, 'two'), listen: `127.0.0.1:${await freePort()}`, peer: first.identity.address, token: first.identity.token };
    for (const snapshotCatchUpEntries of [-1, 1.5, Number.NaN]) {
      await expect(joinZone({ ...joining, snapshotCatchUpEntries })).rejects.toMatchObject({
        code: 'EINVAL',
        message: expect.stringContaining('invalid snapshotCatchUpEntries'),
      });
    }
    await expect(joinZone({ ...joining, snapshotIntervalEntries: 0 })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('invalid snapshotIntervalEntries') });
    expect(first.replica.status().members.map((member) => member.nodeId)).toEqual([1]);
    expect(await hasNodeIdentity(joining.dataDir)).toBe(false);
    // Zero keeps no entries behind a snapshot: valid.
    const second = await joinZone({ ...joining, snapshotCatchUpEntries: 0 });
    nodes.push(second);
    expect(second.identity.nodeId).toBe(2);
  });

  it('zone join says the node is still a learner when its promotion is pending, and not once it is a voter', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nexus-zone-node-'));
    directories.push(root);
    // A tick a second: the leader, which promotes at a tick, cannot have done so when the join returns.
    const timing = { tickIntervalMs: 1000, electionTimeoutTicks: 100 };
    const first = await createZone({ dataDir: join(root, 'one'), listen: `127.0.0.1:${await freePort()}`, zoneId: 'learner', ...timing });
    nodes.push(first);
    const second = await joinZone({
      dataDir: join(root, 'two'),
      listen: `127.0.0.1:${await freePort()}`,
      peer: first.identity.address,
      token: first.identity.token,
      promotionWaitMs: 0,
      ...timing,
    });
    nodes.push(second);
    expect(first.replica.status().members.find((member) => member.nodeId === 2)).toMatchObject({ role: 'learner', promotionPending: true });
    expect(joinedMessage(second, 0)).toBe(
      `joined zone learner as node 2 (still a learner: not promoted to voter within 0 s; the leader promotes it once it has caught up), serving at ${second.identity.address}\n`,
    );
    await eventually('node 2 to apply its promotion', async () => (second.replica.status().members.some((member) => member.nodeId === 2 && member.role === 'voter') ? true : undefined));
    expect(joinedMessage(second, 0)).toBe(`joined zone learner as node 2, serving at ${second.identity.address}\n`);
  });

  it('a restarted node keeps its identity: the same key, which its peers still accept', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nexus-zone-node-'));
    directories.push(root);
    const timing = { tickIntervalMs: 20 };
    const first = await createZone({ dataDir: join(root, 'one'), listen: `127.0.0.1:${await freePort()}`, zoneId: 'restart', ...timing });
    nodes.push(first);
    const joining = { dataDir: join(root, 'two'), listen: `127.0.0.1:${await freePort()}`, peer: first.identity.address, token: first.identity.token, ...timing };
    const second = await joinZone(joining);
    const key = second.identity.nodeKey.x;
    const recorded = (): unknown => first.replica.status().members.find((member) => member.nodeId === 2)?.publicKey;
    expect(recorded()).toEqual(decodeBase64url(key!));
    await second.close();
    const restarted = await startZone({ dataDir: joining.dataDir, ...timing });
    nodes.push(restarted);
    expect(restarted.identity.nodeKey).toEqual(second.identity.nodeKey);
    // Its peers authenticate it again: a write reaches it.
    await first.replica.metastore.put(new TextEncoder().encode('/after-restart'), new TextEncoder().encode('x'));
    const version = first.replica.status().appliedIndex;
    await eventually('node 2 to apply the write', async () => (restarted.replica.status().appliedIndex >= version ? true : undefined));
    expect(recorded()).toEqual(decodeBase64url(key!));
    // The same data directory cannot join again (it would be a second identity for the node).
    await expect(joinZone(joining)).rejects.toMatchObject({ code: 'EEXIST' });
  });

  it('refuses a data directory of format version 1 (before node identity) with EINVAL saying so', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nexus-zone-node-'));
    directories.push(root);
    const old = { formatVersion: 1, zoneId: 'old', nodeId: 1, token: 'nzt1.old.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', address: 'http://127.0.0.1:7001' };
    await writeFile(join(root, 'node.json'), JSON.stringify(old));
    await expect(startZone({ dataDir: root })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('format version 1, from before node identity') });
  });

  it('refuses a join without the zone\'s token with EACCES, adding nothing', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nexus-zone-node-'));
    directories.push(root);
    const first = await createZone({ dataDir: join(root, 'one'), listen: `127.0.0.1:${await freePort()}`, zoneId: 'closed' });
    nodes.push(first);
    const wrongToken = formatJoinToken({ zoneId: 'closed', zoneSecret: createZoneSecret() });
    await expect(joinZone({ dataDir: join(root, 'two'), listen: `127.0.0.1:${await freePort()}`, peer: first.identity.address, token: wrongToken })).rejects.toMatchObject({ code: 'EACCES' });
    expect(first.replica.status().members.map((member) => member.nodeId)).toEqual([1]);
  });
});
