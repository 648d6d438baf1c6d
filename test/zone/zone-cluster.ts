import { MemoryStorageFile } from '../../drivers/memory/storage-file.ts';
import type { StorageFile } from '../../kernel/contracts/storage-file.ts';
import { MemoryZoneNetwork, type MemoryZoneTransport } from '../../drivers/memory/zone-transport.ts';
import { openKvStore } from '../../kernel/kv/index.ts';
import type { KvStore } from '../../kernel/kv/index.ts';
import { MemoryRaftStorage } from '../../kernel/raft/memory-storage.ts';
import { SeededRandom } from '../../kernel/raft/random.ts';
import type { WritableRaftStorage } from '../../kernel/raft/storage.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import type { ZoneLoopProfiler } from '../../kernel/zone/loop-profiler.ts';
import { ManualTicker } from '../../kernel/zone/ticker.ts';
import type { ZoneConsistency, ZoneMember, ZoneReplicaOptions } from '../../kernel/zone/types.ts';
import { ZoneReplica } from '../../kernel/zone/zone-replica.ts';

/** Ticks a test waits for a condition before it calls the cluster stuck. */
const TICKS_TO_WAIT_MAX = 200;

/** A node's file: any StorageFile whose bytes a crash can copy (a MemoryStorageFile, or a crash-simulating file). */
export type ZoneTestFile = StorageFile & { image(): Uint8Array };

export interface ZoneTestNode {
  readonly nodeId: NodeId;
  readonly address: string;
  replica: ZoneReplica | undefined;
  transport: MemoryZoneTransport | undefined;
  file: ZoneTestFile;
  store: KvStore;
  raftStorage: WritableRaftStorage;
}

export interface ZoneTestClusterOptions {
  zoneId?: string;
  nodeIds?: readonly NodeId[];
  consistency?: ZoneConsistency;
  snapshotIntervalEntries?: number;
  snapshotCatchUpEntries?: number;
  snapshotChunkBytes?: number;
  snapshotInstallOperationsPerCommit?: number;
  requestTimeoutTicks?: number;
  /** Opens the raft storage of a node on its KvStore (MemoryRaftStorage by default). */
  openRaftStorage?: (store: KvStore) => Promise<WritableRaftStorage>;
  /** Wraps each KvStore a node opens (at start and at every restart), e.g. to hold its commits. */
  wrapStore?: (nodeId: NodeId, store: KvStore) => KvStore;
  /** The loop profiler of a node's replica, if any. */
  profiler?: (nodeId: NodeId) => ZoneLoopProfiler | undefined;
}

/**
 * A zone of replicas in one process, for tests in every runtime: a MemoryZoneNetwork, one
 * ManualTicker for all, and per node a KvStore on a MemoryStorageFile and a raft storage. Nothing
 * ticks unless the test says so; elections are started with `campaign`.
 *
 * A crash (`crash`) abandons the replica and its KvStore without closing them, keeping the bytes
 * of the store's file and the raft storage, which `restart` opens again.
 */
export class ZoneTestCluster {
  readonly network = new MemoryZoneNetwork();
  readonly ticker = new ManualTicker();
  readonly nodes = new Map<NodeId, ZoneTestNode>();
  readonly zoneId: string;
  private readonly options: ZoneTestClusterOptions;

  private constructor(options: ZoneTestClusterOptions) {
    this.options = options;
    this.zoneId = options.zoneId ?? 'zone-test';
  }

  /** Bootstraps a zone of `nodeIds` (1, 2, 3 by default) and elects the first one. */
  static async start(options: ZoneTestClusterOptions = {}): Promise<ZoneTestCluster> {
    const cluster = new ZoneTestCluster(options);
    const nodeIds = options.nodeIds ?? [1, 2, 3];
    const members = nodeIds.map((nodeId) => ({ nodeId, address: addressOf(nodeId) }));
    for (const nodeId of nodeIds) await cluster.openNode(nodeId, { bootstrap: { members } });
    await cluster.elect(nodeIds[0]!);
    return cluster;
  }

  static address(nodeId: NodeId): string {
    return addressOf(nodeId);
  }

  replica(nodeId: NodeId): ZoneReplica {
    const replica = this.nodes.get(nodeId)?.replica;
    if (replica === undefined) throw new Error(`node ${nodeId} is not running`);
    return replica;
  }

