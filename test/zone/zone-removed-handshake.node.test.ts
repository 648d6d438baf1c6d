import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as NodeWebSocket } from 'ws';
import { MemoryStorageFile } from '../../drivers/memory/storage-file.ts';
import { FRAME_BYTES_MAX, ZONE_SECRET_BYTES } from '../../drivers/transport-websocket/limits.ts';
import { generateNodeKeyPair } from '../../drivers/transport-websocket/node-key.ts';
import { serveZoneTransport } from '../../drivers/transport-websocket/node-upgrade.ts';
import { WebSocketZoneTransport } from '../../drivers/transport-websocket/websocket-zone-transport.ts';
import { openKvStore } from '../../kernel/kv/index.ts';
import { MemoryRaftStorage } from '../../kernel/raft/memory-storage.ts';
import { SeededRandom } from '../../kernel/raft/random.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { RemovedError } from '../../kernel/zone/errors.ts';
import type { ZoneMember } from '../../kernel/zone/types.ts';
import { ZoneReplica } from '../../kernel/zone/zone-replica.ts';
import { IntervalTicker } from '../../runtimes/node/interval-ticker.ts';

/**
 * A zone of three replicas in one process over the real WebSocket transport, each behind its own
 * HTTP server, with a partition made at the transport's edge: every WebSocket is opened through a
 * factory that refuses to dial across the cut, and cutting closes the sockets that cross it.
 */
const ZONE = 'zone-removed';
const TICK_INTERVAL_MS = 20;
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

interface ProcessNode {
  readonly nodeId: NodeId;
  readonly member: ZoneMember;
  readonly replica: ZoneReplica;
  readonly log: string[];
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

class Partition {
  readonly cut = new Set<NodeId>();
  readonly #sockets: { readonly ends: readonly [NodeId, NodeId]; readonly socket: NodeWebSocket }[] = [];
  readonly #nodeByPort = new Map<number, NodeId>();

  register(nodeId: NodeId, port: number): void {
    this.#nodeByPort.set(port, nodeId);
  }

  /** The WebSocket factory of `nodeId`'s transport. */
  opener(nodeId: NodeId): (url: string) => Promise<WebSocket> {
    return async (url) => {
      const peer = this.#nodeByPort.get(Number(new URL(url).port));
      if (peer === undefined || this.cut.has(nodeId) || this.cut.has(peer)) throw new Error(`partitioned: node ${nodeId} cannot reach ${url}`);
      const socket = new NodeWebSocket(url, { maxPayload: FRAME_BYTES_MAX });
      this.#sockets.push({ ends: [nodeId, peer], socket });
      return socket as unknown as WebSocket;
    };
  }

