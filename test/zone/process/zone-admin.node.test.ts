import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN_CHALLENGE_ROUTE, ZONE_API_PATH } from '../../../drivers/transport-websocket/zone-api-app.ts';
import { signAdminRequest } from '../../../drivers/transport-websocket/admin-request.ts';
import { ZoneApiClient } from '../../../drivers/transport-websocket/zone-api-client.ts';
import { decodeApiBody, encodeApiBody, ZONE_API_CONTENT_TYPE } from '../../../drivers/transport-websocket/zone-api-codec.ts';
import { generateNodeKeyPair } from '../../../drivers/transport-websocket/node-key.ts';
import { readAdminSigner } from '../../../runtimes/node/node-identity.ts';
import { cleanedUpAfterAll } from './cleaned-up-after-all.ts';
import { eventually, freePort, runNexus, spawnNexus, type NexusProcess } from './nexus-process.ts';

/**
 * Who may change a zone's membership, on three real node processes over real sockets: `remove-node`
 * is an admin call, admitted by a voting member's signature over a challenge from the node that
 * runs it (drivers/transport-websocket/admin-request.ts). The join token, a stranger's key, a
 * replayed request and a removed member's key are refused with EACCES and the membership stays as
 * it was; a member's data directory removes a node, whose process then stops (and stays stopped
 * when started again).
 */

const TIMING = ['--tick-ms', '20', '--election-ticks', '10'];

const { processes, directories } = cleanedUpAfterAll();

interface Zone {
  readonly token: string;
  readonly dataDirs: readonly string[];
  readonly addresses: readonly string[];
  readonly nodes: readonly NexusProcess[];
}

/** Creates a zone with `nexus zone create` and joins two nodes with `nexus zone join`; resolves once all three are caught-up voters. */
async function threeNodeZone(zoneId: string): Promise<Zone> {
  const root = await mkdtemp(join(tmpdir(), 'nexus-zone-admin-'));
  directories.push(root);
  const ports = [await freePort(), await freePort(), await freePort()];
  const addresses = ports.map((port) => `http://127.0.0.1:${port}`);
  const dataDirs = ports.map((_, index) => join(root, `node-${index + 1}`));
  const creator = spawnNexus('node 1', ['zone', 'create', '--data', dataDirs[0]!, '--listen', `127.0.0.1:${ports[0]}`, '--zone-id', zoneId, ...TIMING]);
  processes.push(creator);
  const nodes = [creator];
  const token = (await creator.waitForOutput(/join token \(shown once, keep it secret\): (\S+)/))[1]!;
  for (const index of [1, 2]) {
    const joiner = spawnNexus(`node ${index + 1}`, ['zone', 'join', '--data', dataDirs[index]!, '--listen', `127.0.0.1:${ports[index]}`, '--peer', addresses[0]!, '--token', token, ...TIMING]);
    processes.push(joiner);
    nodes.push(joiner);
    await joiner.waitForOutput(new RegExp(`joined zone ${zoneId} as node ${index + 1}`));
  }
  await eventually('three caught-up voters', async () => {
    const status = await new ZoneApiClient(addresses[0]!, token).status();
    return status.members.length === 3 && status.members.every((member) => member.role === 'voter' && member.lagEntries === 0) ? status : undefined;
  });
  return { token, dataDirs, addresses, nodes };
}

async function memberIdsAt(zone: Zone, address: string): Promise<number[]> {
  return (await new ZoneApiClient(address, zone.token).status()).members.map((member) => member.nodeId);
}