  /** Campaigns at `nodeId` and waits until it leads. */
  async elect(nodeId: NodeId): Promise<void> {
    await this.replica(nodeId).campaign();
    await this.waitUntil(() => this.replica(nodeId).status().role === 'leader', `node ${nodeId} to lead`);
  }

  /** The node every running replica that knows a leader agrees on, if any. */
  leaderId(): NodeId | undefined {
    for (const node of this.nodes.values()) {
      const status = node.replica?.status();
      if (status?.role === 'leader') return status.nodeId;
    }
    return undefined;
  }

  /** Ticks every replica once and lets the messages and work that follow run. */
  async tick(count = 1): Promise<void> {
    for (let tick = 0; tick < count; tick++) {
      this.ticker.tick();
      await this.network.settle();
    }
  }

  /** Lets queued work run, then ticks until `condition` holds (at most TICKS_TO_WAIT_MAX ticks). */
  async waitUntil(condition: () => boolean, what: string): Promise<void> {
    await this.network.settle();
    for (let tick = 0; tick < TICKS_TO_WAIT_MAX; tick++) {
      if (condition()) return;
      await this.tick();
    }
    if (!condition()) throw new Error(`waited ${TICKS_TO_WAIT_MAX} ticks for ${what}`);
  }

  /** Ticks until `promise` settles (at most TICKS_TO_WAIT_MAX ticks), and returns its outcome. */
  async drive<T>(promise: Promise<T>, what = 'a request'): Promise<T> {
    let settled = false;
    const observed = promise.finally(() => {
      settled = true;
    });
    observed.catch(() => {});
    await this.waitUntil(() => settled, what);
    return observed;
  }

  /** The running replicas other than `nodeId`. */
  othersThan(nodeId: NodeId): NodeId[] {
    return [...this.nodes.values()].filter((node) => node.replica !== undefined && node.nodeId !== nodeId).map((node) => node.nodeId);
  }

  /** Opens a node; with no bootstrap it starts empty and joins when a member adds it. */
  async openNode(
    nodeId: NodeId,
    extra: Pick<ZoneReplicaOptions, 'bootstrap' | 'peers'> = {},
  ): Promise<ZoneTestNode> {
    const file = new MemoryStorageFile();
    const store = await this.openStore(nodeId, file);
    const raftStorage = await (this.options.openRaftStorage?.(store) ?? Promise.resolve(new MemoryRaftStorage()));
    const node: ZoneTestNode = { nodeId, address: addressOf(nodeId), replica: undefined, transport: undefined, file, store, raftStorage };
    this.nodes.set(nodeId, node);
    await this.startReplica(node, extra);
    return node;
  }

  /** Adds a new, empty node through `through` (the leader by default) and waits until it has caught up. */
  async addNode(nodeId: NodeId, through: NodeId = this.leaderId()!): Promise<ZoneTestNode> {
    const members: ZoneMember[] = this.replica(through).status().members.map(({ nodeId: id, address }) => ({ nodeId: id, address }));
    const node = await this.openNode(nodeId, { peers: members });
    // Joins as a learner; ticks until the leader has promoted it to voter.
    await this.drive(this.replica(through).addMember({ nodeId, address: node.address }), `node ${nodeId} to join`);
    return node;
  }

  /**
   * Abandons the replica and its store as a crash would (nothing is closed or flushed). What
   * survives is the file's bytes now, or `survivingImage` (taken earlier, while a write the crash
   * must lose was still held).
   */
  async crash(nodeId: NodeId, survivingImage?: Uint8Array): Promise<void> {
    const node = this.nodes.get(nodeId)!;
    node.transport?.close();
    // Stop its clock and inputs; its KvStore is abandoned, its file's bytes are what survives.
    await node.replica?.close();
    node.replica = undefined;
    node.transport = undefined;
    node.file = new MemoryStorageFile(survivingImage ?? node.file.image());
  }

  /** Opens the node again on its file, or on `file` (holding the same bytes, e.g. one that records its writes). */
  async restart(nodeId: NodeId, file?: ZoneTestFile): Promise<ZoneReplica> {
    const node = this.nodes.get(nodeId)!;
    if (file !== undefined) node.file = file;
    node.store = await this.openStore(nodeId, node.file);
    if (this.options.openRaftStorage !== undefined) node.raftStorage = await this.options.openRaftStorage(node.store);
    await this.startReplica(node, {});
    return node.replica!;
  }

