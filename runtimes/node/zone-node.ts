import { createServer, type RequestListener, type Server } from 'node:http';
import { join } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { openFileKvStore } from '../../drivers/node-fs/file-kv-store.ts';
import { createZoneSecret, formatJoinToken, parseJoinToken } from '../../drivers/transport-websocket/join-token.ts';
import { serveZoneTransport } from '../../drivers/transport-websocket/node-upgrade.ts';
import { createZoneApi, createZoneApiCore, nodeStatusOf, type ZoneNodeStatus } from '../../drivers/transport-websocket/zone-api-app.ts';
import { exportNodeKeyPair, generateNodeKeyPair, importNodeKeyPair } from '../../drivers/transport-websocket/node-key.ts';
import { ZoneApiClient } from '../../drivers/transport-websocket/zone-api-client.ts';
import { WebSocketZoneTransport } from '../../drivers/transport-websocket/websocket-zone-transport.ts';
import { assert } from '../../kernel/assert.ts';
import { AlreadyExistsError, BusyError, InvalidArgumentError } from '../../kernel/errors.ts';
import { WRITE_BUFFER_BYTES_MAX } from '../../kernel/kv/constants.ts';
import type { KvStore } from '../../kernel/kv/kv-store-types.ts';
import { ELECTION_TIMEOUT_TICKS_DEFAULT } from '../../kernel/raft/constants.ts';
import { KvRaftStorage } from '../../kernel/raft/kv-raft-storage.ts';
import { SeededRandom } from '../../kernel/raft/random.ts';
import { ZONE_RAFT_KEY_PREFIX } from '../../kernel/zone/constants.ts';
import { ZoneReplica } from '../../kernel/zone/zone-replica.ts';
import { assertZoneId } from '../../kernel/zone/zone-id.ts';
import { IntervalTicker } from './interval-ticker.ts';
import { zoneApiListener } from './zone-api-listener.ts';
import {
  hasNodeIdentity,
  NODE_IDENTITY_FORMAT_VERSION,
  readNodeIdentity,
  storedMember,
  writeNodeIdentity,
  zoneMember,
  ZONE_STORE_FILE,
  type NodeIdentity,
} from './node-identity.ts';
import { ZoneProfile } from './zone-profile.ts';

/** Milliseconds between Raft ticks: with 10 ticks per election timeout, elections take 1-2 s. */
export const TICK_INTERVAL_MS_DEFAULT = 100;

/**
 * How long `joinZone` waits for the leader to promote the new node from learner to voter (it does
 * once the node has caught up). Past it the node keeps serving as a learner and is promoted later.
 */
export const JOIN_PROMOTION_WAIT_MS_MAX = 60_000;

/**
 * The write buffer sizes (KvStoreOptions.writeBufferBytes) of a zone's nodes, by node id: node 1
 * the KV engine's default, node 2 the second, node 3 the third, node 4 the first again, and so on.
 *
 * Why they differ: the replicas of a zone write the same bytes, so stores of one size reach their
 * checkpoint at the same moment, and a checkpoint's merge holds its node's event loop (100-400 ms
 * in bench:raft at 256 clients, where all three merged within a few ms of each other on a 2-core
 * host). Then no majority answers, and on a shared host the three merges compete for the CPU.
 * Staggered, a stalled follower costs nothing while the leader and the other follower go on. The
 * smaller sizes fire before the commit log's 16 MiB (COMMIT_LOG_CHECKPOINT_BYTES), which checkpoints
 * the default-sized store first in that bench (about 20 MiB of buffer), and are apart from it and
 * from each other by more than a merge's share of a checkpoint interval for several intervals.
 */
export const ZONE_WRITE_BUFFER_BYTES: readonly number[] = [WRITE_BUFFER_BYTES_MAX, 15 * 1024 * 1024, 11 * 1024 * 1024];

/** The write buffer size of node `nodeId`'s store (ZONE_WRITE_BUFFER_BYTES). */
export function zoneWriteBufferBytes(nodeId: number): number {
  return ZONE_WRITE_BUFFER_BYTES[(nodeId - 1) % ZONE_WRITE_BUFFER_BYTES.length]!;
}

