import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ZONE_SECRET_BYTES } from '../../../drivers/transport-websocket/limits.ts';
import type { ZoneNodeStatus } from '../../../drivers/transport-websocket/zone-api-app.ts';
import { ZoneApiClient } from '../../../drivers/transport-websocket/zone-api-client.ts';
import { WebSocketZoneTransport } from '../../../drivers/transport-websocket/websocket-zone-transport.ts';
import { formatJoinToken, parseJoinToken } from '../../../drivers/transport-websocket/join-token.ts';
import { generateNodeKeyPair } from '../../../drivers/transport-websocket/node-key.ts';
import { AccessDeniedError } from '../../../kernel/errors.ts';
import { cleanedUpAfterAll } from './cleaned-up-after-all.ts';
import { eventually, freePort, sleep, spawnNexus, type NexusProcess } from './nexus-process.ts';

/**
 * Three zone nodes in three real processes, started with the `nexus` CLI: writes under load from
 * concurrent clients, `kill -9` of the leader, a new leader within two election timeouts, restart
 * from the data directory, and every acknowledged write on every node afterwards. Strangers (wrong
 * or missing token, wrong secret on the raft socket) are refused and never reach Raft.
 */

/** Fast ticks keep the test short; every bound below is in ticks, so it holds at any speed. */
const TICK_INTERVAL_MS = 20;
const ELECTION_TIMEOUT_TICKS = 10;
const TIMING = ['--tick-ms', String(TICK_INTERVAL_MS), '--election-ticks', String(ELECTION_TIMEOUT_TICKS)];

/**
 * An election timeout is drawn from [T, 2T) ticks; "two election timeouts" is two of the longest,
 * 4T: the survivors notice the dead leader within one, and a split vote costs at most another.
 */
const NEW_LEADER_TICKS_MAX = 2 * (2 * ELECTION_TIMEOUT_TICKS);

const CLIENTS = 8;
const LOAD_BEFORE_KILL_MS = 1_500;
const LOAD_AFTER_KILL_MS = 1_500;

const IS_DENO = 'Deno' in globalThis;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Node {
  index: number;
  dataDir: string;
  address: string;
  process: NexusProcess;
}

const { processes, directories } = cleanedUpAfterAll();

function track(running: NexusProcess): NexusProcess {
  processes.push(running);
  return running;
}

async function statusOf(node: Node, token: string): Promise<ZoneNodeStatus> {
  return await new ZoneApiClient(node.address, token).status();
}