/** POSTs `payload` to a route the way any HTTP client can, with the headers given. */
async function post(address: string, route: string, payload: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${address}${ZONE_API_PATH}/${route}`, {
    method: 'POST',
    headers: { 'content-type': ZONE_API_CONTENT_TYPE, ...headers },
    body: encodeApiBody(payload) as Uint8Array<ArrayBuffer>,
  });
  const bytes = new Uint8Array(await response.arrayBuffer());
  return { status: response.status, body: response.status === 200 ? decodeApiBody(bytes) : JSON.parse(new TextDecoder().decode(bytes)) };
}

const refused = (message: string): object => ({ status: 401, body: { error: { code: 'EACCES', message: expect.stringContaining(message) } } });

describe('zone admin calls across processes', () => {
  it('refuses the join token, a stranger, a replayed request and a removed member with EACCES; a member removes a node', async () => {
    const zone = await threeNodeZone('admin-zone');
    const [node1, node2] = zone.addresses as [string, string, string];

    // A token holder that is not a member: the token admits to join and status, not to remove-node.
    expect(await post(node1, 'remove-node', { nodeId: 3 }, { authorization: `Bearer ${zone.token}` })).toMatchObject(refused('remove-node is an admin call'));
    // A stranger claiming node 1 with a key of its own.
    const stranger = { zoneId: 'admin-zone', nodeId: 1, privateKey: (await generateNodeKeyPair()).privateKey };
    await expect(new ZoneApiClient(node1, undefined).removeNode(3, stranger)).rejects.toMatchObject({ code: 'EACCES', message: expect.stringContaining('does not verify') });
    expect(await memberIdsAt(zone, node1)).toEqual([1, 2, 3]);

    // Node 1's key (read from its data directory while it runs) signs a removal of node 3 over a
    // challenge from node 1: it runs once; sent again, to node 1 or to node 2, it is refused.
    const { signer } = await readAdminSigner(zone.dataDirs[0]!);
    const { challenge } = (await post(node1, ADMIN_CHALLENGE_ROUTE, {})).body as { challenge: Uint8Array };
    const signed = await signAdminRequest({ route: 'remove-node', challenge, request: encodeApiBody({ nodeId: 3 }), signer });
    expect(await post(node1, 'remove-node', signed)).toEqual({ status: 200, body: {} });
    expect(await post(node1, 'remove-node', signed)).toMatchObject(refused('was used already'));
    expect(await post(node2, 'remove-node', signed)).toMatchObject(refused('was not issued by this node'));
    await eventually('node 2 to apply the removal', async () => ((await memberIdsAt(zone, node2)).length === 2 ? true : undefined));

    // The removed member's key, from its data directory, through the CLI: refused by each remaining member.
    for (const remote of [node1, node2]) {
      const result = await runNexus(['zone', 'remove-node', '2', '--data', zone.dataDirs[2]!, '--remote', remote]);
      expect(result.exit, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/^nexus: EACCES node 3 is not a member of zone admin-zone/m);
    }
    expect(await memberIdsAt(zone, node1)).toEqual([1, 2]);
    expect(await memberIdsAt(zone, node2)).toEqual([1, 2]);
  }, 90_000);

  it('a node removed with `nexus zone remove-node` says so and exits 0, stays stopped when started again, and the other two serve on', async () => {
    const zone = await threeNodeZone('removal-zone');
    const [node1, node2] = zone.addresses as [string, string, string];
    const removedLine = /node 3 was removed from zone removal-zone: stopping/;

    const removal = await runNexus(['zone', 'remove-node', '3', '--data', zone.dataDirs[0]!]);
    expect(removal.exit, removal.stderr).toBe(0);
    expect(removal.stdout).toBe('node 3 removed\n');
    const removed = zone.nodes[2]!;
    expect(await removed.exited, removed.stderr()).toBe(0);
    expect(removed.stderr()).toMatch(removedLine);
    expect(removed.stderr()).toMatch(/node 3 stopped/);

    // The remaining two: a write through each (node 2's is forwarded to the leader), read at the other.
    const encoder = new TextEncoder();
    for (const [writer, reader, key] of [[node1, node2, 'after-removal-1'], [node2, node1, 'after-removal-2']] as const) {
      const version = await new ZoneApiClient(writer, zone.token).commit([{ type: 'put', key: encoder.encode(key), value: encoder.encode('served') }]);
      expect(version).toBeGreaterThan(0);
      const entry = await new ZoneApiClient(reader, zone.token).get(encoder.encode(key));
      expect(new TextDecoder().decode(entry?.value)).toBe('served');
    }
    expect(await memberIdsAt(zone, node1)).toEqual([1, 2]);

    // Started again from its data directory, it neither serves nor campaigns: it says why and exits 0.
    const restarted = spawnNexus('node 3 again', ['zone', 'start', '--data', zone.dataDirs[2]!, ...TIMING]);
    processes.push(restarted);
    expect(await restarted.exited, restarted.stderr()).toBe(0);
    expect(restarted.stderr()).toMatch(removedLine);
    expect(restarted.stdout()).toBe('');
    expect((await new ZoneApiClient(node2, zone.token).status()).members.map((member) => member.nodeId)).toEqual([1, 2]);
  }, 90_000);

  it('a node that was down when it was removed is told when it starts again: it says so and exits 0', async () => {
    const zone = await threeNodeZone('down-removal-zone');
    const down = zone.nodes[2]!;
    down.child.kill('SIGKILL');
    expect(await down.exited).toBe('SIGKILL');

    const removal = await runNexus(['zone', 'remove-node', '3', '--data', zone.dataDirs[0]!]);
    expect(removal.exit, removal.stderr).toBe(0);
    expect(await memberIdsAt(zone, zone.addresses[0]!)).toEqual([1, 2]);

    // Its own state does not record the removal, nor even that it became a voter (its commit index
    // lagged): it starts as a learner, which sends nothing, probes the silent members, and one tells it.
    const restarted = spawnNexus('node 3 again', ['zone', 'start', '--data', zone.dataDirs[2]!, ...TIMING]);
    processes.push(restarted);
    expect(await restarted.exited, restarted.stderr()).toBe(0);
    expect(restarted.stderr()).toMatch(/node 3 was removed from zone down-removal-zone: stopping/);
    expect(restarted.stderr()).toMatch(/node 3 stopped/);
    expect((await new ZoneApiClient(zone.addresses[1]!, zone.token).status()).members.map((member) => member.nodeId)).toEqual([1, 2]);
  }, 90_000);
});
