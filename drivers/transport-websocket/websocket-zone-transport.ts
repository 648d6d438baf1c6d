import { assert } from '../../kernel/assert.ts';
import type { ZoneMessage, ZoneTransport, ZoneTransportRegistration } from '../../kernel/contracts/zone-transport.ts';
import { AccessDeniedError, BusyError, ClosedError, InvalidArgumentError, NotFoundError } from '../../kernel/errors.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { assertNodeId, assertNodePublicKey, assertPeerAddress, assertZoneId } from '../../kernel/zone/zone-id.ts';
import type { Frame } from './frame-codec.ts';
import { CLOSE_CODES, FrameSocket } from './frame-socket.ts';
import { FRAME_BYTES_MAX, HANDSHAKE_TIMEOUT_MS, HANDSHAKES_IN_PROGRESS_MAX, ZONE_SECRET_BYTES } from './limits.ts';
import { PeerChannel, type PeerChannelStatus } from './peer-channel.ts';
import { importNodePublicKey } from './node-key.ts';
import {
  handshakeNonce,
  handshakeProof,
  handshakeSignature,
  importZoneKey,
  removalProof,
  removalSignature,
  verifyHandshakeProof,
  verifyHandshakeSignature,
  verifyRemovalProof,
  verifyRemovalSignature,
  type HandshakeTranscript,
} from './peer-handshake.ts';

/** The path under a node's address where peers open their WebSocket. */
export const RAFT_SOCKET_PATH = '/zone/v1/raft';

/** Opens a client WebSocket; the default is the runtime's WebSocket, or the `ws` package in Node. */
export type WebSocketFactory = (url: string) => Promise<WebSocket>;

export interface WebSocketZoneTransportOptions {
  /** Where connection events go (lost peers, refused handshakes); silent by default. */
  readonly log?: (line: string) => void;
  readonly openWebSocket?: WebSocketFactory;
  /**
   * When the messages sent to a peer during one task go out, coalesced into one frame:
   * `queueMicrotask` by default, once the task's current promise jobs have run. A Node server
   * passes `setImmediate`, so that they go out after all of them: a leader then answers its
   * clients and starts its own log write before it writes to its peers' sockets, each of which
   * can hand the CPU to the peer process it wakes.
   */
  readonly scheduleFlush?: (flush: () => void) => void;
}

interface ZoneEntry {
  readonly key: Promise<CryptoKey>;
  /** This node's private key: it signs this node's side of each handshake. */
  readonly nodeKey: CryptoKey;
  /** Each member's public key, as setPeer gave it: a connection claiming that node id must sign with it. */
  readonly peerKeys: Map<NodeId, Promise<CryptoKey>>;
  /** The public keys of the nodes the zone's state records as removed (setRemovedPeer): such a node is told so. */
  readonly removedKeys: Map<NodeId, Promise<CryptoKey>>;
  registration: ZoneTransportRegistration | undefined;
  /** Addresses given by setPeer, kept across registrations. */
  readonly addresses: Map<NodeId, string>;
  /** Channels exist while a receiver is registered. */
  readonly peers: Map<NodeId, PeerChannel>;
}

/**
 * ZoneTransport over WebSocket (see kernel/contracts/zone-transport.ts for the contract).
 *
 * A node's address is its HTTP base URL (`http://127.0.0.1:7001`, the same one its ZoneApi
 * serves); peers open `ws://…/zone/v1/raft` there. Every connection belongs to one zone and one
 * pair of nodes, and is authenticated by the handshake in peer-handshake.ts before any raft frame
 * crosses it: both sides prove they hold the zone's secret (`trustZone`) and that they are the
 * node ids they claim, by signing with the private key whose public key the zone's membership
 * records for that id (`setPeer`). A connection that fails the handshake is refused (EACCES) and
 * closed, and nothing it sent reaches a receiver; so is one claiming a node id with no recorded
 * key. An open connection that carries a message from or to another node than the pair it
 * authenticated is refused with EACCES, and nothing of that frame is delivered.
 *
 * A removed node (`setRemovedPeer`, from the zone's removal records) that dials and proves the
 * zone secret and its key is answered with a `removed` frame instead of a welcome, and closed: it
 * was cut off when it was removed and never got the last append that would have told it (etcd
 * answers such a member "410 Gone"). The dialing side believes it only with a valid removal proof
 * and signature of the member it dialed (peer-handshake.ts), then tells its registration
 * (`removed`); without them it is one more refused dial.
 *
 * The server side is runtime glue: whatever accepts the WebSocket upgrade (node-upgrade.ts for
 * Node's http server) hands the socket to `acceptSocket`.
 */
