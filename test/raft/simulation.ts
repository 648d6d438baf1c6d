import { MemoryStorageFile } from '../../drivers/memory/storage-file.ts';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import { openKvStore, type KvStore } from '../../kernel/kv/index.ts';
import {
  applyConfChangeTo,
  decodeConfChange,
  describeConfChange,
  isJoint,
  KvRaftStorage,
  MemoryRaftStorage,
  ProposalDroppedError,
  RawNode,
  SeededRandom,
  type CommitPropagation,
  type ConfChange,
  type ConfChangeBatch,
  type ConfChangeTransition,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type Ready,
  type WritableRaftStorage,
} from '../../kernel/raft/index.ts';
import { CrashStorageFile } from '../crash/crash-storage-file.ts';
import { checkLinearizability, keyValueModel } from '../sim/linearizability.ts';
import { KeyValueClients, type ClientCommand } from './key-value-clients.ts';
import { describeMessage } from './describe.ts';

/**
 * A deterministic simulation of one Raft group: a seed drives every choice (which node ticks,
 * which message is delivered, dropped or duplicated, partitions, crashes, compaction), so a
 * failing seed replays exactly. After every step the checkers below run; a violation throws a
 * `SimulationFailure` that names the seed, the step and the recent history.
 *
 * Faults: clocks drift apart (a tick may advance one node only); messages are delayed and
 * reordered (any in-flight message may be delivered next), dropped and duplicated; partitions
 * cut a node off, split the group in two, or cut one direction only; a node crashes and loses
 * everything it had not persisted, including a Ready it was in the middle of persisting; membership
 * changes add spare nodes as learners, promote, demote and remove members, one at a time or two
 * at once through a joint configuration (left automatically or explicitly).
 *
 * Storage: with `storage: 'memory'` a node's durable state is a MemoryRaftStorage that a crash
 * keeps whole (a Ready being persisted is lost whole). With `storage: 'kv'` it is a KvRaftStorage
 * on the KV engine over a CrashStorageFile, and a crash keeps only a crash image of that file:
 * writes not yet synced (the relaxed persists, which carry only a commit index) are lost, kept or
 * torn at sector boundaries in any order; a crash while persisting a Ready cuts its write after a
 * random one of its file events. The node restarts by opening the KV engine and KvRaftStorage on
 * the image, which must hold at least every durable write, and nothing half-written.
 *
 * Checked after every step:
 * - election safety: at most one leader per term, ever;
 * - log matching: two logs with an entry of the same index and term agree on all entries before;
 * - leader completeness: a leader's log holds every entry known committed at or before its term;
 * - state machine safety: all nodes apply the same entry at each index, in index order;
 * - linearizable reads: a ReadIndex answer is at least every index applied before the request;
 * - monotonic commit: a node's commit index never decreases (in memory within one run of the
 *   node, and persisted across crashes), and neither does its persisted term;
 * - durable promises: a node acknowledges log entries and grants votes only once the write that
 *   holds them was durable (mustSync), checked as each message leaves.
 * After the faults stop, the group must elect a leader and commit a new entry on every member,
 * and the history of the clients' puts, compare-and-sets and ReadIndex reads (key-value-clients.ts)
 * must be linearizable (test/sim/linearizability.ts).
 */

export interface SimulationOptions {
  seed: number;
  nodeCount: number;
  steps: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Multiplies the weights of fault actions (drop, duplicate, crash, partition, ...): 0 is none. */
  faultLevel: number;
  /** Where nodes keep their durable state; see the class comment. */
  storage: 'memory' | 'kv';
  /** How leaders announce a new commit index (RaftConfig.commitPropagation). */
  commitPropagation: CommitPropagation;
}

export interface SimulationReport {
  readonly seed: number;
  readonly steps: number;
  readonly proposalsAccepted: number;
  readonly entriesCommitted: number;
  readonly leadersElected: number;
  readonly crashes: number;
  /** Crashes of KvRaftStorage nodes that lost or tore unsynced writes. */
  readonly unsyncedWritesLost: number;
  readonly snapshotsInstalled: number;
  readonly messagesDelivered: number;
  readonly readsAnswered: number;
  readonly clientOperations: number;
  readonly linearizability: 'linearizable' | 'unknown';
}

export class SimulationFailure extends Error {
  override name = 'SimulationFailure';
}

const ELECTION_TIMEOUT_TICKS = 6;
const HEARTBEAT_INTERVAL_TICKS = 2;
const NETWORK_MESSAGES_MAX = 4000;
const HISTORY_LINES_MAX = 60;
const LIVENESS_ROUNDS_MAX = 400;
const LIVENESS_RETRY_ROUNDS = 50;
const SIZE_UNLIMITED = Number.MAX_SAFE_INTEGER;
const KEEP_ENTRIES_AFTER_COMPACTION = 3;
/** Pages the KV engine of a simulated node caches: small, so that restarts read the file. */
const KV_CACHE_PAGES = 32;
const KV_KEY_PREFIX = new TextEncoder().encode('raft/');
/** Node ids beyond the initial voters that membership changes may add. */
const SPARE_NODES = 2;

/** Relative weights of the actions a step may take. */
const ACTION_WEIGHTS = {
  tick: 10,
  deliver: 40,
  processReady: 30,
  propose: 8,
  drop: 2,
  duplicate: 1,
  crash: 0.15,
  restart: 1,
  partition: 0.15,
  heal: 0.4,
  compact: 0.5,
  transferLeadership: 0.1,
  campaign: 0.1,
  crashLeader: 0.1,
  changeMembership: 0.25,
  readIndex: 3,
  clientWrite: 10,
  clientRead: 8,
} as const;

