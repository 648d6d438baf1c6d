import {
  decodeConfChange,
  MemoryRaftStorage,
  RawNode,
  SeededRandom,
  type ConfState,
  type Message,
  type NodeId,
  type RaftConfig,
  type Ready,
} from '../../kernel/raft/index.ts';

/**
 * A small synchronous cluster for unit tests: nodes persist every Ready into MemoryRaftStorage,
 * messages wait in `network` until delivered, and `stabilize()` runs until nothing moves.
 * Tests reach into `network` to drop, reorder or inspect messages.
 */
export interface TestNode {
  readonly id: NodeId;
  readonly storage: MemoryRaftStorage;
  raw: RawNode;
  applied: string[];
  confState: ConfState;
  readies: Ready[];
}

export type TestNodeOptions = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;

const STABILIZE_ROUNDS_MAX = 500;

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  network: Message[] = [];
  /** Nodes whose messages (both ways) are dropped. */
  readonly isolated = new Set<NodeId>();
  private readonly options: TestNodeOptions;

  constructor(voters: readonly NodeId[], options: TestNodeOptions = {}) {
    this.options = options;
    for (const id of voters) {
      const storage = new MemoryRaftStorage({ confState: { voters, learners: [] }, bootstrapIndex: 1 });
      this.addNode(id, storage);
    }
  }

  addNode(id: NodeId, storage = new MemoryRaftStorage()): TestNode {
    const node: TestNode = { id, storage, raw: this.createRawNode(id, storage), applied: [], confState: storage.snapshot().metadata.confState, readies: [] };
    this.nodes.set(id, node);
    return node;
  }

  private createRawNode(id: NodeId, storage: MemoryRaftStorage): RawNode {
    return new RawNode({
      electionTimeoutTicks: 10,
      heartbeatIntervalTicks: 1,
      ...this.options,
      id,
      storage,
      random: new SeededRandom(id),
      applied: storage.snapshot().metadata.index,
    });
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  raw(id: NodeId): RawNode {
    return this.node(id).raw;
  }

  /** Handles one Ready of `id` as raw-node.ts prescribes; returns it, or undefined when none. */
  processReady(id: NodeId): Ready | undefined {
    const node = this.node(id);
    if (!node.raw.hasReady()) return undefined;
    const ready = node.raw.ready();
    node.readies.push(ready);
    if (ready.snapshot !== undefined) node.storage.applySnapshot(ready.snapshot);
    node.storage.append(ready.entries);
    if (ready.hardState !== undefined) node.storage.setHardState(ready.hardState);
    for (const message of ready.messages) {
      if (!this.isolated.has(message.from) && !this.isolated.has(message.to)) this.network.push(message);
    }
    if (ready.snapshot !== undefined) node.applied = [];
    for (const entry of ready.committedEntries) {
      if (entry.type === 'config-change') node.confState = node.raw.applyConfChange(decodeConfChange(entry.data));
      else if (entry.data.byteLength > 0) node.applied.push(new TextDecoder().decode(entry.data));
    }
    node.raw.advance();
    return ready;
  }

  /** Delivers every queued message (in order) to its recipient. */
  deliverAll(): number {
    const messages = this.network;
    this.network = [];
    for (const message of messages) {
      const recipient = this.nodes.get(message.to);
      if (recipient === undefined || this.isolated.has(message.to) || this.isolated.has(message.from)) continue;
      recipient.raw.step(message);
      if (message.type === 'snapshot') this.node(message.from).raw.reportSnapshot(message.to, 'finished');
    }
    return messages.length;
  }

  stabilize(): void {
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round++) {
      let busy = false;
      for (const id of this.nodes.keys()) if (this.processReady(id) !== undefined) busy = true;
      if (this.deliverAll() > 0) busy = true;
      if (!busy) return;
    }
    throw new Error(`cluster did not stabilize within ${STABILIZE_ROUNDS_MAX} rounds`);
  }

  elect(id: NodeId): void {
    this.raw(id).campaign();
    this.stabilize();
    const status = this.raw(id).status();
    if (status.role !== 'leader') throw new Error(`node ${id} did not become leader (it is ${status.role} at term ${status.term})`);
  }

  propose(id: NodeId, text: string): void {
    this.raw(id).propose(new TextEncoder().encode(text));
  }

  /** Replaces a node by a fresh one over the same storage, as after a crash. */
  restart(id: NodeId): void {
    const node = this.node(id);
    node.raw = this.createRawNode(id, node.storage);
    node.applied = [];
    this.network = this.network.filter((message) => message.to !== id);
  }
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

export function bytes(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}
