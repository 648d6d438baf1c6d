/**
 * The Raft core alone: a 3-node group in one process, MemoryRaftStorage, messages handed from one
 * RawNode to the next in memory, no I/O, no timers. It measures what the consensus state machine
 * costs per committed proposal, the ceiling any deployment of it can reach.
 *
 * Batching is on, as a driver loop does it: the leader takes up to `batchProposals` proposals
 * between two Readies, so one append message and one acknowledgement carry the whole batch.
 * A proposal counts once the leader has applied it (committed on a majority and applied).
 */
import { MemoryRaftStorage, RawNode, SeededRandom, type Message, type NodeId, type Ready } from '../kernel/raft/index.ts';

export interface InProcessBenchOptions {
  proposals: number;
  payloadBytes: number;
  batchProposals: number;
}

export interface InProcessBenchResult {
  proposals: number;
  elapsedMs: number;
  proposalsPerSecond: number;
  readiesHandled: number;
  messagesDelivered: number;
}

const NODE_IDS: readonly NodeId[] = [1, 2, 3];
const ELECTION_TICKS_MAX = 100;
/** Snapshot and compact the log every this many applied entries, as a long-running node must. */
const COMPACT_EVERY_ENTRIES = 50_000;

interface BenchNode {
  id: NodeId;
  raw: RawNode;
  storage: MemoryRaftStorage;
  applied: number;
}

export function runInProcessBench(options: InProcessBenchOptions): InProcessBenchResult {
  const nodes = new Map<NodeId, BenchNode>();
  for (const id of NODE_IDS) {
    const storage = new MemoryRaftStorage({ confState: { voters: [...NODE_IDS], learners: [] }, bootstrapIndex: 1 });
    const raw = new RawNode({ id, storage, random: new SeededRandom(id), preVote: true, checkQuorum: true, applied: 1 });
    nodes.set(id, { id, raw, storage, applied: 1 });
  }
  const mailbox: Message[] = [];
  let readiesHandled = 0;
  let messagesDelivered = 0;
  let leaderApplied = 0;
  const leader = nodes.get(1)!;

  const handleReady = (node: BenchNode): void => {
    const ready: Ready = node.raw.ready();
    if (ready.snapshot !== undefined) node.storage.applySnapshot(ready.snapshot);
    node.storage.append(ready.entries);
    if (ready.hardState !== undefined) node.storage.setHardState(ready.hardState);
    for (const message of ready.messages) mailbox.push(message);
    for (const entry of ready.committedEntries) {
      node.applied = entry.index;
      if (node === leader && entry.type === 'normal' && entry.data.byteLength > 0) leaderApplied++;
    }
    node.raw.advance();
    readiesHandled++;
    if (node.applied - node.storage.firstIndex() > COMPACT_EVERY_ENTRIES) {
      node.storage.createSnapshotSynchronously(node.applied, { voters: [...NODE_IDS], learners: [] }, new Uint8Array(0));
      node.storage.compactSynchronously(node.applied);
    }
  };
  const settle = (): void => {
    for (let round = 0; ; round++) {
      let progressed = false;
      for (const node of nodes.values()) {
        while (node.raw.hasReady()) {
          handleReady(node);
          progressed = true;
        }
      }
      const batch = mailbox.splice(0);
      for (const message of batch) nodes.get(message.to)!.raw.step(message);
      messagesDelivered += batch.length;
      if (!progressed && batch.length === 0) return;
    }
  };

  leader.raw.campaign();
  settle();
  for (let tick = 0; tick < ELECTION_TICKS_MAX && leader.raw.status().role !== 'leader'; tick++) {
    for (const node of nodes.values()) node.raw.tick();
    settle();
  }
  if (leader.raw.status().role !== 'leader') throw new Error('the in-process group elected no leader');
  leaderApplied = 0;

  const payload = new Uint8Array(options.payloadBytes).fill(0x61);
  const startedMs = performance.now();
  let proposed = 0;
  while (leaderApplied < options.proposals) {
    const batch = Math.min(options.batchProposals, options.proposals - proposed);
    leader.raw.proposeBatch(Array.from({ length: batch }, () => payload));
    proposed += batch;
    settle();
  }
  const elapsedMs = performance.now() - startedMs;
  return {
    proposals: leaderApplied,
    elapsedMs,
    proposalsPerSecond: (leaderApplied / elapsedMs) * 1000,
    readiesHandled,
    messagesDelivered,
  };
}