type Action = keyof typeof ACTION_WEIGHTS;

/** Actions scaled by `faultLevel`. */
const FAULT_ACTIONS: ReadonlySet<Action> = new Set(['drop', 'duplicate', 'crash', 'partition', 'compact', 'transferLeadership', 'campaign', 'crashLeader', 'changeMembership']);

/** Chance that a tick advances one node's clock only. */
const CLOCK_SKEW_PROBABILITY = 0.3;

/** Chance that a crash happens while a node persists a Ready, losing that whole Ready. */
const CRASH_WHILE_PERSISTING_PROBABILITY = 0.004;

/** A KvRaftStorage node's medium: what survives its crashes. */
interface KvMedium {
  file: CrashStorageFile;
  store: KvStore | undefined;
}

interface SimulatedNode {
  readonly id: NodeId;
  storage: WritableRaftStorage;
  /** For `storage: 'kv'`: the file and store under `storage`. */
  medium: KvMedium | undefined;
  raw: RawNode | undefined;
  /** Index of the last applied entry (or restored snapshot). */
  appliedIndex: number;
  /** Payloads of applied normal entries that are not client operations. */
  values: string[];
  /** The key-value state machine that client operations act on. */
  keyValues: Map<string, string>;
  /** Client operations already applied: a duplicated proposal must not apply twice. */
  appliedOperations: Set<string>;
  /** Incremented on every start: a client's pending requests die with the node's memory. */
  incarnation: number;
  confState: ConfState;
  /** Highest commit index seen in this run of the node (reset by a crash). */
  commitSeen: number;
  persistedCommit: number;
  persistedTerm: number;
  /** Term and commit as of the last durable (mustSync) persist: a crash may not lose them. */
  durableCommit: number;
  durableTerm: number;
  /** Vote and log end as of the last durable persist: what its messages may promise. */
  durableVote: NodeId;
  durableLastIndex: number;
}

interface KnownEntry {
  readonly term: number;
  readonly data: string;
  /** The term of the node that first applied it: every leader of this term or later must hold it. */
  readonly observedTerm: number;
}

export class Simulation {
  private readonly options: SimulationOptions;
  private readonly random: SeededRandom;
  private readonly nodes = new Map<NodeId, SimulatedNode>();
  private network: Message[] = [];
  /** Directed cuts: `${from}>${to}`. */
  private readonly cuts = new Set<string>();
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly committed = new Map<number, KnownEntry>();
  /** Membership as of the committed log: entries are first applied (by any node) in index order. */
  private committedMembership: ConfState;
  private committedMembershipIndex = 0;
  private history: string[] = [];
  private step = 0;
  private proposalCounter = 0;
  private readonly counters = { proposalsAccepted: 0, crashes: 0, unsyncedWritesLost: 0, snapshotsInstalled: 0, messagesDelivered: 0 };
  /** Read requests made, by context: the highest index applied anywhere when each was made. */
  private readonly pendingReads = new Map<string, number>();
  private readCounter = 0;
  private readsAnswered = 0;
  private readonly clients = new KeyValueClients();
  private readonly pendingUnreachableReports: Array<{ from: NodeId; to: NodeId }> = [];
  private readonly pendingSnapshotReports: Array<{ from: NodeId; to: NodeId; status: 'finished' | 'failed' }> = [];

  constructor(options: SimulationOptions) {
    this.options = options;
    this.random = new SeededRandom(options.seed);
    this.committedMembership = { voters: this.initialVoters(), learners: [] };
  }