describe('a zone of three node processes', () => {
  it('survives kill -9 of its leader without losing an acknowledged write', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nexus-zone-'));
    directories.push(root);
    const ports = [await freePort(), await freePort(), await freePort()];
    const nodes: Node[] = ports.map((port, index) => ({
      index,
      dataDir: join(root, `node-${index + 1}`),
      address: `http://127.0.0.1:${port}`,
      process: undefined as unknown as NexusProcess,
    }));
    const listen = (node: Node): string => node.address.replace('http://', '');

    // ---- form the zone with the CLI ----
    nodes[0]!.process = track(spawnNexus('node 1', ['zone', 'create', '--data', nodes[0]!.dataDir, '--listen', listen(nodes[0]!), '--zone-id', 'proof', ...TIMING]));
    const token = (await nodes[0]!.process.waitForOutput(/join token \(shown once, keep it secret\): (\S+)/))[1]!;
    for (const node of nodes.slice(1)) {
      node.process = track(spawnNexus(`node ${node.index + 1}`, ['zone', 'join', '--data', node.dataDir, '--listen', listen(node), '--peer', nodes[0]!.address, '--token', token, ...TIMING]));
      await node.process.waitForOutput(/joined zone proof as node \d+/);
    }
    const formed = await eventually('three members, all caught up', async () => {
      for (const node of nodes) {
        const status = await statusOf(node, token);
        if (status.role === 'leader' && status.members.length === 3 && status.members.every((member) => member.lagEntries === 0)) return status;
      }
      return undefined;
    });
    expect(formed.members.map((member) => member.role)).toEqual(['voter', 'voter', 'voter']);

    // ---- strangers are refused ----
    await expectStrangersRefused(nodes[0]!, token);

    // ---- writes under load ----
    const acknowledged = new Map<string, string>();
    const load = startLoad(nodes, token, acknowledged);
    await sleep(LOAD_BEFORE_KILL_MS);

    // ---- kill -9 the leader ----
    const before = await leaderOf(nodes, token);
    const leaderNode = nodes.find((node) => node.address === before.members.find((member) => member.isLeader)!.address)!;
    const survivors = nodes.filter((node) => node !== leaderNode);
    const acknowledgedBeforeKill = acknowledged.size;
    process.kill(leaderNode.process.pid, 'SIGKILL');
    expect(await leaderNode.process.exited).toBe('SIGKILL');
    const ticksAtKill = new Map<Node, number>();
    for (const node of survivors) ticksAtKill.set(node, (await statusOf(node, token)).ticks);

    // A new leader serves: it commits a write of its own.
    const newLeader = await eventually('a new leader that commits a write', async () => {
      for (const node of survivors) {
        const status = await statusOf(node, token);
        if (status.role !== 'leader' || status.term <= before.term) continue;
        await new ZoneApiClient(node.address, token).commit([{ type: 'put', key: encoder.encode('after-kill'), value: encoder.encode('served') }]);
        return { node, status: await statusOf(node, token) };
      }
      return undefined;
    });
    const ticksToServe = newLeader.status.ticks - ticksAtKill.get(newLeader.node)!;
    expect(ticksToServe, `a new leader served ${ticksToServe} ticks after the kill`).toBeLessThanOrEqual(NEW_LEADER_TICKS_MAX);
    acknowledged.set('after-kill', 'served');

    await sleep(LOAD_AFTER_KILL_MS);

    // ---- restart the killed node from its data directory ----
    leaderNode.process = track(spawnNexus(`node ${leaderNode.index + 1} (restarted)`, ['zone', 'start', '--data', leaderNode.dataDir, ...TIMING]));
    await leaderNode.process.waitForOutput(/serving at/);
    await sleep(500);
    const loadResult = await load.stop();
    expect(acknowledged.size, `acknowledged ${acknowledgedBeforeKill} before the kill and ${acknowledged.size} in all (${loadResult.failures} failed attempts)`)
      .toBeGreaterThan(acknowledgedBeforeKill);

    // ---- every acknowledged write on every node, the restarted one included ----
    const finalStatus = await leaderOf(nodes, token);
    await eventually('every node to apply everything committed', async () => {
      for (const node of nodes) {
        if ((await statusOf(node, token)).appliedIndex < finalStatus.commitIndex) return undefined;
      }
      return true;
    });
    for (const node of nodes) {
      const stored = await readEverything(node, token);
      const missing = [...acknowledged].filter(([key, value]) => stored.get(key) !== value);
      expect(missing.slice(0, 5), `node ${node.index + 1} lacks ${missing.length} of ${acknowledged.size} acknowledged writes`).toEqual([]);
    }

    // ---- a clean stop on SIGTERM ----
    for (const node of nodes) node.process.child.kill('SIGTERM');
    for (const node of nodes) {
      const exit = await node.process.exited;
      expect(node.process.stderr()).toMatch(/SIGTERM: stopping node \d+\n.*node \d+ stopped\n/);
      // Deno's child_process reports the signal sent rather than the exit code 0 the node chose.
      expect(exit, `${node.process.name} exit`).toBe(IS_DENO ? 'SIGTERM' : 0);
    }
  }, 60_000);
});

async function leaderOf(nodes: Node[], token: string): Promise<ZoneNodeStatus> {
  return await eventually('a leader', async () => {
    for (const node of nodes) {
      try {
        const status = await statusOf(node, token);
        if (status.role === 'leader') return status;
      } catch {
        // A node that is down does not answer.
      }
    }
    return undefined;
  });
}

/**
 * CLIENTS concurrent clients, each writing its own keys in sequence (SC commits), each through a
 * node of its own, moving to the next node when one fails. A write counts as acknowledged only
 * when the commit call returned a version.
 */