export interface ZoneNodeTiming {
  /** Milliseconds per tick (TICK_INTERVAL_MS_DEFAULT). */
  readonly tickIntervalMs?: number;
  /** Ticks per base election timeout (ELECTION_TIMEOUT_TICKS_DEFAULT). */
  readonly electionTimeoutTicks?: number;
  /**
   * Applied entries between snapshots, entries each snapshot leaves in the log for followers just
   * behind it, and bytes per snapshot chunk (ZoneReplicaOptions; tests lower them).
   */
  readonly snapshotIntervalEntries?: number;
  readonly snapshotCatchUpEntries?: number;
  readonly snapshotChunkBytes?: number;
  /** Report the replica's loop profile every this many milliseconds (zone-profile.ts); off when absent. */
  readonly profileIntervalMs?: number;
}

/**
 * Refuses a malformed timing with InvalidArgumentError (EINVAL) naming the option, before the node
 * touches its data directory or the zone: a join must not add a member that then fails to start.
 */
export function checkZoneNodeTiming(timing: ZoneNodeTiming): void {
  const positive = ['tickIntervalMs', 'electionTimeoutTicks', 'snapshotIntervalEntries', 'snapshotChunkBytes', 'profileIntervalMs'] as const;
  for (const name of positive) {
    const value = timing[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) throw new InvalidArgumentError(`invalid ${name} ${String(value)}: expected a positive integer`);
  }
  const catchUpEntries = timing.snapshotCatchUpEntries;
  if (catchUpEntries !== undefined && !(Number.isSafeInteger(catchUpEntries) && catchUpEntries >= 0)) {
    throw new InvalidArgumentError(`invalid snapshotCatchUpEntries ${String(catchUpEntries)}: expected a non-negative integer`);
  }
}

export interface CreateZoneOptions extends ZoneNodeTiming {
  readonly dataDir: string;
  /** `host:port` to serve the ZoneApi and the raft socket on; the port must be given. */
  readonly listen: string;
  /** A zone id; a random one (`zone-` + 8 hex digits) by default. */
  readonly zoneId?: string;
  readonly log?: (line: string) => void;
}

export interface JoinZoneOptions extends ZoneNodeTiming {
  readonly dataDir: string;
  readonly listen: string;
  /** The address of any member, `http://host:port`. */
  readonly peer: string;
  readonly token: string;
  /** How long to wait for the promotion to voter before returning a learner (JOIN_PROMOTION_WAIT_MS_MAX; tests lower it). */
  readonly promotionWaitMs?: number;
  readonly log?: (line: string) => void;
}

export interface StartZoneOptions extends ZoneNodeTiming {
  readonly dataDir: string;
  readonly log?: (line: string) => void;
}

/**
 * A running zone node: the zone replica on its data directory (KvStore with its commit log, raft
 * log in the same store through KvRaftStorage), the WebSocket ZoneTransport and the ZoneApi on one
 * HTTP port, and a ticker on a real timer. `close()` stops it cleanly; a `kill -9` loses nothing
 * acknowledged, since every acknowledged write is durable on a majority.
 */
export interface ZoneNode {
  readonly identity: NodeIdentity;
  readonly replica: ZoneReplica;
  close(): Promise<void>;
}

/** `nexus zone create`: a new zone with this node as its only member. */
export async function createZone(options: CreateZoneOptions): Promise<ZoneNode> {
  checkZoneNodeTiming(options);
  const zoneId = options.zoneId ?? `zone-${randomHex(4)}`;
  assertZoneId(zoneId);
  const address = addressOf(options.listen);
  const token = formatJoinToken({ zoneId, zoneSecret: createZoneSecret() });
  const keyPair = await generateNodeKeyPair();
  const identity: NodeIdentity = {
    formatVersion: NODE_IDENTITY_FORMAT_VERSION,
    zoneId,
    nodeId: 1,
    token,
    nodeKey: await exportNodeKeyPair(keyPair),
    address,
    bootstrapMembers: [storedMember({ nodeId: 1, address, publicKey: keyPair.publicKey })],
  };
  return await withListener(address, async (listener) => {
    await writeNodeIdentity(options.dataDir, identity);
    const node = await startNode(options.dataDir, identity, options, listener);
    try {
      // The zone's only voter elects itself now instead of after an election timeout, and leads
      // before create returns: a `zone join` sent as soon as the token is printed finds a leader
      // (it failed with EBUSY "no leader" when it came within the timeout).
      await node.replica.campaign();
      await node.replica.readBarrier();
    } catch (error) {
      await node.close();
      throw error;
    }
    return node;
  });
}