  /** Cuts `nodeId` off: its connections close, and no dial to or from it gets through. */
  isolate(nodeId: NodeId): void {
    this.cut.add(nodeId);
    for (const { ends, socket } of this.#sockets) if (ends.includes(nodeId)) socket.terminate();
  }

  heal(nodeId: NodeId): void {
    this.cut.delete(nodeId);
  }
}

/** Bootstraps a zone of `voterIds`; the other nodes start empty, knowing those members, for the test to add. */
async function startZone(partition: Partition, nodeIds: readonly NodeId[], voterIds: readonly NodeId[] = nodeIds): Promise<Map<NodeId, ProcessNode>> {
  const zoneSecret = crypto.getRandomValues(new Uint8Array(ZONE_SECRET_BYTES));
  const prepared = await Promise.all(
    nodeIds.map(async (nodeId) => {
      const server: Server = createServer((_, response) => response.writeHead(404).end());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      partition.register(nodeId, port);
      return { nodeId, server, address: `http://127.0.0.1:${port}`, keyPair: await generateNodeKeyPair() };
    }),
  );
  const allMembers: ZoneMember[] = prepared.map(({ nodeId, address, keyPair }) => ({ nodeId, address, publicKey: keyPair.publicKey }));
  const members = allMembers.filter((member) => voterIds.includes(member.nodeId));
  const nodes = new Map<NodeId, ProcessNode>();
  for (const { nodeId, server, keyPair } of prepared) {
    const log: string[] = [];
    const transport = new WebSocketZoneTransport({ log: (line) => log.push(`transport: ${line}`), openWebSocket: partition.opener(nodeId) });
    transport.trustZone(ZONE, zoneSecret, keyPair.privateKey);
    const detach = serveZoneTransport(server, transport);
    const store = await openKvStore(new MemoryStorageFile());
    const ticker = new IntervalTicker(TICK_INTERVAL_MS);
    const replica = await ZoneReplica.open({
      zoneId: ZONE,
      nodeId,
      store,
      raftStorage: new MemoryRaftStorage(),
      transport,
      ticker,
      random: new SeededRandom(nodeId),
      ...(voterIds.includes(nodeId) ? { bootstrap: { members } } : { peers: members }),
      logger: { info: (line) => log.push(`raft: ${line}`) },
    });
    cleanups.push(async () => {
      await replica.close();
      ticker.stop();
      await transport.close();
      detach();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    });
    nodes.set(nodeId, { nodeId, member: allMembers.find((member) => member.nodeId === nodeId)!, replica, log });
  }
  return nodes;
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function settled<T>(promise: Promise<T>, what: string, timeoutMs = 20_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a removed node that was cut off when it was removed', () => {
  it('is told when it reconnects, and stops as on the last-append path; the members are never told so', async () => {
    const partition = new Partition();
    const nodes = await startZone(partition, [1, 2, 3]);
    const [one, two, three] = [nodes.get(1)!, nodes.get(2)!, nodes.get(3)!];
    await one.replica.campaign();
    await until(() => one.replica.status().role === 'leader', 'node 1 to lead');
    const version = await settled(one.replica.metastore.put(utf8('before'), utf8('1')), 'a write');
    await until(() => three.replica.status().appliedIndex >= version, 'node 3 to apply the write');

    partition.isolate(3);
    await settled(one.replica.removeMember(3), 'the removal of node 3');
    expect(one.replica.status().removedNodeIds).toEqual([3]);
    await until(() => two.replica.status().removedNodeIds.includes(3), 'node 2 to apply the removal');
    // Cut off, node 3 missed the last append: it campaigns in vain and does not know.
    await new Promise((resolve) => setTimeout(resolve, 30 * TICK_INTERVAL_MS));
    expect(three.replica.status()).toMatchObject({ removed: false, removedNodeIds: [] });
    expect(three.replica.status().role).not.toBe('leader');

    partition.heal(3);
    await settled(three.replica.removal, 'node 3 to learn of its removal once it reconnects');
    expect(three.replica.status()).toMatchObject({ removed: true, closed: false });
    const error = await three.replica.metastore.put(utf8('k'), utf8('v')).then(() => undefined, (reason: unknown) => reason);
    expect(error).toBeInstanceOf(RemovedError);
    expect(error).toMatchObject({ code: 'ECLOSED', message: expect.stringContaining(`node 3 was removed from zone ${ZONE}`) });
    expect(three.log.join('\n')).toMatch(/3 learns of its removal from [12]/);
    expect(three.log.join('\n')).toMatch(/node [12] proved that node 3 was removed/);

    // The members serve on, and were never told they were removed.
    await settled(one.replica.metastore.put(utf8('after'), utf8('2')), 'a write after the removal');
    for (const member of [one, two]) {
      expect(member.replica.status().removed).toBe(false);
      expect(member.log.join('\n')).not.toContain('learns of its removal');
      expect(member.log.join('\n')).not.toMatch(/proved that node [12] was removed/);
    }
  });

  it('a learner, which sends nothing of its own, is told too: it probes the members once they have been silent a while', async () => {
    const partition = new Partition();
    const nodes = await startZone(partition, [1, 2, 3], [1, 2]);
    const [one, three] = [nodes.get(1)!, nodes.get(3)!];
    await one.replica.campaign();
    await until(() => one.replica.status().role === 'leader', 'node 1 to lead');
    await settled(one.replica.addMember(three.member, { role: 'learner' }), 'node 3 to join as a learner');
    await until(() => three.replica.status().members.some((member) => member.nodeId === 3), 'node 3 to apply its addition');

    partition.isolate(3);
    await settled(one.replica.removeMember(3), 'the removal of node 3');
    partition.heal(3);
    await settled(three.replica.removal, 'the learner to learn of its removal');
    expect(three.replica.status()).toMatchObject({ removed: true });
    expect(three.log.join('\n')).toMatch(/3 learns of its removal from [12]/);
  });
});