function startLoad(nodes: Node[], token: string, acknowledged: Map<string, string>): { stop(): Promise<{ failures: number }> } {
  let running = true;
  let failures = 0;
  const client = async (clientIndex: number): Promise<void> => {
    let nodeIndex = clientIndex % nodes.length;
    for (let sequence = 0; running; ) {
      const key = `client-${clientIndex}-${String(sequence).padStart(6, '0')}`;
      const value = `value-${clientIndex}-${sequence}`;
      try {
        await new ZoneApiClient(nodes[nodeIndex]!.address, token).commit([{ type: 'put', key: encoder.encode(key), value: encoder.encode(value) }]);
        acknowledged.set(key, value);
        sequence++;
      } catch {
        failures++;
        nodeIndex = (nodeIndex + 1) % nodes.length;
        await sleep(TICK_INTERVAL_MS);
      }
    }
  };
  const clients = Array.from({ length: CLIENTS }, (_, index) => client(index));
  return {
    async stop() {
      running = false;
      await Promise.all(clients);
      return { failures };
    },
  };
}

async function readEverything(node: Node, token: string): Promise<Map<string, string>> {
  const client = new ZoneApiClient(node.address, token);
  const stored = new Map<string, string>();
  let cursor: string | undefined;
  for (let page = 0; page < 1_000; page++) {
    const result = await client.scan({ limit: 10_000, ...(cursor === undefined ? {} : { cursor }) });
    for (const entry of result.entries) stored.set(decoder.decode(entry.key), decoder.decode(entry.value));
    cursor = result.cursor;
    if (cursor === undefined) return stored;
  }
  throw new Error('too many scan pages');
}

/** Wrong, malformed and missing tokens get 401 EACCES; a peer with the wrong secret never reaches Raft. */
async function expectStrangersRefused(node: Node, token: string): Promise<void> {
  const { zoneId } = parseJoinToken(token);
  const wrongToken = formatJoinToken({ zoneId, zoneSecret: new Uint8Array(ZONE_SECRET_BYTES).fill(1) });
  await expect(new ZoneApiClient(node.address, wrongToken).commit([{ type: 'put', key: encoder.encode('x'), value: encoder.encode('y') }])).rejects.toThrow(AccessDeniedError);
  await expect(new ZoneApiClient(node.address, 'not-a-token').status()).rejects.toThrow(AccessDeniedError);
  await expect(new ZoneApiClient(node.address, wrongToken).join('http://127.0.0.1:1', (await generateNodeKeyPair()).publicKey)).rejects.toThrow(AccessDeniedError);
  const missing = await fetch(`${node.address}/zone/v1/status`);
  expect(missing.status).toBe(401);
  expect(await missing.json()).toMatchObject({ error: { code: 'EACCES' } });

  // `nexus zone join` with a wrong token fails with EACCES and exit code 1.
  const joiner = track(spawnNexus('stranger', ['zone', 'join', '--data', join(directories[0]!, 'stranger'), '--listen', `127.0.0.1:${await freePort()}`, '--peer', node.address, '--token', wrongToken]));
  expect(await joiner.exited).toBe(1);
  expect(joiner.stderr()).toContain('EACCES');

  // A raft message from a stranger with a much higher term would depose the leader if delivered.
  const termBefore = (await statusOf(node, token)).term;
  const log: string[] = [];
  const stranger = new WebSocketZoneTransport({ log: (line) => log.push(line) });
  stranger.trustZone(zoneId, new Uint8Array(ZONE_SECRET_BYTES).fill(2), (await generateNodeKeyPair()).privateKey);
  stranger.listen({ zoneId, nodeId: 99, receive: () => {} });
  const target = (await statusOf(node, token)).nodeId;
  stranger.setPeer(zoneId, target, node.address);
  for (let attempt = 0; attempt < 3; attempt++) {
    stranger.send(zoneId, { type: 'append', from: 99, to: target, term: termBefore + 100, logIndex: 0, logTerm: 0, entries: [], commit: 0 });
  }
  await eventually('the stranger to be refused', async () => (log.some((line) => line.includes('refused: EACCES')) ? true : undefined));
  await stranger.close();
  expect((await statusOf(node, token)).term).toBeLessThan(termBefore + 100);
  expect(parseJoinToken(token).zoneId).toBe('proof');
}
