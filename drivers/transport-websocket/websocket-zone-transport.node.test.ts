import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import { SNAPSHOT_CHUNK_ENCODED_BYTES_MAX } from '../../kernel/zone/constants.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as NodeWebSocket } from 'ws';
import type { Message } from '../../kernel/raft/message.ts';
import { decodeFrame, encodeFrame, packValue } from './frame-codec.ts';
import { CLOSE_CODES } from './frame-socket.ts';
import { SEND_QUEUE_FRAMES_MAX, ZONE_SECRET_BYTES } from './limits.ts';
import { serveZoneTransport } from './node-upgrade.ts';
import { handshakeNonce, handshakeProof, importZoneKey } from './peer-handshake.ts';
import { raftSocketUrl, WebSocketZoneTransport } from './websocket-zone-transport.ts';

const ZONE = 'zone-a';

interface TestNode {
  readonly nodeId: number;
  readonly address: string;
  readonly transport: WebSocketZoneTransport;
  readonly received: ZoneMessage[];
  readonly unreachable: number[];
  readonly log: string[];
  readonly server: Server;
  stop(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function secret(fill: number): Uint8Array {
  return new Uint8Array(ZONE_SECRET_BYTES).fill(fill);
}

async function startNode(
  nodeId: number,
  zoneSecret: Uint8Array,
  port = 0,
  scheduleFlush?: (flush: () => void) => void,
): Promise<TestNode> {
  const log: string[] = [];
  const received: ZoneMessage[] = [];
  const unreachable: number[] = [];
  const transport = new WebSocketZoneTransport({ log: (line) => log.push(line), ...(scheduleFlush === undefined ? {} : { scheduleFlush }) });
  transport.trustZone(ZONE, zoneSecret);
  transport.listen({ zoneId: ZONE, nodeId, receive: (message) => received.push(message), unreachable: (peer) => unreachable.push(peer) });
  const server = createServer((_, response) => response.writeHead(404).end());
  const detach = serveZoneTransport(server, transport);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await transport.close();
    detach();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(stop);
  return { nodeId, address, transport, received, unreachable, log, server, stop };
}

function heartbeat(from: number, to: number, commit: number): Message {
  return { type: 'heartbeat', from, to, term: 3, commit, context: undefined };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A raw client socket, to speak the protocol badly on purpose. */
async function rawSocket(address: string): Promise<{ socket: NodeWebSocket; frames: Uint8Array[]; closed: Promise<number> }> {
  const socket = new NodeWebSocket(raftSocketUrl(address));
  const frames: Uint8Array[] = [];
  socket.on('message', (data: Buffer) => frames.push(new Uint8Array(data)));
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, frames, closed };
}

describe('WebSocketZoneTransport', () => {
  it('carries raft messages both ways over one connection per pair', async () => {
    const one = await startNode(1, secret(7));
    const two = await startNode(2, secret(7));
    one.transport.setPeer(ZONE, 2, two.address);
    two.transport.setPeer(ZONE, 1, one.address);
    const append: Message = {
      type: 'append',
      from: 1,
      to: 2,
      term: 3,
      logIndex: 4,
      logTerm: 3,
      commit: 4,
      entries: [{ term: 3, index: 5, type: 'normal', data: new Uint8Array([1, 2, 3]) }],
    };
    one.transport.send(ZONE, append);
    two.transport.send(ZONE, heartbeat(2, 1, 9));
    await until(() => one.received.length === 1 && two.received.length === 1, 'one message each way');
    expect(two.received).toEqual([append]);
    expect(one.received).toEqual([heartbeat(2, 1, 9)]);
    // Many messages in one task travel coalesced, in order.
    for (let commit = 0; commit < 500; commit++) one.transport.send(ZONE, heartbeat(1, 2, commit));
    await until(() => two.received.length === 501, '500 more messages');
    expect(two.received.slice(1).map((message) => (message as { commit: number }).commit)).toEqual([...Array(500).keys()]);
    // Both sides dialed at once; one connection survives, and both sides know it.
    let connections = await countConnections(one, two);
    for (let attempt = 0; attempt < 100 && connections !== 1; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      connections = await countConnections(one, two);
    }
    expect(connections).toBe(1);
    expect(one.transport.peerStatus(ZONE).get(2)?.connected).toBe(true);
    expect(two.transport.peerStatus(ZONE).get(1)?.connected).toBe(true);
  });

  it('carries a snapshot chunk of the largest size, and its acknowledgement back', async () => {
    const one = await startNode(1, secret(7));
    const two = await startNode(2, secret(7));
    one.transport.setPeer(ZONE, 2, two.address);
    two.transport.setPeer(ZONE, 1, one.address);
    // Connected first: a frame under way on a connection closed as a duplicate is lost (Raft and
    // snapshot transfers send again; this test would not).
    one.transport.send(ZONE, heartbeat(1, 2, 1));
    two.transport.send(ZONE, heartbeat(2, 1, 1));
    await until(() => one.received.length === 1 && two.received.length === 1, 'a heartbeat each way');
    for (let attempt = 0; attempt < 100 && (await countConnections(one, two)) !== 1; attempt++) await new Promise((resolve) => setTimeout(resolve, 20));
    const data = new Uint8Array(SNAPSHOT_CHUNK_ENCODED_BYTES_MAX).fill(0x5a);
    data[0] = 1;
    data[data.length - 1] = 2;
    const chunk: ZoneMessage = {
      type: 'snapshot-chunk',
      from: 1,
      to: 2,
      term: 3,
      transferId: 1,
      snapshot: { metadata: { index: 40, term: 3, confState: { voters: [1, 2], learners: [] } }, data: new Uint8Array([2]) },
      chunk: 7,
      last: true,
      data,
    };
    const response: ZoneMessage = { type: 'snapshot-chunk-response', from: 2, to: 1, term: 3, transferId: 1, chunk: 7, reject: false };
    one.transport.send(ZONE, chunk);
    two.transport.send(ZONE, response);
    await until(() => one.received.length === 2 && two.received.length === 2, 'the chunk and its acknowledgement');
    const received = two.received[1]!;
    expect(received.type === 'snapshot-chunk' && { ...received, data: undefined }).toEqual({ ...chunk, data: undefined });
    expect(received.type === 'snapshot-chunk' && Buffer.compare(received.data, data)).toBe(0);
    expect(one.received[1]).toEqual(response);
  });

  it('sends the messages of one task when its scheduleFlush runs the flush, together and in order', async () => {
    const flushes: (() => void)[] = [];
    const one = await startNode(1, secret(7), 0, (flush) => flushes.push(flush));
    const two = await startNode(2, secret(7));
    one.transport.setPeer(ZONE, 2, two.address);
    for (let commit = 1; commit <= 3; commit++) one.transport.send(ZONE, heartbeat(1, 2, commit));
    // One flush for the three messages, and nothing leaves before it runs.
    expect(flushes).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(two.received).toEqual([]);
    flushes.shift()!();
    await until(() => two.received.length === 3, 'the three messages');
    expect(two.received).toEqual([heartbeat(1, 2, 1), heartbeat(1, 2, 2), heartbeat(1, 2, 3)]);
    one.transport.send(ZONE, heartbeat(1, 2, 4));
    expect(flushes).toHaveLength(1);
  });

  it('refuses a peer with the wrong zone secret: nothing it sends reaches the receiver', async () => {
    const one = await startNode(1, secret(7));
    const stranger = await startNode(3, secret(8));
    stranger.transport.setPeer(ZONE, 1, one.address);
    for (let attempt = 0; attempt < 5; attempt++) stranger.transport.send(ZONE, heartbeat(3, 1, attempt));
    await until(() => stranger.unreachable.length > 0, 'the stranger to give up on a connection');
    expect(stranger.log.join('\n')).toContain('did not prove that it holds the secret');
    expect(one.received).toEqual([]);
    expect(stranger.transport.peerStatus(ZONE).get(1)?.connected).toBe(false);
  });

  it('refuses a client that knows no secret, with EACCES, and delivers nothing', async () => {
    const one = await startNode(1, secret(7));
    const { socket, frames, closed } = await rawSocket(one.address);
    socket.send(encodeFrame({ kind: 'hello', zoneId: ZONE, from: 5, to: 1, clientNonce: new Uint8Array(32) }));
    await until(() => frames.length === 1, 'the challenge');
    expect(decodeFrame(frames[0]!).kind).toBe('challenge');
    socket.send(encodeFrame({ kind: 'authenticate', clientProof: new Uint8Array(32).fill(1) }));
    expect(await closed).toBe(CLOSE_CODES.policyViolation);
    expect(decodeFrame(frames[1]!)).toMatchObject({ kind: 'refused', code: 'EACCES' });
    expect(one.received).toEqual([]);
  });

  it('closes a connection that sends raft frames before the handshake', async () => {
    const one = await startNode(1, secret(7));
    const { socket, closed } = await rawSocket(one.address);
    socket.send(encodeFrame({ kind: 'raft', messages: [heartbeat(2, 1, 1)] }));
    expect(await closed).toBe(CLOSE_CODES.policyViolation);
    expect(one.received).toEqual([]);
  });

  it('closes an authenticated connection that carries a message of another pair than the one it proved', async () => {
    const one = await startNode(1, secret(7));
    const key = await importZoneKey(secret(7));
    const { socket, frames, closed } = await rawSocket(one.address);
    const clientNonce = handshakeNonce();
    socket.send(encodeFrame({ kind: 'hello', zoneId: ZONE, from: 2, to: 1, clientNonce }));
    await until(() => frames.length === 1, 'the challenge');
    const challenge = decodeFrame(frames[0]!);
    if (challenge.kind !== 'challenge') throw new Error(`expected a challenge, got ${challenge.kind}`);
    const transcript = { zoneId: ZONE, client: 2, server: 1, clientNonce, serverNonce: challenge.serverNonce };
    socket.send(encodeFrame({ kind: 'authenticate', clientProof: await handshakeProof(key, 'client', transcript) }));
    await until(() => frames.length === 2, 'the welcome');
    expect(decodeFrame(frames[1]!).kind).toBe('welcome');
    socket.send(encodeFrame({ kind: 'raft', messages: [heartbeat(2, 1, 1)] }));
    await until(() => one.received.length === 1, 'the proved pair to get through');
    socket.send(encodeFrame({ kind: 'raft', messages: [heartbeat(3, 1, 2)] }));
    expect(await closed).toBe(CLOSE_CODES.policyViolation);
    expect(one.received).toEqual([heartbeat(2, 1, 1)]);
  });

  it('closes a connection that sends a malformed or wrong-version frame, and keeps serving', async () => {
    const one = await startNode(1, secret(7));
    for (const bad of [new Uint8Array([0xc1, 0x00]), packValue([99, 1]), packValue('hello')]) {
      const { socket, closed } = await rawSocket(one.address);
      socket.send(bad);
      expect(await closed).toBe(CLOSE_CODES.invalidData);
    }
    const text = await rawSocket(one.address);
    text.socket.send('not binary');
    expect(await text.closed).toBe(CLOSE_CODES.invalidData);
    const two = await startNode(2, secret(7));
    two.transport.setPeer(ZONE, 1, one.address);
    two.transport.send(ZONE, heartbeat(2, 1, 1));
    await until(() => one.received.length === 1, 'a good peer to get through');
  });

  it('refuses a hello for another zone or node with ENOENT', async () => {
    const one = await startNode(1, secret(7));
    for (const hello of [
      { zoneId: 'other-zone', to: 1 },
      { zoneId: ZONE, to: 4 },
    ]) {
      const { socket, frames, closed } = await rawSocket(one.address);
      socket.send(encodeFrame({ kind: 'hello', from: 2, clientNonce: new Uint8Array(32), ...hello }));
      expect(await closed).toBe(CLOSE_CODES.policyViolation);
      expect(decodeFrame(frames[0]!)).toMatchObject({ kind: 'refused', code: 'ENOENT' });
    }
  });

  it('bounds the queue of a peer it cannot reach, dropping and counting the excess', async () => {
    const one = await startNode(1, secret(7));
    // Node 2 has no address: its frames wait (bounded) in case it dials us.
    for (let frame = 0; frame < SEND_QUEUE_FRAMES_MAX + 10; frame++) {
      one.transport.send(ZONE, heartbeat(1, 2, frame));
      await Promise.resolve(); // One frame per microtask flush.
    }
    await Promise.resolve();
    expect(one.transport.peerStatus(ZONE).get(2)).toEqual({ connected: false, queuedFrames: SEND_QUEUE_FRAMES_MAX, droppedFrames: 10 });
    // When node 2 dials in, the queue drains to it, oldest first.
    const two = await startNode(2, secret(7));
    two.transport.setPeer(ZONE, 1, one.address);
    two.transport.send(ZONE, heartbeat(2, 1, 0));
    await until(() => two.received.length === SEND_QUEUE_FRAMES_MAX, 'the queued frames');
    expect((two.received[0] as { commit: number }).commit).toBe(0);
    expect(one.transport.peerStatus(ZONE).get(2)?.queuedFrames).toBe(0);
  });

  it('reconnects with backoff after the peer restarts', async () => {
    const one = await startNode(1, secret(7));
    let two = await startNode(2, secret(7));
    const port = Number(new URL(two.address).port);
    one.transport.setPeer(ZONE, 2, two.address);
    one.transport.send(ZONE, heartbeat(1, 2, 1));
    await until(() => two.received.length === 1, 'the first message');
    await two.stop();
    one.transport.send(ZONE, heartbeat(1, 2, 2));
    await until(() => one.unreachable.includes(2), 'the lost peer to be reported');
    two = await startNode(2, secret(7), port);
    // Raft keeps sending (heartbeats); the queued message and the new ones get through.
    await until(() => {
      one.transport.send(ZONE, heartbeat(1, 2, 3));
      return two.received.some((message) => (message as { commit: number }).commit === 3);
    }, 'messages to reach the restarted peer');
  });
});

/** TCP connections open on both nodes' servers: each peer connection is accepted by one of them. */
async function countConnections(...nodes: TestNode[]): Promise<number> {
  const counts = await Promise.all(
    nodes.map((node) => new Promise<number>((resolve, reject) => node.server.getConnections((error, count) => (error ? reject(error) : resolve(count))))),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}
