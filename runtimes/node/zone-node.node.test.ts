import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../test/zone/process/nexus-process.ts';
import { createZone, joinZone, type ZoneNode } from './zone-node.ts';

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
});