  async run(): Promise<SimulationReport> {
    const voters = this.initialVoters();
    for (const id of voters) {
      const bootstrap = { confState: { voters, learners: [] }, index: 1, term: 1 };
      const node = await this.createNode(id, bootstrap);
      await this.start(node);
    }
    for (this.step = 1; this.step <= this.options.steps; this.step++) {
      await this.takeAction(this.chooseAction());
      this.check();
    }
    await this.checkLiveness();
    const history = this.clients.history();
    const outcome = checkLinearizability(keyValueModel, history);
    this.expect(outcome.result !== 'not-linearizable', `linearizability: the client history of key part ${outcome.failingPart} is not linearizable (${this.clients.describe(outcome.failingPart)})`);
    return {
      seed: this.options.seed,
      steps: this.options.steps,
      proposalsAccepted: this.counters.proposalsAccepted,
      entriesCommitted: this.committed.size,
      leadersElected: this.leaderOfTerm.size,
      crashes: this.counters.crashes,
      unsyncedWritesLost: this.counters.unsyncedWritesLost,
      snapshotsInstalled: this.counters.snapshotsInstalled,
      messagesDelivered: this.counters.messagesDelivered,
      readsAnswered: this.readsAnswered,
      clientOperations: history.length,
      linearizability: outcome.result === 'linearizable' ? 'linearizable' : 'unknown',
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Actions.

  private chooseAction(): Action {
    const entries = (Object.entries(ACTION_WEIGHTS) as Array<[Action, number]>).map(
      ([action, weight]): [Action, number] => [action, FAULT_ACTIONS.has(action) ? weight * this.options.faultLevel : weight],
    );
    let total = 0;
    for (const [, weight] of entries) total += weight;
    let point = this.random.fraction() * total;
    for (const [action, weight] of entries) {
      point -= weight;
      if (point < 0) return action;
    }
    return 'tick';
  }

  private async takeAction(action: Action): Promise<void> {
    switch (action) {
      case 'tick': {
        // Usually every clock advances together; sometimes one node's alone (clock skew).
        const live = this.liveNodes();
        if (this.random.fraction() < CLOCK_SKEW_PROBABILITY && live.length > 0) this.pick(live).raw!.tick();
        else for (const node of live) node.raw!.tick();
        return;
      }
      case 'deliver':
        this.deliverRandomMessage();
        return;
      case 'processReady': {
        const ready = this.liveNodes().filter((node) => node.raw!.hasReady());
        if (ready.length > 0) await this.processReady(this.pick(ready));
        return;
      }
      case 'propose':
        this.propose();
        return;
      case 'drop':
        this.dropRandomMessage();
        return;
      case 'duplicate':
        if (this.network.length > 0 && this.network.length < NETWORK_MESSAGES_MAX) this.network.push(this.pick(this.network));
        return;
      case 'crash': {
        const live = this.liveNodes();
        if (live.length > 0) this.crash(this.pick(live), 'crash', undefined);
        return;
      }
      case 'crashLeader': {
        // Leader churn is where Raft's subtle bugs live (entries of old terms, overwritten suffixes).
        const leader = this.liveNodes().find((node) => node.raw!.status().role === 'leader');
        if (leader !== undefined) this.crash(leader, 'crash the leader', undefined);
        return;
      }
      case 'changeMembership':
        await this.changeMembership();
        return;
      case 'readIndex':
        this.requestRead();
        return;
      case 'clientWrite': {
        const live = this.liveNodes();
        if (live.length > 0) this.clients.write(this.pick(live), this.random, this.step);
        return;
      }
      case 'clientRead': {
        const live = this.liveNodes();
        if (live.length > 0) this.clients.read(this.pick(live), this.random, this.step);
        return;
      }
      case 'restart': {
        const down = [...this.nodes.values()].filter((node) => node.raw === undefined);
        if (down.length > 0) await this.restart(this.pick(down));
        return;
      }
      case 'partition':
        this.partition();
        return;
      case 'heal':
        if (this.cuts.size > 0) this.record('heal');
        this.cuts.clear();
        return;
      case 'compact': {
        const live = this.liveNodes();
        if (live.length > 0) await this.compact(this.pick(live));
        return;
      }
      case 'transferLeadership': {
        const leader = this.liveNodes().find((node) => node.raw!.status().role === 'leader');
        if (leader === undefined) return;
        const target = this.pick(this.options.nodeCount > 1 ? [...this.nodes.keys()].filter((id) => id !== leader.id) : [leader.id]);
        this.record(`transfer-leadership ${leader.id} -> ${target}`);
        this.ignoreDropped(() => leader.raw!.transferLeadership(target));
        return;
      }
      case 'campaign': {
        const live = this.liveNodes();
        if (live.length === 0) return;
        const node = this.pick(live);
        this.record(`campaign ${node.id}`);
        node.raw!.campaign();
        return;
      }
    }
  }

  private propose(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const node = this.pick(live);
    const value = `v${++this.proposalCounter}`;
    try {
      node.raw!.propose(new TextEncoder().encode(value));
      this.counters.proposalsAccepted++;
      this.record(`propose ${node.id} ${value}`);
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
    }
  }

  /**
   * A linearizable read must observe every write acknowledged before it began. Writes are
   * acknowledged once applied, so the read index must be at least the highest index applied
   * anywhere at the moment of the request.
   */
  private requestRead(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const node = this.pick(live);
    const context = `read-${++this.readCounter}`;
    try {
      node.raw!.readIndex(context);
      this.pendingReads.set(context, this.committed.size + 1);
      this.record(`read-index ${node.id} ${context}`);
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
    }
  }

  private checkReadStates(node: SimulatedNode, ready: Ready): void {
    for (const state of ready.readStates) {
      if (this.clients.ownsRead(state.context)) {
        this.clients.readIndexKnown(node, state, this.step);
        continue;
      }
      const appliedAtRequest = this.pendingReads.get(state.context);
      this.expect(appliedAtRequest !== undefined, `node ${node.id} answered unknown read ${state.context}`);
      this.expect(
        state.index >= appliedAtRequest!,
        `linearizable reads: node ${node.id} answered ${state.context} with index ${state.index}, but ${appliedAtRequest} was applied before the read began`,
      );
      // Kept: a duplicated request or response may answer the same read again (the application
      // ignores answers it no longer waits for), and that answer must be linearizable too.
      this.readsAnswered++;
    }
  }

  /**
   * Proposes a membership change at the leader: one change (add a spare node as learner, promote
   * or remove a learner, remove or demote a voter, keeping two voters), sometimes two at once
   * through a joint configuration, or leaving a joint configuration.
   */
  private async changeMembership(): Promise<void> {
    const leader = this.liveNodes().find((node) => node.raw!.status().role === 'leader');
    if (leader === undefined) return;
    const confState = leader.raw!.status().confState;
    let proposal: ConfChange | ConfChangeBatch;
    if (isJoint(confState)) {
      proposal = { changes: [], transition: 'auto' };
    } else {
      const candidates = this.membershipCandidates(confState);
      if (candidates.length === 0) return;
      const first = this.pick(candidates);
      const second = this.pick(candidates);
      const transitions: ConfChangeTransition[] = ['auto', 'joint-implicit', 'joint-explicit'];
      proposal = this.random.fraction() < 0.6 || second.nodeId === first.nodeId ? first : { changes: [first, second], transition: this.pick(transitions) };
    }
    const changes = 'changes' in proposal ? proposal.changes : [proposal];
    for (const change of changes) if (!this.nodes.has(change.nodeId)) await this.addEmptyNode(change.nodeId);
    try {
      leader.raw!.proposeConfChange(proposal);
      this.record(`propose-conf-change ${leader.id} ${describeConfChange(proposal)}`);
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
    }
  }

  private membershipCandidates({ voters, learners }: ConfState): ConfChange[] {
    const members = new Set([...voters, ...learners]);
    const changes: ConfChange[] = [];
    for (let id = 1; id <= this.options.nodeCount + SPARE_NODES; id++) {
      if (!members.has(id)) changes.push({ type: 'add-learner', nodeId: id });
    }
    for (const id of learners) changes.push({ type: 'add-voter', nodeId: id }, { type: 'remove-node', nodeId: id });
    if (voters.length > 2) for (const id of voters) changes.push({ type: 'remove-node', nodeId: id }, { type: 'add-learner', nodeId: id });
    return changes;
  }

  /** A node that joins later: it starts empty and learns everything from the leader. */
  private async addEmptyNode(id: NodeId): Promise<void> {
    const node = await this.createNode(id, undefined);
    await this.start(node);
    this.record(`start empty node ${id}`);
  }

  private initialVoters(): NodeId[] {
    return Array.from({ length: this.options.nodeCount }, (_, index) => index + 1);
  }

  /** A node with fresh storage (bootstrapped with the initial membership, or empty); not started. */
  private async createNode(id: NodeId, bootstrap: { confState: ConfState; index: number; term: number } | undefined): Promise<SimulatedNode> {
    let storage: WritableRaftStorage;
    let medium: KvMedium | undefined;
    if (this.options.storage === 'kv') {
      medium = { file: new CrashStorageFile(), store: undefined };
      storage = await this.openKvStorage(medium, bootstrap);
    } else {
      storage = bootstrap === undefined ? new MemoryRaftStorage() : new MemoryRaftStorage({ confState: bootstrap.confState, bootstrapIndex: bootstrap.index, bootstrapTerm: bootstrap.term });
    }
    const node: SimulatedNode = {
      id, storage, medium, raw: undefined, appliedIndex: 0, values: [], keyValues: new Map(), appliedOperations: new Set(), incarnation: 0, confState: { voters: [], learners: [] },
      commitSeen: 0, persistedCommit: 0, persistedTerm: 0, durableCommit: 0, durableTerm: 0, durableVote: 0, durableLastIndex: 0,
    };
    const { hardState } = storage.initialState();
    node.persistedCommit = node.durableCommit = hardState.commit;
    node.persistedTerm = node.durableTerm = hardState.term;
    node.durableVote = hardState.vote;
    node.durableLastIndex = storage.lastIndex();
    this.nodes.set(id, node);
    return node;
  }

  private async openKvStorage(medium: KvMedium, bootstrap: { confState: ConfState; index: number; term: number } | undefined): Promise<KvRaftStorage> {
    medium.store = await openKvStore(medium.file, { cachePages: KV_CACHE_PAGES });
    return KvRaftStorage.open(medium.store, { keyPrefix: KV_KEY_PREFIX, ...(bootstrap === undefined ? {} : { bootstrap }) });
  }

  private deliverRandomMessage(): void {
    if (this.network.length === 0) return;
    const position = this.random.integerBelow(this.network.length);
    const message = this.network[position]!;
    this.network.splice(position, 1);
    const recipient = this.nodes.get(message.to);
    if (recipient?.raw === undefined || this.cuts.has(`${message.from}>${message.to}`)) {
      this.notifySnapshotLost(message);
      return;
    }
    this.record(`deliver ${describeMessage(message)}`);
    this.counters.messagesDelivered++;
    recipient.raw.step(message);
    if (message.type === 'snapshot') this.reportSnapshot(message.from, message.to, 'finished');
  }

  private dropRandomMessage(): void {
    if (this.network.length === 0) return;
    const position = this.random.integerBelow(this.network.length);
    const [message] = this.network.splice(position, 1);
    this.record(`drop ${describeMessage(message!)}`);
    this.notifySnapshotLost(message!);
  }

  private notifySnapshotLost(message: Message): void {
    if (message.type === 'snapshot') this.reportSnapshot(message.from, message.to, 'failed');
  }

  private reportSnapshot(from: NodeId, to: NodeId, status: 'finished' | 'failed'): void {
    this.nodes.get(from)?.raw?.reportSnapshot(to, status);
  }

  /** Handles one Ready in the order raw-node.ts prescribes; may crash while persisting. */
  private async processReady(node: SimulatedNode): Promise<void> {
    const raw = node.raw!;
    const ready = raw.ready();
    // The contract's one exception: a leader whose Ready changes neither term nor vote may send
    // before it persists (its followers then write in parallel). Half the time a leader does, so a
    // crash while persisting can come after its appends went out.
    const sentEarly = this.random.fraction() < 0.5 && this.maySendBeforePersisting(node, ready);
    if (sentEarly) this.sendAll(node, ready.messages);
    if (this.random.fraction() < CRASH_WHILE_PERSISTING_PROBABILITY * this.options.faultLevel) {
      await this.crashWhilePersisting(node, ready);
      return;
    }
    await this.persist(node, ready);
    this.checkReadStates(node, ready);
    if (!sentEarly) this.sendAll(node, ready.messages);
    this.apply(node, raw, ready);
    raw.advance();
    this.flushSnapshotReports();
  }

  /** Whether `ready` is a leader's that changes neither term nor vote (raw-node.ts, step 2). */
  private maySendBeforePersisting(node: SimulatedNode, ready: Ready): boolean {
    if (node.raw!.status().role !== 'leader' || ready.snapshot !== undefined) return false;
    if (ready.hardState === undefined) return true;
    const persisted = node.storage.initialState().hardState;
    return ready.hardState.term === persisted.term && ready.hardState.vote === persisted.vote;
  }

  private async persist(node: SimulatedNode, ready: Ready): Promise<void> {
    if (ready.hardState !== undefined) {
      this.expect(ready.hardState.commit >= node.persistedCommit, `node ${node.id} persisted commit ${ready.hardState.commit} below ${node.persistedCommit}`);
      this.expect(ready.hardState.term >= node.persistedTerm, `node ${node.id} persisted term ${ready.hardState.term} below ${node.persistedTerm}`);
      node.persistedCommit = ready.hardState.commit;
      node.persistedTerm = ready.hardState.term;
    }
    const request = { hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot, mustSync: ready.mustSync };
    await node.storage.persist(request);
    if (ready.mustSync) {
      // A durable write makes every earlier write durable too, so this is the floor after a crash.
      node.durableCommit = node.persistedCommit;
      node.durableTerm = node.persistedTerm;
      node.durableVote = node.storage.initialState().hardState.vote;
      node.durableLastIndex = node.storage.lastIndex();
    }
  }

  /**
   * A crash in the middle of persisting `ready`: with memory storage the write is lost whole; with
   * KV storage the write runs, and the crash image is cut after a random one of its file events.
   */
  private async crashWhilePersisting(node: SimulatedNode, ready: Ready): Promise<void> {
    if (node.medium === undefined) {
      this.crash(node, 'crash while persisting a Ready', undefined);
      return;
    }
    const before = node.medium.file.eventCount;
    await node.storage.persist({ hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot, mustSync: ready.mustSync });
    const afterEvent = before + this.random.integerBelow(node.medium.file.eventCount - before + 1);
    this.crash(node, `crash while persisting a Ready (after file event ${afterEvent - before} of ${node.medium.file.eventCount - before})`, afterEvent);
  }

  private sendAll(node: SimulatedNode, messages: readonly Message[]): void {
    this.checkPromises(node, messages);
    for (const message of messages) this.send(message);
  }

  /**
   * Messages may promise only durable state (raw-node.ts, Ready step 2): an accepted append
   * promises the log up to its index, a granted vote the vote (or a later term). A promise resting
   * on a relaxed write can be broken by a crash, long before anything else notices.
   */
  private checkPromises(node: SimulatedNode, messages: readonly Message[]): void {
    for (const message of messages) {
      if (message.type === 'append-response' && !message.reject) {
        this.expect(
          message.index <= node.durableLastIndex,
          `durability: node ${node.id} acknowledged its log up to ${message.index}, but only ${node.durableLastIndex} is durable`,
        );
      } else if (message.type === 'vote-response' && !message.reject) {
        this.expect(
          // A later term in the same Ready is as good: the node never votes in an earlier term again.
          node.durableTerm > message.term || (node.durableTerm === message.term && node.durableVote === message.to),
          `durability: node ${node.id} granted its vote in term ${message.term} to ${message.to}, but its durable vote is for ${node.durableVote} in term ${node.durableTerm}`,
        );
      }
    }
  }

  private send(message: Message): void {
    if (this.cuts.has(`${message.from}>${message.to}`) || this.network.length >= NETWORK_MESSAGES_MAX) {
      // The transport notices it cannot reach the peer, as a real one would on a failed connection.
      if (message.type === 'snapshot') this.pendingSnapshotReports.push({ from: message.from, to: message.to, status: 'failed' });
      else if (message.type === 'append') this.pendingUnreachableReports.push({ from: message.from, to: message.to });
      return;
    }
    this.network.push(message);
  }

  private flushSnapshotReports(): void {
    for (const report of this.pendingSnapshotReports.splice(0)) this.reportSnapshot(report.from, report.to, report.status);
    for (const report of this.pendingUnreachableReports.splice(0)) this.nodes.get(report.from)?.raw?.reportUnreachable(report.to);
  }

  private apply(node: SimulatedNode, raw: RawNode, ready: Ready): void {
    const term = raw.status().term;
    if (ready.snapshot !== undefined) {
      const { index } = ready.snapshot.metadata;
      this.expect(index > node.appliedIndex, `node ${node.id} installed snapshot ${index} at applied ${node.appliedIndex}`);
      const known = this.committed.get(index);
      this.expect(known === undefined || known.term === ready.snapshot.metadata.term, `node ${node.id} installed snapshot ${index}/${ready.snapshot.metadata.term}, but ${index}/${known?.term} was committed`);
      restoreStateMachine(node, ready.snapshot.data);
      node.appliedIndex = index;
      node.confState = ready.snapshot.metadata.confState;
      this.counters.snapshotsInstalled++;
    }
    for (const entry of ready.committedEntries) {
      this.expect(entry.index === node.appliedIndex + 1, `node ${node.id} applied ${entry.index} after ${node.appliedIndex}`);
      this.checkStateMachineSafety(node, entry, term);
      node.appliedIndex = entry.index;
      if (entry.type === 'config-change') node.confState = raw.applyConfChange(decodeConfChange(entry.data));
      else if (entry.data.byteLength > 0) this.applyPayload(node, new TextDecoder().decode(entry.data));
    }
    this.clients.answerReads(node, this.step);
  }

  private applyPayload(node: SimulatedNode, payload: string): void {
    if (!payload.startsWith('{')) {
      node.values.push(payload);
      return;
    }
    const command = JSON.parse(payload) as ClientCommand;
    if (node.appliedOperations.has(command.id)) return;
    node.appliedOperations.add(command.id);
    const current = node.keyValues.get(command.key) ?? null;
    let swapped = true;
    if (command.kind === 'cas') swapped = current === (command.expected ?? null);
    if (swapped) node.keyValues.set(command.key, command.value);
    this.clients.applied(node, command, swapped, this.step);
  }

  private checkStateMachineSafety(node: SimulatedNode, entry: Entry, term: number): void {
    const data = new TextDecoder().decode(entry.data);
    const known = this.committed.get(entry.index);
    if (known === undefined) {
      this.committed.set(entry.index, { term: entry.term, data, observedTerm: term });
      if (entry.type === 'config-change') this.applyCommittedMembership(entry);
      return;
    }
    this.expect(
      known.term === entry.term && known.data === data,
      `state machine safety: node ${node.id} applied ${entry.index}/${entry.term} ${JSON.stringify(data)}, another node applied ${entry.index}/${known.term} ${JSON.stringify(known.data)}`,
    );
  }

  private applyCommittedMembership(entry: Entry): void {
    try {
      this.committedMembership = applyConfChangeTo(this.committedMembership, decodeConfChange(entry.data));
      this.committedMembershipIndex = entry.index;
    } catch (error) {
      // Raft ignores an invalid change the same way on every node.
      if (!(error instanceof InvalidArgumentError)) throw error;
    }
  }

  /** The node stops; a KV node's file keeps only a crash image after `afterEvent` (default: the last). */
  private crash(node: SimulatedNode, reason: string, afterEvent: number | undefined): void {
    this.counters.crashes++;
    this.stop(node, reason);
    const medium = node.medium;
    if (medium === undefined) return;
    const image = medium.file.crashImage(afterEvent ?? medium.file.eventCount, this.random.integerBelow(0x7fff_ffff));
    if (image.outcomes.some((outcome) => outcome.fate !== 'kept')) this.counters.unsyncedWritesLost++;
    this.record(`crash image of node ${node.id}: ${image.outcomes.map((outcome) => `${outcome.event}:${outcome.fate}`).join(' ') || 'everything synced'}`);
    // The old store is abandoned with its file, as a killed process abandons its memory.
    node.medium = { file: new CrashStorageFile(image.bytes), store: undefined };
    node.persistedCommit = 0;
    node.persistedTerm = 0;
  }

  /** The node's process ends: everything not persisted is gone. */
  private stop(node: SimulatedNode, reason: string): void {
    this.record(`${reason}: ${node.id}`);
    node.raw = undefined;
    node.values = [];
    node.keyValues = new Map();
    node.appliedOperations = new Set();
    node.appliedIndex = 0;
    node.commitSeen = 0;
  }

  private async restart(node: SimulatedNode): Promise<void> {
    this.record(`restart ${node.id}`);
    await this.start(node);
  }

  private async start(node: SimulatedNode): Promise<void> {
    if (node.medium !== undefined && node.medium.store === undefined) await this.reopenKvStorage(node, node.medium);
    // Whatever survived the crash is on the medium now, synced or not.
    const { hardState } = node.storage.initialState();
    node.durableCommit = hardState.commit;
    node.durableTerm = hardState.term;
    node.durableVote = hardState.vote;
    node.durableLastIndex = node.storage.lastIndex();
    const snapshot = node.storage.snapshot();
    restoreStateMachine(node, snapshot.data);
    node.incarnation++;
    node.appliedIndex = snapshot.metadata.index;
    node.confState = snapshot.metadata.confState;
    node.raw = new RawNode({
      id: node.id,
      storage: node.storage,
      random: new SeededRandom(this.options.seed * 1000 + node.id + this.counters.crashes * 7919),
      electionTimeoutTicks: ELECTION_TIMEOUT_TICKS,
      heartbeatIntervalTicks: HEARTBEAT_INTERVAL_TICKS,
      applied: snapshot.metadata.index,
      preVote: this.options.preVote,
      checkQuorum: this.options.checkQuorum,
      commitPropagation: this.options.commitPropagation,
      // Small limits, so that flow control, batching and the uncommitted budget are exercised.
      inflightMessagesMax: 4,
      messageEntriesSizeBytesMax: 200,
      uncommittedEntriesSizeBytesMax: 1000,
    });
  }

  /** Opens the KV engine and KvRaftStorage on a crash image; it must hold every durable write. */
  private async reopenKvStorage(node: SimulatedNode, medium: KvMedium): Promise<void> {
    try {
      node.storage = await this.openKvStorage(medium, undefined);
    } catch (error) {
      this.fail(`node ${node.id} could not reopen its storage after a crash: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    }
    const { hardState } = node.storage.initialState();
    this.expect(hardState.term >= node.durableTerm, `durability: node ${node.id} recovered term ${hardState.term}, below the durable ${node.durableTerm}`);
    this.expect(hardState.commit >= node.durableCommit, `durability: node ${node.id} recovered commit ${hardState.commit}, below the durable ${node.durableCommit}`);
    node.persistedCommit = hardState.commit;
    node.persistedTerm = hardState.term;
    this.record(`reopen storage of node ${node.id}: term ${hardState.term}, commit ${hardState.commit}, log ${node.storage.firstIndex()}..${node.storage.lastIndex()}`);
  }

  private partition(): void {
    const ids = [...this.nodes.keys()];
    const kind = this.random.integerBelow(3);
    this.cuts.clear();
    if (kind === 0) {
      const isolated = this.pick(ids);
      for (const other of ids) if (other !== isolated) this.cutBothWays(isolated, other);
      this.record(`partition: isolate ${isolated}`);
    } else if (kind === 1) {
      const side = new Set(ids.filter(() => this.random.fraction() < 0.5));
      for (const a of ids) for (const b of ids) if (side.has(a) && !side.has(b)) this.cutBothWays(a, b);
      this.record(`partition: (${[...side].join(' ')}) | (${ids.filter((id) => !side.has(id)).join(' ')})`);
    } else {
      const from = this.pick(ids);
      const to = this.pick(ids.filter((id) => id !== from));
      this.cuts.add(`${from}>${to}`);
      this.record(`partition: one-way ${from} -/-> ${to}`);
    }
  }

  private cutBothWays(a: NodeId, b: NodeId): void {
    this.cuts.add(`${a}>${b}`);
    this.cuts.add(`${b}>${a}`);
  }

  /**
   * Snapshots the applied state, keeping a few entries behind the snapshot (so a follower just
   * behind catches up from the log): MemoryRaftStorage through its synchronous methods,
   * KvRaftStorage through createSnapshot's compaction index.
   */
  private async compact(node: SimulatedNode): Promise<void> {
    const storage = node.storage;
    const snapshotIndex = storage.snapshot().metadata.index;
    if (node.appliedIndex <= snapshotIndex) return;
    if (storage instanceof MemoryRaftStorage) {
      storage.createSnapshotSynchronously(node.appliedIndex, node.confState, encodeStateMachine(node));
      const compactIndex = Math.max(snapshotIndex + 1, node.appliedIndex - KEEP_ENTRIES_AFTER_COMPACTION);
      if (compactIndex > storage.firstIndex() - 1) storage.compactSynchronously(compactIndex);
    } else {
      const compactIndex = Math.max(0, node.appliedIndex - KEEP_ENTRIES_AFTER_COMPACTION);
      await storage.createSnapshot(node.appliedIndex, node.confState, encodeStateMachine(node), { compactIndex });
    }
    this.record(`compact ${node.id}: snapshot at ${node.appliedIndex}, log from ${storage.firstIndex()}`);
  }

  // ---------------------------------------------------------------------------------------------
  // Checkers.

  private check(): void {
    const logs = new Map<NodeId, Entry[]>();
    for (const node of this.liveNodes()) {
      const status = node.raw!.status();
      this.expect(status.commit >= node.commitSeen, `monotonic commit: node ${node.id} commit went from ${node.commitSeen} to ${status.commit}`);
      node.commitSeen = status.commit;
      if (status.role === 'leader') {
        const previous = this.leaderOfTerm.get(status.term);
        this.expect(previous === undefined || previous === node.id, `election safety: ${previous} and ${node.id} are both leaders of term ${status.term}`);
        this.leaderOfTerm.set(status.term, node.id);
      }
      logs.set(node.id, node.raw!.logEntries(SIZE_UNLIMITED));
    }
    this.checkLogMatching(logs);
    this.checkLeaderCompleteness(logs);
  }

  private checkLogMatching(logs: Map<NodeId, Entry[]>): void {
    const entries = [...logs.entries()];
    for (let a = 0; a < entries.length; a++) {
      for (let b = a + 1; b < entries.length; b++) {
        const [idA, logA] = entries[a]!;
        const [idB, logB] = entries[b]!;
        const low = Math.max(logA[0]?.index ?? Infinity, logB[0]?.index ?? Infinity);
        const high = Math.min(logA[logA.length - 1]?.index ?? 0, logB[logB.length - 1]?.index ?? 0);
        let matched = false;
        for (let index = high; index >= low; index--) {
          const entryA = logA[index - logA[0]!.index]!;
          const entryB = logB[index - logB[0]!.index]!;
          if (!matched && entryA.term === entryB.term) matched = true;
          if (matched) {
            this.expect(
              entryA.term === entryB.term && sameBytes(entryA.data, entryB.data) && entryA.type === entryB.type,
              `log matching: nodes ${idA} and ${idB} share an entry above ${index} but differ at ${index} (${entryA.term} vs ${entryB.term})`,
            );
          }
        }
      }
    }
  }

  private checkLeaderCompleteness(logs: Map<NodeId, Entry[]>): void {
    for (const node of this.liveNodes()) {
      const status = node.raw!.status();
      if (status.role !== 'leader') continue;
      const log = logs.get(node.id)!;
      // Committed indexes are contiguous from 2 (after the bootstrap snapshot) to `committed.size + 1`.
      let highest = this.committed.size + 1;
      while (highest > status.lastIndex && this.committed.get(highest)!.observedTerm > status.term) highest--;
      this.expect(highest <= status.lastIndex, `leader completeness: leader ${node.id} of term ${status.term} ends at ${status.lastIndex} but ${highest} is committed`);
      for (const entry of log) {
        const known = this.committed.get(entry.index);
        if (known === undefined || known.observedTerm > status.term) continue;
        this.expect(entry.term === known.term, `leader completeness: leader ${node.id} of term ${status.term} has ${entry.index}/${entry.term}, but ${entry.index}/${known.term} is committed`);
      }
    }
  }

  /** With faults over, the group must elect a leader and commit a new entry everywhere. */
  private async checkLiveness(): Promise<void> {
    this.record('liveness: heal, restart every node, stop non-members once the members know the membership, no more faults');
    this.cuts.clear();
    const marker = `final-${this.options.seed}`;
    let proposed = false;
    let members: SimulatedNode[] = [];
    for (let round = 0; round < LIVENESS_ROUNDS_MAX; round++) {
      this.step++;
      // A change still in flight may commit now: follow the committed membership.
      members = await this.followCommittedMembership();
      for (const node of this.liveNodes()) {
        while (node.raw!.hasReady()) await this.processReadyReliably(node);
      }
      const messages = this.network;
      this.network = [];
      for (const message of messages) {
        const recipient = this.nodes.get(message.to)?.raw;
        if (recipient === undefined) continue;
        recipient.step(message);
        if (message.type === 'snapshot') this.reportSnapshot(message.from, message.to, 'finished');
      }
      this.check();
      // A proposal accepted by a leader that then lost leadership is lost (RawNode documents
      // this): like a client, propose again after a while.
      if (round % LIVENESS_RETRY_ROUNDS === 0) proposed = false;
      if (!proposed) {
        const leader = members.find((node) => node.raw!.status().role === 'leader');
        if (leader !== undefined) {
          try {
            leader.raw!.propose(new TextEncoder().encode(marker));
            proposed = true;
          } catch (error) {
            if (!(error instanceof ProposalDroppedError)) throw error;
          }
        }
      }
      if (proposed && members.every((node) => node.values.includes(marker))) return;
      if (messages.length === 0) for (const node of this.liveNodes()) node.raw!.tick();
    }
    const states = members.map((node) => {
      const status = node.raw!.status();
      return `${node.id}: ${status.role} term=${status.term} commit=${status.commit} applied=${node.appliedIndex}`;
    });
    this.fail(`liveness: no new entry committed on every member within ${LIVENESS_ROUNDS_MAX} rounds after faults stopped (${states.join('; ')})`);
  }

  /**
   * Runs every node until each member has applied the committed membership, then stops the
   * nodes outside it, as an operator would: stopping a removed node earlier can leave the others
   * unable to decide (they may still be in a joint configuration that needs it, or not know yet
   * that the change committed). Returns the members.
   */
  private async followCommittedMembership(): Promise<SimulatedNode[]> {
    const { voters, votersOutgoing, learners } = this.committedMembership;
    const memberIds = new Set([...voters, ...(votersOutgoing ?? []), ...learners]);
    const members = [...this.nodes.values()].filter((node) => memberIds.has(node.id));
    const membersKnow = members.every((node) => node.raw !== undefined && node.appliedIndex >= this.committedMembershipIndex);
    for (const node of this.nodes.values()) {
      if (!memberIds.has(node.id) && membersKnow) {
        if (node.raw !== undefined) this.stop(node, 'stop (no longer a member)');
      }
      else if (node.raw === undefined && (memberIds.has(node.id) || !membersKnow)) await this.start(node);
    }
    return members;
  }

  private async processReadyReliably(node: SimulatedNode): Promise<void> {
    const raw = node.raw!;
    const ready = raw.ready();
    await this.persist(node, ready);
    this.checkReadStates(node, ready);
    this.checkPromises(node, ready.messages);
    for (const message of ready.messages) this.network.push(message);
    this.apply(node, raw, ready);
    raw.advance();
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing.

  private liveNodes(): SimulatedNode[] {
    return [...this.nodes.values()].filter((node) => node.raw !== undefined);
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.random.integerBelow(items.length)]!;
  }

  private ignoreDropped(action: () => void): void {
    try {
      action();
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
    }
  }

  private record(line: string): void {
    this.history.push(`step ${this.step}: ${line}`);
    if (this.history.length > HISTORY_LINES_MAX * 2) this.history = this.history.slice(-HISTORY_LINES_MAX);
  }

  private expect(condition: boolean, message: string): void {
    if (!condition) this.fail(message);
  }

  private fail(message: string): never {
    const { seed, nodeCount, steps, preVote, checkQuorum, faultLevel, storage, commitPropagation } = this.options;
    throw new SimulationFailure(
      `raft simulation failed: seed=${seed} step=${this.step}: ${message}\n` +
        `replay: npm run sim -- --seed ${seed} --steps ${steps} ` +
        `(options: nodes=${nodeCount} steps=${steps} preVote=${preVote} checkQuorum=${checkQuorum} faultLevel=${faultLevel} storage=${storage} commitPropagation=${commitPropagation})\n` +
        `last actions:\n  ${this.history.slice(-HISTORY_LINES_MAX).join('\n  ')}`,
    );
  }
}

interface StateMachineImage {
  values: string[];
  keyValues: Array<[string, string]>;
  appliedOperations: string[];
}

function encodeStateMachine(node: SimulatedNode): Uint8Array {
  const image: StateMachineImage = { values: node.values, keyValues: [...node.keyValues], appliedOperations: [...node.appliedOperations] };
  return new TextEncoder().encode(JSON.stringify(image));
}

function restoreStateMachine(node: SimulatedNode, data: Uint8Array): void {
  const image: StateMachineImage =
    data.byteLength === 0 ? { values: [], keyValues: [], appliedOperations: [] } : (JSON.parse(new TextDecoder().decode(data)) as StateMachineImage);
  node.values = image.values;
  node.keyValues = new Map(image.keyValues);
  node.appliedOperations = new Set(image.appliedOperations);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let index = 0; index < a.byteLength; index++) if (a[index] !== b[index]) return false;
  return true;
}