/** `nexus zone join`: asks a member to add this node, then starts it. */
export async function joinZone(options: JoinZoneOptions): Promise<ZoneNode> {
  checkZoneNodeTiming(options);
  const { zoneId } = parseJoinToken(options.token);
  const address = addressOf(options.listen);
  if (await hasNodeIdentity(options.dataDir)) {
    throw new AlreadyExistsError(`${options.dataDir} already holds a zone node: start it with \`nexus zone start --data ${options.dataDir}\``);
  }
  // Listen first: a port in use fails here, before the zone counts this node as a member.
  return await withListener(address, async (listener) => {
    const keyPair = await generateNodeKeyPair();
    const answer = await new ZoneApiClient(options.peer, options.token).join(address, keyPair.publicKey);
    if (answer.zoneId !== zoneId) throw new InvalidArgumentError(`${options.peer} serves zone ${answer.zoneId}, not ${zoneId}`);
    const identity: NodeIdentity = {
      formatVersion: NODE_IDENTITY_FORMAT_VERSION,
      zoneId,
      nodeId: answer.nodeId,
      token: options.token,
      nodeKey: await exportNodeKeyPair(keyPair),
      address,
      peers: answer.members.map(storedMember),
    };
    await writeNodeIdentity(options.dataDir, identity);
    const node = await startNode(options.dataDir, identity, options, listener);
    // The zone added this node as a learner: the join is done once the leader has promoted it.
    await waitForPromotion(node, options.tickIntervalMs ?? TICK_INTERVAL_MS_DEFAULT, options.promotionWaitMs ?? JOIN_PROMOTION_WAIT_MS_MAX);
    return node;
  });
}

/** True once `node` is a voter in its own view of the zone's membership. */
export function isVoter(node: ZoneNode): boolean {
  return node.replica.status().members.some((member) => member.nodeId === node.identity.nodeId && member.role === 'voter');
}

/** Polls the node's membership at its tick interval until it is a voter, for at most `waitMs`. */
async function waitForPromotion(node: ZoneNode, tickIntervalMs: number, waitMs: number): Promise<void> {
  assert(waitMs >= 0 && waitMs <= JOIN_PROMOTION_WAIT_MS_MAX, `a promotion wait of ${waitMs} ms`);
  const polls = Math.ceil(waitMs / tickIntervalMs);
  for (let poll = 0; poll < polls && !isVoter(node); poll++) {
    await new Promise<void>((resolve) => setTimeout(resolve, tickIntervalMs));
  }
}

/** `nexus zone start`: restarts a node from its data directory. */
export async function startZone(options: StartZoneOptions): Promise<ZoneNode> {
  checkZoneNodeTiming(options);
  const identity = await readNodeIdentity(options.dataDir);
  return await withListener(identity.address, async (listener) => await startNode(options.dataDir, identity, options, listener));
}

/** Listens on `address` and starts the node behind it with `start`; a failed start closes the listener. */
async function withListener(address: string, start: (listener: Listener) => Promise<ZoneNode>): Promise<ZoneNode> {
  const listener = await listen(address);
  try {
    return await start(listener);
  } catch (error) {
    await listener.close();
    throw error;
  }
}