  /** After `close()`: opens every node again from what its storage kept, and elects `leader`. */
  async reopen(leader: NodeId): Promise<void> {
    for (const node of this.nodes.values()) {
      node.file = new MemoryStorageFile(node.file.image());
      await this.restart(node.nodeId);
    }
    await this.elect(leader);
  }

  async close(): Promise<void> {
    for (const node of this.nodes.values()) {
      await node.replica?.close();
      await node.transport?.close();
      await node.store.close();
      node.replica = undefined;
      node.transport = undefined;
    }
  }

  private async openStore(nodeId: NodeId, file: ZoneTestFile): Promise<KvStore> {
    const store = await openKvStore(file);
    return this.options.wrapStore?.(nodeId, store) ?? store;
  }

  private async startReplica(node: ZoneTestNode, extra: Pick<ZoneReplicaOptions, 'bootstrap' | 'peers'>): Promise<void> {
    node.transport = this.network.endpoint(node.address);
    const profiler = this.options.profiler?.(node.nodeId);
    node.replica = await ZoneReplica.open({
      zoneId: this.zoneId,
      nodeId: node.nodeId,
      store: node.store,
      raftStorage: node.raftStorage,
      transport: node.transport,
      ticker: this.ticker,
      random: new SeededRandom(node.nodeId * 7919),
      consistency: this.options.consistency ?? 'strong',
      ...(this.options.snapshotIntervalEntries === undefined ? {} : { snapshotIntervalEntries: this.options.snapshotIntervalEntries }),
      ...(this.options.snapshotCatchUpEntries === undefined ? {} : { snapshotCatchUpEntries: this.options.snapshotCatchUpEntries }),
      ...(this.options.requestTimeoutTicks === undefined ? {} : { requestTimeoutTicks: this.options.requestTimeoutTicks }),
      ...(this.options.snapshotChunkBytes === undefined ? {} : { snapshotChunkBytes: this.options.snapshotChunkBytes }),
      ...(this.options.snapshotInstallOperationsPerCommit === undefined ? {} : { snapshotInstallOperationsPerCommit: this.options.snapshotInstallOperationsPerCommit }),
      ...(profiler === undefined ? {} : { profiler }),
      ...extra,
    });
  }
}

function addressOf(nodeId: NodeId): string {
  return `memory:node-${nodeId}`;
}

/** Starts a cluster, runs `body` on it, and closes it whatever happens. */
export async function withCluster(
  options: Parameters<typeof ZoneTestCluster.start>[0],
  body: (cluster: ZoneTestCluster) => Promise<void>,
): Promise<void> {
  const cluster = await ZoneTestCluster.start(options);
  try {
    await body(cluster);
  } finally {
    await cluster.close();
  }
}

/** The value of `key` (UTF-8) as a local read at `nodeId` finds it, decoded; undefined when absent. */
export async function valueAt(cluster: ZoneTestCluster, nodeId: number, key: string): Promise<string | undefined> {
  const entry = await cluster.drive(cluster.replica(nodeId).metastore.get(new TextEncoder().encode(key)), `a read of ${key} at node ${nodeId}`);
  return entry === undefined ? undefined : new TextDecoder().decode(entry.value);
}

/** Every key of a node's zone state with its version and value, read through its Metastore, in pages of 10,000. */
export async function stateAt(cluster: ZoneTestCluster, nodeId: NodeId): Promise<Map<string, string>> {
  const decoder = new TextDecoder();
  const state = new Map<string, string>();
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const result = await cluster.drive(cluster.replica(nodeId).metastore.scan({ limit: 10_000, ...(cursor === undefined ? {} : { cursor }) }), `a scan at node ${nodeId}`);
    for (const entry of result.entries) state.set(decoder.decode(entry.key), `${entry.version}:${decoder.decode(entry.value)}`);
    cursor = result.cursor;
    if (cursor === undefined) return state;
  }
  throw new Error('too many pages');
}

/** Waits until `nodeId` has applied what `leader` had applied when called, and knows a leader. */
export async function caughtUp(cluster: ZoneTestCluster, nodeId: NodeId, leader: NodeId = cluster.leaderId() ?? 1): Promise<void> {
  const target = cluster.replica(leader).status().appliedIndex;
  const done = (): boolean => {
    const status = cluster.nodes.get(nodeId)?.replica?.status();
    return status !== undefined && status.appliedIndex >= target && status.leader !== 0;
  };
  await cluster.waitUntil(done, `node ${nodeId} to catch up to ${target}`);
}