export class WebSocketZoneTransport implements ZoneTransport {
  readonly #zones = new Map<string, ZoneEntry>();
  readonly #log: (line: string) => void;
  readonly #openWebSocket: WebSocketFactory;
  readonly #scheduleFlush: (flush: () => void) => void;
  readonly #handshaking = new Set<FrameSocket>();
  #closed = false;

  constructor(options: WebSocketZoneTransportOptions = {}) {
    this.#log = options.log ?? (() => {});
    this.#openWebSocket = options.openWebSocket ?? openRuntimeWebSocket;
    this.#scheduleFlush = options.scheduleFlush ?? ((flush) => queueMicrotask(flush));
  }

  /**
   * Makes this transport serve `zoneId`, whose members prove they hold `zoneSecret`; this node
   * proves its node id with `nodeKey`, the private half of the key recorded in its member record.
   */
  trustZone(zoneId: string, zoneSecret: Uint8Array, nodeKey: CryptoKey): void {
    this.#assertOpen('trust a zone');
    assertZoneId(zoneId);
    if (!(zoneSecret instanceof Uint8Array) || zoneSecret.byteLength !== ZONE_SECRET_BYTES) {
      throw new InvalidArgumentError(`a zone secret must be ${ZONE_SECRET_BYTES} bytes`);
    }
    if (!(nodeKey instanceof CryptoKey) || nodeKey.type !== 'private' || nodeKey.algorithm.name !== 'Ed25519') {
      throw new InvalidArgumentError('a node key must be an Ed25519 private CryptoKey (see node-key.ts)');
    }
    if (this.#zones.has(zoneId)) throw new BusyError(`zone ${zoneId} is already served by this transport`);
    const key = importZoneKey(zoneSecret);
    key.catch(() => {}); // Awaited where used; this only keeps a rejection from going unhandled.
    this.#zones.set(zoneId, { key, nodeKey, peerKeys: new Map(), removedKeys: new Map(), registration: undefined, addresses: new Map(), peers: new Map() });
  }

  listen(registration: ZoneTransportRegistration): () => void {
    this.#assertOpen('listen');
    assertZoneId(registration.zoneId);
    assertNodeId(registration.nodeId);
    const zone = this.#zones.get(registration.zoneId);
    if (zone === undefined) throw new NotFoundError(`cannot listen on zone ${registration.zoneId}: its secret was not given to this transport (trustZone)`);
    if (zone.registration !== undefined) throw new BusyError(`zone ${registration.zoneId} already has a receiver on this node`);
    zone.registration = registration;
    return () => {
      if (zone.registration !== registration) return;
      zone.registration = undefined;
      for (const peer of zone.peers.values()) peer.close();
      zone.peers.clear();
    };
  }

  send(zoneId: string, message: ZoneMessage): void {
    if (this.#closed) return;
    const zone = this.#zones.get(zoneId);
    if (zone?.registration === undefined || message.from !== zone.registration.nodeId) return;
    this.#channel(zoneId, zone, message.to).send(message);
  }

  setPeer(zoneId: string, nodeId: NodeId, address: string, publicKey?: Uint8Array): void {
    this.#assertOpen('set a peer');
    assertZoneId(zoneId);
    assertNodeId(nodeId);
    assertPeerAddress(address);
    if (publicKey !== undefined) assertNodePublicKey(publicKey);
    const url = raftSocketUrl(address);
    const zone = this.#zones.get(zoneId);
    if (zone === undefined) throw new NotFoundError(`cannot set a peer of zone ${zoneId}: its secret was not given to this transport (trustZone)`);
    if (publicKey === undefined) {
      zone.peerKeys.delete(nodeId);
    } else {
      const key = importNodePublicKey(publicKey);
      key.catch(() => {}); // Awaited where used; this only keeps a rejection from going unhandled.
      zone.peerKeys.set(nodeId, key);
    }
    zone.addresses.set(nodeId, url);
    zone.peers.get(nodeId)?.setAddress(url);
  }

  setRemovedPeer(zoneId: string, nodeId: NodeId, publicKey: Uint8Array): void {
    this.#assertOpen('set a removed peer');
    assertZoneId(zoneId);
    assertNodeId(nodeId);
    assertNodePublicKey(publicKey);
    const zone = this.#zones.get(zoneId);
    if (zone === undefined) throw new NotFoundError(`cannot set a removed peer of zone ${zoneId}: its secret was not given to this transport (trustZone)`);
    if (zone.removedKeys.has(nodeId)) return;
    const key = importNodePublicKey(publicKey);
    key.catch(() => {}); // Awaited where used; this only keeps a rejection from going unhandled.
    zone.removedKeys.set(nodeId, key);
  }

  connect(zoneId: string, nodeId: NodeId): void {
    if (this.#closed) return;
    const zone = this.#zones.get(zoneId);
    if (zone?.registration === undefined || nodeId === zone.registration.nodeId || !zone.addresses.has(nodeId)) return;
    this.#channel(zoneId, zone, nodeId).connect();
  }

  removePeer(zoneId: string, nodeId: NodeId): void {
    const zone = this.#zones.get(zoneId);
    zone?.addresses.delete(nodeId);
    zone?.peerKeys.delete(nodeId);
    zone?.peers.get(nodeId)?.close();
    zone?.peers.delete(nodeId);
  }

  /** Per peer of `zoneId`: connected or not, frames queued and dropped. */
  peerStatus(zoneId: string): Map<NodeId, PeerChannelStatus> {
    const peers = this.#zones.get(zoneId)?.peers ?? new Map<NodeId, PeerChannel>();
    return new Map([...peers].map(([id, peer]) => [id, peer.status()]));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of this.#handshaking) socket.close(CLOSE_CODES.goingAway, 'transport closed');
    for (const zone of this.#zones.values()) {
      for (const peer of zone.peers.values()) peer.close();
    }
    this.#zones.clear();
  }

  /**
   * The server side of one connection a peer opened: runs the handshake, then hands the socket to
   * the channel of the peer it authenticated. Never throws; a refused socket is closed with a
   * `refused` frame saying why (EACCES for a failed proof, ENOENT for a zone or node not here).
   */
  acceptSocket(socket: WebSocket): void {
    const frameSocket = new FrameSocket(socket);
    if (this.#closed) {
      frameSocket.close(CLOSE_CODES.goingAway, 'transport closed');
      return;
    }
    if (this.#handshaking.size >= HANDSHAKES_IN_PROGRESS_MAX) {
      frameSocket.close(CLOSE_CODES.policyViolation, `more than ${HANDSHAKES_IN_PROGRESS_MAX} handshakes in progress`);
      return;
    }
    this.#handshaking.add(frameSocket);
    this.#serverHandshake(frameSocket)
      .catch((error: unknown) => {
        this.#log(`refused a peer connection: ${error instanceof Error ? error.message : String(error)}`);
        if (error instanceof AccessDeniedError || error instanceof NotFoundError || error instanceof InvalidArgumentError) frameSocket.refuse(error);
        else frameSocket.close(CLOSE_CODES.protocolError, error instanceof Error ? error.message : String(error));
      })
      .finally(() => this.#handshaking.delete(frameSocket));
  }

  async #serverHandshake(socket: FrameSocket): Promise<void> {
    const hello = expectFrame(await socket.nextFrame(HANDSHAKE_TIMEOUT_MS), 'hello');
    const zone = this.#zones.get(hello.zoneId);
    const registration = zone?.registration;
    if (zone === undefined || registration === undefined) throw new NotFoundError(`zone ${hello.zoneId} is not served here`);
    if (hello.to !== registration.nodeId) throw new NotFoundError(`node ${hello.to} of zone ${hello.zoneId} is not here (this is node ${registration.nodeId})`);
    if (hello.from === hello.to) throw new InvalidArgumentError(`node ${hello.from} cannot connect to itself`);
    // A removal recorded in the zone's state wins: the member record of that node is gone, or soon.
    const removedKey = zone.removedKeys.get(hello.from);
    const clientKey = removedKey ?? zone.peerKeys.get(hello.from);
    if (clientKey === undefined) throw new AccessDeniedError(`node ${hello.from} has no public key recorded in zone ${hello.zoneId} here: it cannot prove its node id`);
    const key = await zone.key;
    const transcript: HandshakeTranscript = {
      zoneId: hello.zoneId,
      client: hello.from,
      server: hello.to,
      clientNonce: hello.clientNonce,
      serverNonce: handshakeNonce(),
    };
    socket.send({
      kind: 'challenge',
      serverNonce: transcript.serverNonce,
      serverProof: await handshakeProof(key, 'server', transcript),
      serverSignature: await handshakeSignature(zone.nodeKey, 'server', transcript),
    });
    const authenticate = expectFrame(await socket.nextFrame(HANDSHAKE_TIMEOUT_MS), 'authenticate');
    if (!(await verifyHandshakeProof(key, 'client', transcript, authenticate.clientProof))) {
      throw new AccessDeniedError(`node ${hello.from} did not prove that it holds the secret of zone ${hello.zoneId}`);
    }
    if (!(await verifyHandshakeSignature(await clientKey, 'client', transcript, authenticate.clientSignature))) {
      throw new AccessDeniedError(`a peer claiming node ${hello.from} of zone ${hello.zoneId} did not sign with that node's key`);
    }
    if (this.#closed || zone.registration !== registration) throw new NotFoundError(`zone ${hello.zoneId} stopped being served here`);
    if (removedKey !== undefined) {
      this.#log(`zone ${hello.zoneId}: told node ${hello.from} that it was removed from the zone`);
      socket.send({ kind: 'removed', removalProof: await removalProof(key, transcript), removalSignature: await removalSignature(zone.nodeKey, transcript) });
      socket.close(CLOSE_CODES.policyViolation, 'removed from the zone');
      return;
    }
    this.#openConnection(socket, registration, hello.from);
    socket.send({ kind: 'welcome' });
    this.#channel(hello.zoneId, zone, hello.from).acceptIncoming(socket);
  }

  /** The client side: dial, prove, and hand back an open connection for `registration`'s node. */
  async #dial(url: string, zoneId: string, peer: NodeId): Promise<FrameSocket> {
    const zone = this.#zones.get(zoneId);
    const registration = zone?.registration;
    if (zone === undefined || registration === undefined) throw new ClosedError(`zone ${zoneId} is no longer served here`);
    const socket = new FrameSocket(await this.#openWebSocket(url));
    try {
      await withTimeout(socket.opened(), HANDSHAKE_TIMEOUT_MS, 'connecting');
      const clientNonce = handshakeNonce();
      socket.send({ kind: 'hello', zoneId, from: registration.nodeId, to: peer, clientNonce });
      const challenge = await socket.nextFrame(HANDSHAKE_TIMEOUT_MS);
      if (challenge.kind === 'refused') throw new Error(`refused: ${challenge.code} ${challenge.message}`);
      const { serverNonce, serverProof, serverSignature } = expectFrame(challenge, 'challenge');
      const transcript: HandshakeTranscript = { zoneId, client: registration.nodeId, server: peer, clientNonce, serverNonce };
      const key = await zone.key;
      if (!(await verifyHandshakeProof(key, 'server', transcript, serverProof))) {
        throw new Error(`the server at ${url} did not prove that it holds the secret of zone ${zoneId}`);
      }
      const serverKey = zone.peerKeys.get(peer);
      if (serverKey === undefined) throw new Error(`node ${peer} of zone ${zoneId} has no public key recorded here: it cannot prove its node id`);
      if (!(await verifyHandshakeSignature(await serverKey, 'server', transcript, serverSignature))) {
        throw new Error(`the server at ${url} did not sign with the key of node ${peer} of zone ${zoneId}`);
      }
      socket.send({
        kind: 'authenticate',
        clientProof: await handshakeProof(key, 'client', transcript),
        clientSignature: await handshakeSignature(zone.nodeKey, 'client', transcript),
      });
      const answer = await socket.nextFrame(HANDSHAKE_TIMEOUT_MS);
      if (answer.kind === 'refused') throw new Error(`refused: ${answer.code} ${answer.message}`);
      if (answer.kind === 'removed') {
        const proven =
          (await verifyRemovalProof(key, transcript, answer.removalProof)) && (await verifyRemovalSignature(await serverKey, transcript, answer.removalSignature));
        if (!proven) throw new Error(`the server at ${url} said node ${registration.nodeId} was removed from zone ${zoneId}, without a valid proof: ignored`);
        const removed = `node ${peer} proved that node ${registration.nodeId} was removed from zone ${zoneId}`;
        this.#log(removed);
        if (!this.#closed && zone.registration === registration) registration.removed?.(peer);
        throw new ClosedError(removed);
      }
      expectFrame(answer, 'welcome');
      this.#openConnection(socket, registration, peer);
      return socket;
    } catch (error) {
      socket.close(CLOSE_CODES.policyViolation, 'handshake failed');
      throw error;
    }
  }

  /** Delivers what an authenticated connection carries, as long as it names the pair it proved. */
  #openConnection(socket: FrameSocket, registration: ZoneTransportRegistration, peer: NodeId): void {
    socket.deliverRaftTo((messages) => {
      const stray = messages.find((message) => message.from !== peer || message.to !== registration.nodeId);
      if (stray !== undefined) {
        socket.refuse(new AccessDeniedError(`a ${stray.type} message from node ${stray.from} to node ${stray.to} on the connection node ${peer} authenticated to node ${registration.nodeId}`));
        return;
      }
      for (const message of messages) this.#deliver(registration, message);
    });
  }

  #deliver(registration: ZoneTransportRegistration, message: ZoneMessage): void {
    const zone = this.#zones.get(registration.zoneId);
    if (this.#closed || zone?.registration !== registration) return;
    try {
      registration.receive(message);
    } catch (error) {
      this.#log(`the receiver of zone ${registration.zoneId} threw on a ${message.type} message: ${String(error)}`);
    }
  }

  #channel(zoneId: string, zone: ZoneEntry, peer: NodeId): PeerChannel {
    let channel = zone.peers.get(peer);
    if (channel === undefined) {
      const registration = zone.registration;
      assert(registration !== undefined, 'a channel needs a registered local node');
      channel = new PeerChannel({
        localNodeId: registration.nodeId,
        peerNodeId: peer,
        dial: (url) => this.#dial(url, zoneId, peer),
        onUnreachable: () => registration.unreachable?.(peer),
        log: (line) => this.#log(`zone ${zoneId}: ${line}`),
        scheduleFlush: this.#scheduleFlush,
      });
      channel.setAddress(zone.addresses.get(peer));
      zone.peers.set(peer, channel);
    }
    return channel;
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new ClosedError(`cannot ${operation}: the zone transport is closed`);
  }
}

/** `http://host:port` (a node's address) or `ws://…` to the URL of its raft socket. */
export function raftSocketUrl(address: string): string {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new InvalidArgumentError(`invalid peer address ${JSON.stringify(address)}: expected an http://, https://, ws:// or wss:// URL`);
  }
  const schemes: Record<string, string> = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
  const scheme = schemes[url.protocol];
  if (scheme === undefined) throw new InvalidArgumentError(`invalid peer address ${JSON.stringify(address)}: expected an http://, https://, ws:// or wss:// URL`);
  return `${scheme}//${url.host}${RAFT_SOCKET_PATH}`;
}

function expectFrame<K extends Frame['kind']>(frame: Frame, kind: K): Extract<Frame, { kind: K }> {
  if (frame.kind !== kind) throw new InvalidArgumentError(`expected a ${kind} frame in the handshake, got ${frame.kind}`);
  return frame as Extract<Frame, { kind: K }>;
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The runtime's standard WebSocket (Deno, browsers, Node 22+), else the `ws` package (Node 20). */
async function openRuntimeWebSocket(url: string): Promise<WebSocket> {
  if (typeof globalThis.WebSocket === 'function') return new globalThis.WebSocket(url);
  const { WebSocket: NodeWebSocket } = await import('ws');
  return new NodeWebSocket(url, { maxPayload: FRAME_BYTES_MAX }) as unknown as WebSocket;
}