async function startNode(
  dataDir: string,
  identity: NodeIdentity,
  options: ZoneNodeTiming & { log?: (line: string) => void },
  listener: Listener,
): Promise<ZoneNode> {
  const log = options.log ?? (() => {});
  const tickIntervalMs = options.tickIntervalMs ?? TICK_INTERVAL_MS_DEFAULT;
  const electionTimeoutTicks = options.electionTimeoutTicks ?? ELECTION_TIMEOUT_TICKS_DEFAULT;
  const token = parseJoinToken(identity.token);
  const keyPair = await importNodeKeyPair(identity.nodeKey);
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) await close().catch((error: unknown) => log(`while closing: ${String(error)}`));
  };
  try {
    // With its commit log: a durable persist is one append and one sync of the log file.
    const store: KvStore = await openFileKvStore(join(dataDir, ZONE_STORE_FILE), {
      writeBufferBytes: zoneWriteBufferBytes(identity.nodeId),
      pacedCheckpoints: true,
    });
    closers.push(() => store.close());
    const raftStorage = await KvRaftStorage.open(store, { keyPrefix: ZONE_RAFT_KEY_PREFIX });
    closers.push(() => raftStorage.close());
    // Raft frames leave after the task's promise jobs: answers to clients and the start of this
    // node's own log write come first (see WebSocketZoneTransportOptions.scheduleFlush).
    const transport = new WebSocketZoneTransport({ log: (line) => log(`transport: ${line}`), scheduleFlush: (flush) => setImmediate(flush) });
    transport.trustZone(identity.zoneId, token.zoneSecret, keyPair.privateKey);
    closers.push(() => transport.close());
    const ticker = new IntervalTicker(tickIntervalMs);
    closers.push(async () => ticker.stop());
    const profile = options.profileIntervalMs === undefined ? undefined : new ZoneProfile({ intervalMs: options.profileIntervalMs, log });
    if (profile !== undefined) closers.push(async () => profile.stop());
    const replica = await ZoneReplica.open({
      zoneId: identity.zoneId,
      nodeId: identity.nodeId,
      store,
      raftStorage,
      transport,
      ticker,
      random: new SeededRandom(crypto.getRandomValues(new Uint32Array(1))[0]!),
      electionTimeoutTicks,
      ...(options.snapshotIntervalEntries === undefined ? {} : { snapshotIntervalEntries: options.snapshotIntervalEntries }),
      ...(options.snapshotCatchUpEntries === undefined ? {} : { snapshotCatchUpEntries: options.snapshotCatchUpEntries }),
      ...(options.snapshotChunkBytes === undefined ? {} : { snapshotChunkBytes: options.snapshotChunkBytes }),
      ...(identity.bootstrapMembers === undefined ? {} : { bootstrap: { members: identity.bootstrapMembers.map(zoneMember) } }),
      ...(identity.peers === undefined ? {} : { peers: identity.peers.map(zoneMember) }),
      logger: { info: (line) => log(`raft: ${line}`) },
      ...(profile === undefined ? {} : { profiler: profile }),
    });
    closers.push(() => replica.close());
    const status = (): ZoneNodeStatus => ({
      ...nodeStatusOf(replica.status()),
      ticks: ticker.ticks,
      tickIntervalMs,
      electionTimeoutTicks,
      peers: [...transport.peerStatus(identity.zoneId)].map(([nodeId, peer]) => ({ nodeId, ...peer })),
    });
    const apiOptions = { replica, token, status };
    // One core behind both: the listener answers the POST routes through it, the hono app the rest.
    const core = createZoneApiCore(apiOptions);
    listener.serve(zoneApiListener(core, getRequestListener(createZoneApi(apiOptions, core).fetch)));
    const detach = serveZoneTransport(listener.server, transport, core);
    closers.push(async () => {
      detach();
      await listener.close();
    });
    if (!replica.status().removed) log(`node ${identity.nodeId} of zone ${identity.zoneId} serving at ${identity.address}`);
    return { identity, replica, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** An HTTP server bound before the node behind it is ready; until `serve`, it answers 503 EBUSY. */
interface Listener {
  readonly server: Server;
  serve(handler: RequestListener): void;
  close(): Promise<void>;
}

const STARTING_ANSWER = JSON.stringify({ error: { code: 'EBUSY', message: 'the node is starting' } });

async function listen(address: string): Promise<Listener> {
  const url = new URL(address);
  let handler: RequestListener = (_request, response) => {
    response.writeHead(503, { 'content-type': 'application/json' });
    response.end(STARTING_ANSWER);
  };
  const server = createServer((request, response) => handler(request, response));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: Error & { code?: string }) => {
      reject(error.code === 'EADDRINUSE' ? new BusyError(`cannot listen on ${url.host}: the address is in use`) : error);
    });
    server.listen(Number(url.port), url.hostname.replace(/^\[|\]$/g, ''), () => resolve());
  });
  let closed: Promise<void> | undefined;
  return {
    server,
    serve: (listener) => {
      handler = listener;
    },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}

/** `host:port` to the node's address; the port is required, since peers must know it in advance. */
export function addressOf(listen: string): string {
  const match = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[2]);
  if (match === null || !(port > 0 && port < 65_536)) {
    throw new InvalidArgumentError(`invalid listen address ${JSON.stringify(listen)}: expected host:port with a port from 1 to 65535`);
  }
  return `http://${match[1]}:${port}`;
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}
