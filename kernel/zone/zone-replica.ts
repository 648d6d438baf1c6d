import { assert } from '../assert.ts';
import { METASTORE_BATCH_OPERATIONS_MAX, type Metastore, type MetastoreOperation, type MetastorePrecondition } from '../contracts/metastore.ts';
import type { ZoneMessage, ZoneTransport } from '../contracts/zone-transport.ts';
import { AlreadyExistsError, BusyError, ClosedError, ConflictError, InvalidArgumentError, NexusError, NotFoundError } from '../errors.ts';
import { decodeConfChange } from '../raft/conf-change.ts';
import { ProposalDroppedError } from '../raft/errors.ts';
import type { Message } from '../raft/message.ts';
import { RawNode, type Ready } from '../raft/raw-node.ts';
import { entrySizeBytes } from '../raft/entry-size.ts';
import type { RaftLogger } from '../raft/raft-config.ts';
import type { RaftPersistRequest, RaftStorage, WritableRaftStorage } from '../raft/storage.ts';
import { NO_NODE, type ConfState, type Entry, type HardState, type NodeId, type RaftRole, type Snapshot } from '../raft/types.ts';
import { commandSizeBytes, decodeCommand, encodeCommand, type ZoneCommand } from './command-codec.ts';
import {
  INBOX_MESSAGES_MAX,
  PENDING_REQUESTS_MAX,
  PROMOTION_LAG_ENTRIES_MAX,
  PROPOSALS_PER_READY_MAX,
  RECENT_OUTCOMES_MAX,
  REMOVAL_NOTICE_BYTES_MAX,
  REMOVAL_NOTICE_TICKS,
  REQUEST_TIMEOUT_TICKS_DEFAULT,
  SILENT_PEERS_PROBE_TICKS,
  SNAPSHOT_CATCH_UP_BYTES_MAX,
  SNAPSHOT_CATCH_UP_ENTRIES_DEFAULT,
  SNAPSHOT_CATCH_UP_INTERVALS,
  SNAPSHOT_CHUNK_BYTES_DEFAULT,
  SNAPSHOT_INSTALL_OPERATIONS_PER_COMMIT,
  SNAPSHOT_INTERVAL_BYTES,
  SNAPSHOT_INTERVAL_ENTRIES_DEFAULT,
  SNAPSHOT_TRANSFER_HOLD_BYTES_MAX,
  ZONE_MEMBERS_MAX,
  ZONE_PROPOSAL_BYTES_MAX,
} from './constants.ts';
import { NotLeaderError, RemovedError, WriteLostError } from './errors.ts';
import type {
  AddMemberOptions,
  WriteToken,
  ZoneBootstrap,
  ZoneConsistency,
  ZoneMember,
  ZoneMemberStatus,
  ZoneReplicaApi,
  ZoneReplicaOptions,
  ZoneStatus,
} from './types.ts';
import type { ZoneLoopPhase, ZoneLoopProfiler } from './loop-profiler.ts';
import { assertNodeId, assertNodePublicKey, assertPeerAddress, assertZoneId } from './zone-id.ts';
import { isSamePublicKey, type MemberRecord } from './member-record.ts';
import { assertZoneBatch, ZoneMetastore } from './zone-metastore.ts';
import { SnapshotReceiver, SnapshotSender } from './snapshot-transfer.ts';
import { distinctKeyCount, encodeBootstrapSnapshot, encodeStoredStateSnapshot, ZoneStateMachine, type BatchOutcome } from './zone-state-machine.ts';

/** A request waiting for its outcome; rejected with BusyError when `deadlineTick` passes. */
interface Pending<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
  readonly deadlineTick: number;
}

/** The reads that arrived between two Readies: one ReadIndex request of Raft answers them all. */
interface PendingReads {
  readonly waiters: Pending<void>[];
  /** The earliest deadline of the waiters: the group fails together (a retry gets a new one). */
  readonly deadlineTick: number;
  /** Set once the leader answered: the reads may be served when the replica has applied this far. */
  readIndex: number | undefined;
}

interface PendingAcknowledgement extends Pending<WriteToken> {
  readonly token: WriteToken;
}

/** Waits for the replica to reach a state (a membership, a leader). */
interface PendingCondition extends Pending<void> {
  readonly holds: () => boolean;
  /** Why it times out, for the BusyError; a generic message when absent. */
  readonly timeoutMessage?: string;
  /** Proposes again, at each tick until the condition holds (a proposal Raft refused or lost). */
  readonly retry?: () => void;
}

/** What became of the entry at an index, remembered for `waitFor` (RECENT_OUTCOMES_MAX of them). */
interface AppliedOutcome {
  readonly term: number;
  readonly outcome: BatchOutcome | undefined;
}

/** Ticks without a deadline: requests whose outcome is certain to come (or to be rejected by close). */
const NO_DEADLINE = Number.POSITIVE_INFINITY;

/**
 * One replica of a zone: the driver loop around a RawNode. It persists each Ready through the
 * WritableRaftStorage, sends its messages through the ZoneTransport, applies committed entries to
 * the ZoneStateMachine (the zone's Metastore in the local KvStore), answers reads, and advances,
 * in the order of the Ready contract (kernel/raft/raw-node.ts; a leader sends before it persists,
 * as the contract allows). Ticks come from the
 * injected Ticker; everything that reaches the RawNode (ticks, messages, proposals, reads,
 * membership requests) is queued and stepped between two Readies, so proposals that arrive while
 * a Ready is being persisted are batched into the next one and share its write.
 *
 * The public API and its guarantees are documented on `ZoneReplicaApi` (types.ts).
 */
export class ZoneReplica implements ZoneReplicaApi {
  readonly zoneId: string;
  readonly nodeId: NodeId;
  readonly metastore: Metastore;
  private readonly consistency: ZoneConsistency;
  private readonly rawNode: RawNode;
  private readonly stateMachine: ZoneStateMachine;
  private readonly raftStorage: WritableRaftStorage;
  private readonly transport: ZoneTransport;
  private readonly snapshotIntervalEntries: number;
  private readonly snapshotCatchUpEntries: number;
  private readonly requestTimeoutTicks: number;
  private readonly incarnation: number;
  private readonly profiler: ZoneLoopProfiler | undefined;
  private confState: ConfState;
  private snapshotIndex: number;
  /** Payload bytes of the entries applied since the last snapshot (counted from this run's start). */
  private appliedBytesSinceSnapshot = 0;
  private readonly snapshotInstallOperationsPerCommit: number;
  /** Streams the state to followers for Raft's snapshot messages, and stages what a leader streams here (snapshot-transfer.ts). */
  private readonly snapshotSender: SnapshotSender;
  private readonly snapshotReceiver: SnapshotReceiver;
  private leader: NodeId = NO_NODE;
  private role: RaftRole = 'follower';
  /** Term and vote as last persisted: a Ready that changes them sends only after its write. */
  private persistedHardState: HardState;
  /**
   * The latest hard state, when it differs from the persisted one in its commit index alone. Raft
   * needs no durable commit index (a restart learns it from the leader again), so such a change is
   * not written by itself: it rides with the next write there is (entries, a new term or vote),
   * and is written before a snapshot, whose index the persisted commit must reach.
   */
  private unpersistedCommit: HardState | undefined;
  private currentTick = 0;
  /** Ticks since a message from any peer arrived (see SILENT_PEERS_PROBE_TICKS). */
  private silentTicks = 0;
  private requestSequence = 0;

  private inbox: Message[] = [];
  private ticksPending = 0;
  private actions: { readonly run: () => void; readonly abandon: (error: unknown) => void }[] = [];
  /** SC writes taken from `actions`, proposed together when the actions have run. */
  private proposalBatch: { proposalId: string; data: Uint8Array; pending: Pending<number> }[] = [];

  private readonly proposals = new Map<string, Pending<number>>();
  private readonly acknowledgements: PendingAcknowledgement[] = [];
  private readonly tokenWaiters = new Map<number, (Pending<number> & { readonly term: number })[]>();
  private readonly recentOutcomes = new Map<number, AppliedOutcome>();
  /** Indexes at or below this were reached through a snapshot: their outcomes are unknown here. */
  private outcomesKnownAfter: number;
  /** Read requests by the context of their ReadIndex request. */
  private readonly reads = new Map<string, PendingReads>();
  /** Reads taken from `actions`, asked for together when the actions have run. */
  private readBatch: Pending<void>[] = [];
  private readonly conditions: PendingCondition[] = [];

  private loop: Promise<void> | undefined;
  private running = false;
  private closed = false;
  private failure: unknown = undefined;
  private readonly stopTicker: () => void;
  private readonly stopListening: () => void;
  /** Set when this replica applied a change that removes its node; it stops once it no longer leads. */
  private removalApplied = false;
  /** Set once it stopped for that (see `removal`). */
  private removedStopped = false;
  private resolveRemoval: () => void = () => {};
  /**
   * Nodes removed from the zone, with the tick their removal applied at: the transport forgets them
   * REMOVAL_NOTICE_TICKS later, so that the last append that tells them (sendRemovalNotices) leaves
   * first (a transport may drop what is queued for a peer it forgets).
   */
  private readonly departedPeers: { readonly nodeId: NodeId; readonly tick: number }[] = [];
  private readonly logger: RaftLogger | undefined;
  readonly removal: Promise<void> = new Promise<void>((resolve) => {
    this.resolveRemoval = resolve;
  });

  private constructor(options: ZoneReplicaOptions, stateMachine: ZoneStateMachine, incarnation: number) {
    this.zoneId = options.zoneId;
    this.nodeId = options.nodeId;
    this.consistency = options.consistency ?? 'strong';
    this.raftStorage = options.raftStorage;
    this.transport = options.transport;
    this.stateMachine = stateMachine;
    this.incarnation = incarnation;
    this.snapshotIntervalEntries = options.snapshotIntervalEntries ?? SNAPSHOT_INTERVAL_ENTRIES_DEFAULT;
    this.snapshotCatchUpEntries =
      options.snapshotCatchUpEntries ?? (options.snapshotIntervalEntries === undefined ? SNAPSHOT_CATCH_UP_ENTRIES_DEFAULT : SNAPSHOT_CATCH_UP_INTERVALS * options.snapshotIntervalEntries);
    this.requestTimeoutTicks = options.requestTimeoutTicks ?? REQUEST_TIMEOUT_TICKS_DEFAULT;
    this.profiler = options.profiler;
    this.logger = options.logger;
    this.snapshotInstallOperationsPerCommit = options.snapshotInstallOperationsPerCommit ?? SNAPSHOT_INSTALL_OPERATIONS_PER_COMMIT;
    const snapshotChunkBytes = options.snapshotChunkBytes ?? SNAPSHOT_CHUNK_BYTES_DEFAULT;
    this.snapshotSender = new SnapshotSender({
      send: (message) => this.transport.send(this.zoneId, message),
      pinState: () => this.stateMachine.pinState(snapshotChunkBytes),
      report: (to, status) => this.enqueue(() => this.rawNode.reportSnapshot(to, status)),
      leadsIn: (term) => !this.closed && this.role === 'leader' && this.persistedHardState.term === term,
      logFollows: (index) => index >= this.raftStorage.firstIndex() - 1 && index <= this.raftStorage.lastIndex(),
      fail: (error) => this.enqueue(() => {
        throw error;
      }),
    });
    this.snapshotReceiver = new SnapshotReceiver({
      send: (message) => this.transport.send(this.zoneId, message),
      stageChunk: (transfer, data, after) => this.stateMachine.stageChunk(transfer, data, after),
      stagingResumePoint: (index, term, firstChunk) => this.stateMachine.stagingResumePoint(index, term, firstChunk),
      discardStaging: () => this.stateMachine.discardStaging(),
      stepSnapshot: (message) => this.rawNode.step(message),
    });
    const snapshot = options.raftStorage.snapshot();
    this.snapshotIndex = snapshot.metadata.index;
    this.outcomesKnownAfter = stateMachine.appliedIndex;
    const initialState = options.raftStorage.initialState();
    this.confState = initialState.confState;
    this.persistedHardState = initialState.hardState;
    // Raft hands out every committed entry after the snapshot again: membership changes must be
    // replayed into Raft, while the state machine skips the entries it has already applied.
    this.rawNode = new RawNode({
      id: options.nodeId,
      storage: options.raftStorage,
      random: options.random,
      applied: snapshot.metadata.index,
      preVote: true,
      checkQuorum: true,
      // Lazy: followers learn a commit with the next append, which saves every follower a
      // message, an apply and an answer per write, and the leader their wake-ups. A follower
      // still hears at once of the commits its own proposals and reads wait for.
      commitPropagation: 'lazy',
      ...(options.electionTimeoutTicks === undefined ? {} : { electionTimeoutTicks: options.electionTimeoutTicks }),
      ...(options.heartbeatIntervalTicks === undefined ? {} : { heartbeatIntervalTicks: options.heartbeatIntervalTicks }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    this.metastore = new ZoneMetastore(this, this.consistency, this.stateMachine);
    for (const member of options.peers ?? []) this.setPeer(member.nodeId, member);
    for (const [nodeId, record] of stateMachine.members) this.setPeer(nodeId, record);
    this.setRemovedPeers();
    this.stopListening = this.transport.listen({
      zoneId: this.zoneId,
      nodeId: this.nodeId,
      receive: (message) => this.receive(message),
      unreachable: (peer) => this.enqueue(() => this.rawNode.reportUnreachable(peer)),
      removed: (by) => this.onRemovalProven(by),
    });
    this.stopTicker = options.ticker.subscribe(() => this.onTick());
  }

  /**
   * Opens a replica: bootstraps a new zone when `options.bootstrap` is given and the raft storage
   * is empty (it is ignored when the storage already holds the zone), installs the latest raft
   * snapshot into the state machine when a crash came between the two, and starts receiving.
   */
  static async open(options: ZoneReplicaOptions): Promise<ZoneReplica> {
    validateOptions(options);
    if (options.bootstrap !== undefined && isEmptyStorage(options.raftStorage)) await bootstrap(options.raftStorage, options.bootstrap);
    const stateMachine = await ZoneStateMachine.open(options.store);
    const snapshot = options.raftStorage.snapshot();
    // A crash between Raft persisting a received snapshot and its install finishing: install it
    // (again) from the staged chunks. Otherwise a staged transfer is one Raft never took: a whole
    // one is dropped, one still arriving is kept for the next transfer to resume after.
    if (snapshot.metadata.index > stateMachine.appliedIndex) await stateMachine.installSnapshot(snapshot, installOptions(options));
    else await stateMachine.discardStaging({ keepIncomplete: true });
    const incarnation = await stateMachine.nextIncarnation();
    const replica = new ZoneReplica(options, stateMachine, incarnation);
    // The applied state records this node's removal: the raft log may not say so (its commit index
    // is not always persisted). A recorded removal, not a missing member record: the state a node
    // applies before its own addition lacks its record as much as a removed node's does.
    if (stateMachine.removed.has(options.nodeId)) replica.stopAsRemoved();
    else replica.wake();
    return replica;
  }

  // ---- writes and reads ----

  commit(operations: readonly MetastoreOperation[], preconditions: readonly MetastorePrecondition[] = []): Promise<number> {
    const startMs = this.profiler?.now();
    const committed = this.request<number>('commit', (pending) => {
      const { proposalId, data } = this.encodeProposal({ kind: 'batch', operations, preconditions });
      return () => {
        this.proposalBatch.push({ proposalId, data, pending });
      };
    });
    if (startMs !== undefined) void committed.then(() => this.record('commit', startMs, 1), () => {});
    return committed;
  }

  write(operations: readonly MetastoreOperation[], preconditions: readonly MetastorePrecondition[] = []): Promise<WriteToken> {
    return this.request<WriteToken>('write', (pending) => {
      const { data } = this.encodeProposal({ kind: 'batch', operations, preconditions });
      return () => {
        const before = this.rawNode.status();
        if (before.role !== 'leader') {
          throw new NotLeaderError(`zone ${this.zoneId}: node ${this.nodeId} is not the leader and takes no EC write; the leader is ${before.leader || 'unknown'}`, before.leader);
        }
        this.rawNode.propose(data);
        const status = this.rawNode.status();
        // A leader appends a proposal to its own log at once: it is the last entry, in this term.
        this.acknowledgements.push({ ...pending, token: { zoneId: this.zoneId, index: status.lastIndex, term: status.term } });
      };
    });
  }

  waitFor(token: WriteToken): Promise<number> {
    this.throwIfUnusable('waitFor');
    if (typeof token !== 'object' || token === null || token.zoneId !== this.zoneId || !isPositiveInteger(token.index) || !isPositiveInteger(token.term)) {
      return Promise.reject(new InvalidArgumentError(`invalid write token ${safeJson(token)} for zone ${this.zoneId}`));
    }
    if (token.index <= this.stateMachine.appliedIndex) return this.outcomeOf(token);
    return new Promise<number>((resolve, reject) => {
      const waiters = this.tokenWaiters.get(token.index) ?? [];
      waiters.push({ resolve, reject, deadlineTick: NO_DEADLINE, term: token.term });
      this.tokenWaiters.set(token.index, waiters);
    });
  }

  private outcomeOf(token: WriteToken): Promise<number> {
    const applied = this.recentOutcomes.get(token.index);
    if (applied === undefined) {
      const why = token.index <= this.outcomesKnownAfter ? 'this replica reached it through a snapshot' : 'it applied too long ago to be remembered';
      return Promise.reject(new BusyError(`zone ${this.zoneId}: the outcome of the write at index ${token.index} is unknown here: ${why}`));
    }
    try {
      return Promise.resolve(settleToken(token, applied));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  readBarrier(): Promise<void> {
    return this.request<void>('readBarrier', (pending) => () => {
      this.readBatch.push(pending);
    });
  }

  // ---- administration ----

  campaign(): Promise<void> {
    return this.request<void>('campaign', (pending) => () => {
      this.rawNode.campaign();
      pending.resolve();
    });
  }

  async addMember(member: ZoneMember, options: AddMemberOptions = {}): Promise<void> {
    this.throwIfUnusable('addMember');
    assertNodeId(member?.nodeId);
    assertPeerAddress(member.address);
    if (member.publicKey !== undefined) assertNodePublicKey(member.publicKey);
    if (this.stateMachine.removed.has(member.nodeId)) throw removedIdError(this.zoneId, member.nodeId);
    const recorded = this.stateMachine.members.get(member.nodeId);
    if (recorded?.publicKey !== undefined && !isSamePublicKey(recorded.publicKey, member.publicKey)) {
      throw new AlreadyExistsError(`cannot add node ${member.nodeId} to zone ${this.zoneId}: it is registered with another public key`);
    }
    const role = options.role ?? 'voter';
    if (role !== 'voter' && role !== 'learner') throw new InvalidArgumentError(`invalid member role ${safeJson(role)}: expected "voter" or "learner"`);
    const members = this.confState.voters.length + this.confState.learners.length;
    if (!this.isMember(member.nodeId) && members >= ZONE_MEMBERS_MAX) {
      throw new InvalidArgumentError(`cannot add node ${member.nodeId} to zone ${this.zoneId}: it has ${members} members, at most ${ZONE_MEMBERS_MAX}`);
    }
    const promote = role === 'voter';
    // A voter stays one: adding it again (a retried join) changes nothing.
    if (promote && this.confState.voters.includes(member.nodeId)) return;
    await this.request<number>('addMember', (pending) => {
      const { proposalId, data } = this.encodeProposal({ kind: 'member', nodeId: member.nodeId, address: member.address, publicKey: member.publicKey, promote });
      return () => {
        this.rawNode.propose(data);
        this.proposals.set(proposalId, pending);
      };
    });
    // Every new member starts as a learner: it cannot raise the quorum before it has the log.
    const added = (): boolean => this.confState.learners.includes(member.nodeId) || (promote && this.confState.voters.includes(member.nodeId));
    await this.request<void>('addMember', (pending) => () => {
      // At the leader, a change refused because another is under way (a promotion) is proposed
      // again at the next tick. Not at a follower: its applied membership may lag the leader's,
      // and a late add-learner for a node promoted meanwhile would demote it.
      try {
        if (!added()) this.rawNode.proposeConfChange({ type: 'add-learner', nodeId: member.nodeId });
      } catch (error) {
        if (!(error instanceof ProposalDroppedError) || this.rawNode.status().role !== 'leader') throw error;
      }
      const retry = (): void => {
        if (this.rawNode.status().role === 'leader' && !added() && !this.isMember(member.nodeId)) {
          this.rawNode.proposeConfChange({ type: 'add-learner', nodeId: member.nodeId });
        }
      };
      this.conditions.push({ ...pending, holds: added, retry });
    });
    if (!promote || options.waitForPromotion === false) return;
    await this.request<void>('addMember', (pending) => () => {
      this.conditions.push({
        ...pending,
        holds: () => this.confState.voters.includes(member.nodeId),
        timeoutMessage:
          `zone ${this.zoneId}: node ${member.nodeId} is a learner and was not promoted to voter within ${this.requestTimeoutTicks} ticks ` +
          `(it has not caught up, or no leader could promote it); it stays a learner, the leader promotes it once it has caught up, and adding it again waits for that`,
      });
    });
  }

  async removeMember(nodeId: NodeId): Promise<void> {
    this.throwIfUnusable('removeMember');
    assertNodeId(nodeId);
    if (!this.isMember(nodeId)) throw new NotFoundError(`cannot remove node ${nodeId}: it is not a member of zone ${this.zoneId}`);
    await this.request<void>('removeMember', (pending) => () => {
      this.rawNode.proposeConfChange({ type: 'remove-node', nodeId });
      this.conditions.push({ ...pending, holds: () => !this.isMember(nodeId) });
    });
  }

  async transferLeadership(nodeId: NodeId): Promise<void> {
    this.throwIfUnusable('transferLeadership');
    assertNodeId(nodeId);
    if (!this.confState.voters.includes(nodeId)) {
      throw new NotFoundError(`cannot transfer leadership of zone ${this.zoneId} to node ${nodeId}: it is not a voter`);
    }
    await this.request<void>('transferLeadership', (pending) => () => {
      if (this.leader !== nodeId) this.rawNode.transferLeadership(nodeId);
      this.conditions.push({ ...pending, holds: () => this.leader === nodeId });
    });
  }

  status(): ZoneStatus {
    const raft = this.rawNode.status();
    const memberIds = [...this.confState.voters, ...this.confState.learners].sort((a, b) => a - b);
    const members: ZoneMemberStatus[] = memberIds.map((nodeId) => {
      const progress = raft.progress.get(nodeId);
      const record = this.stateMachine.members.get(nodeId);
      return {
        nodeId,
        address: record?.address ?? '',
        ...(record?.publicKey === undefined ? {} : { publicKey: record.publicKey }),
        role: this.confState.voters.includes(nodeId) ? 'voter' : 'learner',
        promotionPending: this.confState.learners.includes(nodeId) && this.stateMachine.promotions.has(nodeId),
        isLeader: nodeId === raft.leader,
        matchIndex: progress?.match,
        lagEntries: progress === undefined ? undefined : Math.max(0, raft.lastIndex - progress.match),
      };
    });
    return {
      zoneId: this.zoneId,
      nodeId: this.nodeId,
      role: raft.role,
      leader: raft.leader,
      term: raft.term,
      commitIndex: raft.commit,
      appliedIndex: this.stateMachine.appliedIndex,
      snapshotIndex: this.snapshotIndex,
      members,
      consistency: this.consistency,
      closed: this.closed,
      removed: this.removedStopped,
      removedNodeIds: [...this.stateMachine.removed.keys()].sort((a, b) => a - b),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTicker();
    this.stopListening();
    await this.loop;
    this.rejectEverything(new ClosedError(`zone ${this.zoneId} replica ${this.nodeId} is closed`));
  }

  /** @internal For the Metastore view: throws when the replica can take no more calls. */
  throwIfUnusable(operation: string): void {
    if (this.closed) throw new ClosedError(`cannot ${operation}: zone ${this.zoneId} replica ${this.nodeId} is closed`);
    if (this.removalApplied) throw this.removedError(operation);
    if (this.failure !== undefined) throw this.failure;
  }

  // ---- requests ----

  /**
   * Registers a request: `prepare` runs now (validating and encoding, so bad input fails at once
   * and the caller's buffers are copied before this returns) and returns the action to run on the
   * RawNode between two Readies. An action that throws rejects the request.
   */
  private request<T>(operation: string, prepare: (pending: Pending<T>) => () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.throwIfUnusable(operation);
      if (this.pendingCount() >= PENDING_REQUESTS_MAX) {
        throw new BusyError(`zone ${this.zoneId} replica ${this.nodeId} has ${PENDING_REQUESTS_MAX} requests pending; retry later`);
      }
      const pending: Pending<T> = { resolve, reject, deadlineTick: this.currentTick + this.requestTimeoutTicks };
      const action = prepare(pending);
      this.enqueue(() => {
        try {
          action();
        } catch (error) {
          if (!(error instanceof NexusError)) throw error;
          reject(error);
        }
      }, reject);
    });
  }

  private encodeProposal(command: Omit<BatchProposal, 'proposalId'> | Omit<MemberProposal, 'proposalId'>): { proposalId: string; data: Uint8Array } {
    const proposalId = this.nextRequestId();
    // Spelled out for a batch, the command of every write: a spread of it cost more than its encoding.
    const full: ZoneCommand =
      command.kind === 'batch' ? { kind: 'batch', proposalId, operations: command.operations, preconditions: command.preconditions } : ({ ...command, proposalId } as ZoneCommand);
    if (full.kind === 'batch') {
      assertZoneBatch(full.operations, full.preconditions);
      assertBatchFits(full.operations);
    }
    const sizeBytes = commandSizeBytes(full);
    if (sizeBytes > ZONE_PROPOSAL_BYTES_MAX) {
      throw new InvalidArgumentError(`proposal too large for zone ${this.zoneId}: ${sizeBytes} bytes encoded, at most ${ZONE_PROPOSAL_BYTES_MAX}`);
    }
    return { proposalId, data: encodeCommand(full) };
  }

  private nextRequestId(): string {
    this.requestSequence++;
    return `${this.nodeId}.${this.incarnation}.${this.requestSequence}`;
  }

  private pendingCount(): number {
    let count = this.proposals.size + this.acknowledgements.length + this.readBatch.length + this.conditions.length;
    for (const group of this.reads.values()) count += group.waiters.length;
    for (const waiters of this.tokenWaiters.values()) count += waiters.length;
    return count;
  }

  // ---- inputs ----

  private receive(message: ZoneMessage): void {
    if (this.closed) return;
    this.silentTicks = 0;
    // Snapshots travel as chunks (snapshot-transfer.ts); Raft's own snapshot message never comes over the wire.
    if (message.type === 'snapshot') return;
    if (message.type === 'snapshot-chunk-response') {
      this.snapshotSender.onResponse(message);
      return;
    }
    if (message.type === 'snapshot-chunk') {
      if (this.snapshotReceiver.accept(message)) this.wake();
      return;
    }
    if (this.inbox.length >= INBOX_MESSAGES_MAX) return;
    this.inbox.push(message);
    this.wake();
  }

  private onTick(): void {
    if (this.closed) return;
    this.ticksPending++;
    this.snapshotSender.tick();
    this.wake();
  }

  /** Queues an action for the RawNode; `abandon` is told when the replica stops before running it. */
  private enqueue(run: () => void, abandon: (error: unknown) => void = () => {}): void {
    this.actions.push({ run, abandon });
    this.wake();
  }

  private setPeer(nodeId: NodeId, record: MemberRecord): void {
    if (nodeId !== this.nodeId) this.transport.setPeer(this.zoneId, nodeId, record.address, record.publicKey);
  }

  /** Gives the transport the key of every removal the applied state records, so it can tell those nodes (ZoneTransport.setRemovedPeer). */
  private setRemovedPeers(): void {
    for (const [nodeId, publicKey] of this.stateMachine.removed) {
      if (nodeId !== this.nodeId && publicKey !== undefined) this.transport.setRemovedPeer?.(this.zoneId, nodeId, publicKey);
    }
  }

  /**
   * A member proved (through the transport) that the zone removed this node: it was cut off when
   * the removal committed and missed the last append. It stops as on that path, once it no longer
   * leads (a removed node leads no majority: checkQuorum makes it step down).
   */
  private onRemovalProven(by: NodeId): void {
    if (this.closed || this.removalApplied) return;
    this.logger?.info(`${this.nodeId} learns of its removal from ${by}, which the zone's state records`);
    this.removalApplied = true;
    this.wake();
  }

  // ---- the loop ----

  private wake(): void {
    if (this.running || this.closed || this.removedStopped || this.failure !== undefined) return;
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        if (this.closed) return;
        if (this.stopIfRemoved()) return;
        if (this.snapshotReceiver.hasWork) await this.snapshotReceiver.process();
        const inputsStartMs = this.profiler?.now();
        const stepped = this.stepInputs();
        this.record('inputs', inputsStartMs, stepped);
        if (!this.rawNode.hasReady()) {
          if (this.hasInputs()) continue;
          // A removal proven while the loop awaited (onRemovalProven) found it running.
          this.stopIfRemoved();
          return;
        }
        const readyStartMs = this.profiler?.now();
        const ready = this.rawNode.ready();
        await this.handleReady(ready);
        this.rawNode.advance();
        this.record('ready', readyStartMs, ready.entries.length);
        this.settleRequests();
        if (this.stopIfRemoved()) return;
        await this.maybeCreateSnapshot();
      }
    } catch (error) {
      this.failure = error;
      this.rejectEverything(error);
    } finally {
      // Synchronously with the loop's last step, so an input arriving next starts a new loop.
      this.running = false;
    }
  }

  private hasInputs(): boolean {
    return this.ticksPending > 0 || this.inbox.length > 0 || this.actions.length > 0 || this.snapshotReceiver.hasWork;
  }

  /** Tells the profiler, if any, that `phase` ran from `startMs` (its clock's) until now. */
  private record(phase: ZoneLoopPhase, startMs: number | undefined, count: number, synced?: boolean): void {
    if (this.profiler === undefined || startMs === undefined) return;
    this.profiler.record(phase, this.profiler.now() - startMs, count, synced);
  }

  /** Steps everything queued since the last Ready: ticks, then messages, then requests; returns how many messages and requests. */
  private stepInputs(): number {
    const ticked = this.ticksPending > 0;
    for (; this.ticksPending > 0; this.ticksPending--) {
      this.rawNode.tick();
      this.currentTick++;
      this.silentTicks++;
    }
    if (ticked) {
      // Every deadline is a tick count ahead of the tick its request arrived in (a positive
      // requestTimeoutTicks), so none can pass between ticks: the scan over every pending request
      // runs once per tick, not once per loop turn (per Ready, several per write at 64 clients).
      this.expireRequests();
      this.forgetDepartedPeers();
      this.probeSilentPeers();
      this.retryConditions();
      this.promoteCaughtUpLearner();
    }
    const messages = this.inbox;
    this.inbox = [];
    for (const message of messages) this.rawNode.step(message);
    const actions = this.actions.splice(0, PROPOSALS_PER_READY_MAX);
    for (const action of actions) action.run();
    this.proposeBatch();
    this.requestReadIndex();
    return messages.length + actions.length;
  }

  private retryConditions(): void {
    for (const condition of this.conditions) {
      if (condition.retry === undefined || condition.holds()) continue;
      try {
        condition.retry();
      } catch (error) {
        if (!(error instanceof NexusError)) throw error;
      }
    }
  }

  /**
   * At the leader, on a tick: proposes promoting one learner that joined to become a voter (its
   * promotion record, part of the zone's state, so a new leader finishes what its predecessor
   * left) once it replicates normally (any snapshot sent to it is done) and trails the leader's
   * last index by at most PROMOTION_LAG_ENTRIES_MAX. One change at a time; a refused proposal
   * (a change not yet applied, a term's first entry not yet committed) is tried at the next tick.
   */
  private promoteCaughtUpLearner(): void {
    const promotions = this.stateMachine.promotions;
    if (promotions.size === 0) return;
    const raft = this.rawNode.status();
    if (raft.role !== 'leader') return;
    for (const nodeId of [...promotions].sort((a, b) => a - b)) {
      if (!raft.confState.learners.includes(nodeId)) continue;
      const progress = raft.progress.get(nodeId);
      if (progress === undefined || progress.state !== 'replicate' || raft.lastIndex - progress.match > PROMOTION_LAG_ENTRIES_MAX) continue;
      try {
        this.rawNode.proposeConfChange({ type: 'add-voter', nodeId });
      } catch (error) {
        if (!(error instanceof NexusError)) throw error;
      }
      return;
    }
  }

  /**
   * The reads that arrived since the last Ready share one ReadIndex request (as etcd batches its
   * linearizable reads): one round of heartbeats answers them all, and each is served once the
   * replica has applied up to the index the leader returns, which covers every write that
   * completed before any of them was asked.
   */
  private requestReadIndex(): void {
    const waiters = this.readBatch;
    if (waiters.length === 0) return;
    this.readBatch = [];
    const context = this.nextRequestId();
    try {
      this.rawNode.readIndex(context);
    } catch (error) {
      if (!(error instanceof NexusError)) throw error;
      for (const waiter of waiters) waiter.reject(error);
      return;
    }
    const deadlineTick = Math.min(...waiters.map((waiter) => waiter.deadlineTick));
    this.reads.set(context, { waiters, deadlineTick, readIndex: undefined });
  }

  /** The SC writes that arrived since the last Ready go to Raft as one proposal: one append per follower. */
  private proposeBatch(): void {
    const batch = this.proposalBatch;
    if (batch.length === 0) return;
    this.proposalBatch = [];
    try {
      this.rawNode.proposeBatch(batch.map((proposal) => proposal.data));
    } catch (error) {
      if (!(error instanceof NexusError)) throw error;
      for (const proposal of batch) proposal.pending.reject(error);
      return;
    }
    for (const proposal of batch) this.proposals.set(proposal.proposalId, proposal.pending);
  }

  /** Steps 1 to 4 of the Ready contract (raw-node.ts); the caller advances. */
  private async handleReady(ready: Ready): Promise<void> {
    if (ready.softState !== undefined) {
      this.leader = ready.softState.leader;
      this.role = ready.softState.role;
    }
    const sendFirst = this.messagesMayPrecedePersist(ready);
    if (sendFirst) this.send(ready.messages);
    const { before, after } = this.splitCommittedEntries(ready);
    const appliedBefore = await this.applyAlongsidePersist(ready, before);
    this.acknowledgePersisted();
    if (!sendFirst) this.send(ready.messages);
    await appliedBefore?.done;
    if (ready.snapshot !== undefined) await this.applySnapshot(ready.snapshot);
    if (after.length > 0) await (await this.startApplying(after)).done;
    for (const readState of ready.readStates) {
      const read = this.reads.get(readState.context);
      if (read !== undefined && read.readIndex === undefined) read.readIndex = readState.index;
    }
  }

  /**
   * The committed entries this replica had persisted before this Ready (all of a leader's, which
   * counts its own entries only once persisted; a follower's, except those arriving in the same
   * append as their commit) may be applied while this Ready's write is under way, as etcd applies
   * while it writes its WAL: a request is answered one sync sooner. The others, and all entries
   * after a snapshot, are applied after the write, as the Ready contract orders.
   */
  private splitCommittedEntries(ready: Ready): { before: readonly Entry[]; after: readonly Entry[] } {
    const committed = ready.committedEntries;
    if (ready.snapshot !== undefined || committed.length === 0) return { before: [], after: committed };
    const persistedLastIndex = this.raftStorage.lastIndex();
    let count = 0;
    while (count < committed.length && committed[count]!.index <= persistedLastIndex) count++;
    return { before: committed.slice(0, count), after: committed.slice(count) };
  }

  /**
   * Applies `before` (entries persisted by an earlier Ready) and starts the Ready's persist, in the
   * order that serves the write waited for: a leader applies first, so that its KvStore commit
   * goes ahead of the persist's and the clients are answered without waiting for that sync; a
   * follower stages first and then issues the persist and the apply's commit in one synchronous
   * run, so that the KvStore writes them as one group (one log record, one sync). The leader
   * waits for the follower's write and acknowledgement, while what the follower applies was
   * answered at the leader already (with lazy commit propagation these entries arrive with the
   * next append): as a commit of its own after the persist, the apply's log write ran after the
   * sync, ahead of the acknowledgement, whose frame leaves in a later turn. Resolves once the
   * persist has; the apply's `done` is for the caller.
   */
  private async applyAlongsidePersist(ready: Ready, before: readonly Entry[]): Promise<{ done: Promise<void> } | undefined> {
    if (before.length === 0) {
      await this.persist(ready);
      return undefined;
    }
    if (this.role === 'leader') {
      const applied = await this.startApplying(before);
      await this.persist(ready);
      return applied;
    }
    const settlements = await this.stage(before);
    // Both commits are queued before the KvStore's writer takes its next group (it waits a
    // microtask for the callers of the same synchronous run): the persist's first, then the apply's.
    const persisted = this.persist(ready);
    // Awaited below; should the apply fail first, this rejection must not go unhandled.
    persisted.catch(() => {});
    const applied = this.commitStaged(settlements, before.length);
    await persisted;
    return applied;
  }

  /**
   * Stages `entries` and issues their KvStore commit (one, with the applied index); the returned
   * promise resolves once that commit has, and each entry's outcome has been told.
   */
  private async startApplying(entries: readonly Entry[]): Promise<{ done: Promise<void> }> {
    return this.commitStaged(await this.stage(entries), entries.length);
  }

  /** Stages `entries` in the state machine; returns how to tell each entry's outcome once committed. */
  private async stage(entries: readonly Entry[]): Promise<(() => void)[]> {
    const settlements: (() => void)[] = [];
    const stageStartMs = this.profiler?.now();
    for (const entry of entries) await this.applyEntry(entry, settlements);
    this.record('apply-stage', stageStartMs, entries.length);
    return settlements;
  }

  /** Issues the KvStore commit of what is staged (synchronously: the commit is queued on return); `done` as in startApplying. */
  private commitStaged(settlements: readonly (() => void)[], count: number): { done: Promise<void> } {
    const commitStartMs = this.profiler?.now();
    const done = this.stateMachine.flush().then(() => {
      this.record('apply-commit', commitStartMs, count);
      for (const settle of settlements) settle();
    });
    // Awaited by the caller after the persist; a failure of the persist first must not leave this
    // rejection unhandled (the replica fails with the persist's error).
    done.catch(() => {});
    return { done };
  }

  /** Step 1, except a change of the commit index alone, which waits for the next write (see `unpersistedCommit`). */
  private async persist(ready: Ready): Promise<void> {
    const hardState = ready.hardState ?? this.unpersistedCommit;
    const onlyCommitChanged = hardState !== undefined && hardState.term === this.persistedHardState.term && hardState.vote === this.persistedHardState.vote;
    if (ready.snapshot === undefined && ready.entries.length === 0 && (hardState === undefined || onlyCommitChanged)) {
      this.unpersistedCommit = hardState;
      return;
    }
    await this.writeRaftState({ hardState, entries: ready.entries, snapshot: ready.snapshot, mustSync: ready.mustSync });
  }

  /** Every write to the raft storage; callers pass the latest hard state (or none), so none is left unpersisted. */
  private async writeRaftState(request: RaftPersistRequest): Promise<void> {
    const startMs = this.profiler?.now();
    await this.raftStorage.persist(request);
    this.record('persist', startMs, request.entries.length, request.mustSync);
    if (request.hardState !== undefined) this.persistedHardState = request.hardState;
    this.unpersistedCommit = undefined;
  }

  /**
   * A leader's messages (appends, heartbeats, read answers) promise nothing about its own log,
   * since Raft counts the leader's entries only once they are persisted (at `advance()`): they
   * may leave before the leader's write, so that followers persist in parallel with it (Raft
   * thesis §10.2.1; etcd does the same). Not when the Ready changes term or vote: a message of a
   * term must never outlive a crash that forgets that term (a one-voter zone elects itself and
   * sends to its learners in the same Ready).
   */
  private messagesMayPrecedePersist(ready: Ready): boolean {
    if (this.role !== 'leader' || ready.snapshot !== undefined) return false;
    const hardState = ready.hardState;
    return hardState === undefined || (hardState.term === this.persistedHardState.term && hardState.vote === this.persistedHardState.vote);
  }

  private send(messages: readonly Message[]): void {
    const startMs = this.profiler?.now();
    for (const message of messages) {
      // The state travels in chunks, and Raft hears how the transfer ended (snapshot-transfer.ts).
      if (message.type === 'snapshot') this.snapshotSender.start(message);
      else this.transport.send(this.zoneId, message);
    }
    this.record('send', startMs, messages.length);
  }

  /** EC writes are acknowledged once their entry is durable in this (the leader's) log. */
  private acknowledgePersisted(): void {
    if (this.acknowledgements.length === 0) return;
    const lastIndex = this.raftStorage.lastIndex();
    const firstIndex = this.raftStorage.firstIndex();
    for (let position = 0; position < this.acknowledgements.length; ) {
      const pending = this.acknowledgements[position]!;
      const { index, term } = pending.token;
      if (index > lastIndex) {
        position++;
        continue;
      }
      this.acknowledgements.splice(position, 1);
      if (index >= firstIndex && this.raftStorage.term(index) === term) pending.resolve(pending.token);
      else pending.reject(new WriteLostError(`zone ${this.zoneId}: the EC write at index ${index} was replaced before it was persisted`));
    }
  }

  private async applySnapshot(snapshot: Snapshot): Promise<void> {
    const { index } = snapshot.metadata;
    // From the chunks staged for it (Raft persisted it first, so a crash midway installs it again at open).
    await this.stateMachine.installSnapshot(snapshot, { operationsPerCommit: this.snapshotInstallOperationsPerCommit });
    this.confState = snapshot.metadata.confState;
    this.snapshotIndex = index;
    // The state sent may be further than the snapshot's index: the entries up to it were skipped too.
    const reached = Math.max(index, this.stateMachine.appliedIndex);
    this.outcomesKnownAfter = Math.max(this.outcomesKnownAfter, reached);
    for (const [nodeId, record] of this.stateMachine.members) this.setPeer(nodeId, record);
    this.setRemovedPeers();
    for (const [waitedIndex, waiters] of this.tokenWaiters) {
      if (waitedIndex > reached) continue;
      this.tokenWaiters.delete(waitedIndex);
      for (const waiter of waiters) {
        waiter.reject(new BusyError(`zone ${this.zoneId}: the outcome of the write at index ${waitedIndex} is unknown here: this replica reached it through a snapshot`));
      }
    }
  }

  private async applyEntry(entry: Entry, settlements: (() => void)[]): Promise<void> {
    const alreadyApplied = entry.index <= this.stateMachine.appliedIndex;
    this.appliedBytesSinceSnapshot += entry.data.byteLength;
    if (entry.type === 'config-change') {
      this.applyConfChange(entry, alreadyApplied, settlements);
      return;
    }
    if (alreadyApplied) return;
    if (entry.data.length === 0) {
      // A new leader's empty entry.
      this.stateMachine.noteApplied(entry.index);
      settlements.push(() => this.recordOutcome(entry, undefined));
      return;
    }
    const command = decodeCommand(entry.data);
    if (command.kind === 'member' && this.stateMachine.removed.has(command.nodeId)) {
      // Removed between the proposal and now: refused alike on every replica (the record is state).
      this.stateMachine.noteApplied(entry.index);
      this.settleProposal(command.proposalId, { conflict: new ConflictError(removedIdError(this.zoneId, command.nodeId).message) });
      settlements.push(() => this.recordOutcome(entry, undefined));
      return;
    }
    if (command.kind === 'member') {
      const record: MemberRecord = { address: command.address, ...(command.publicKey === undefined ? {} : { publicKey: command.publicKey }) };
      this.stateMachine.recordMember(entry.index, command.nodeId, record, command.promote);
      settlements.push(() => {
        this.setPeer(command.nodeId, record);
        this.settleProposal(command.proposalId, { version: entry.index });
        this.recordOutcome(entry, undefined);
      });
      return;
    }
    const outcome = await this.stateMachine.applyBatch(entry.index, command);
    // The outcome is final once decided: the entry is committed (durable on a majority, and here),
    // and applying it again after a crash that loses the staged state decides the same. So the
    // proposer hears it now, without waiting for the state's KvStore commit; a read still waits
    // for that commit (it waits for `appliedIndex`), so it sees this write.
    this.settleProposal(command.proposalId, outcome);
    settlements.push(() => this.recordOutcome(entry, outcome));
  }

  private applyConfChange(entry: Entry, alreadyApplied: boolean, settlements: (() => void)[]): void {
    const change = decodeConfChange(entry.data);
    const wasMember = this.isMember(this.nodeId);
    if (!alreadyApplied) this.sendRemovalNotices(entry, change.changes.filter((one) => one.type === 'remove-node' && this.isMember(one.nodeId)).map((one) => one.nodeId));
    try {
      // A removed node's id is never a member again (`removed` is state: every replica refuses alike).
      const readdsRemoved = change.changes.some((one) => one.type !== 'remove-node' && this.stateMachine.removed.has(one.nodeId));
      if (!readdsRemoved) this.confState = this.rawNode.applyConfChange(change);
    } catch (error) {
      // Every replica refuses the same committed change the same way: it changes nothing.
      if (!(error instanceof InvalidArgumentError)) throw error;
    }
    if (wasMember && !this.isMember(this.nodeId)) this.removalApplied = true;
    if (alreadyApplied) return;
    const removed = change.changes.filter((one) => one.type === 'remove-node' && !this.isMember(one.nodeId)).map((one) => one.nodeId);
    // A learner promoted to voter: its promotion record is done with.
    const promoted = change.changes.filter((one) => one.type === 'add-voter' && this.confState.voters.includes(one.nodeId)).map((one) => one.nodeId);
    if (removed.length === 0 && promoted.length === 0) this.stateMachine.noteApplied(entry.index);
    else this.stateMachine.forgetMembers(entry.index, removed, promoted);
    settlements.push(() => {
      for (const nodeId of removed) if (nodeId !== this.nodeId) this.departedPeers.push({ nodeId, tick: this.currentTick });
      this.setRemovedPeers();
      this.recordOutcome(entry, undefined);
    });
  }

  /**
   * At the leader, before applying a change that removes other nodes: it will replicate to them no
   * more, and with lazy commit propagation a removed node may not even know the change committed,
   * so it would never apply it and would campaign in vain forever. One last append, up to the
   * change and with its index as the commit, tells each (as hashicorp/raft replicates to a removed
   * follower one last time). Best effort: a node that has not acknowledged an entry the log still
   * holds, or is more than REMOVAL_NOTICE_BYTES_MAX behind, is not told.
   */
  private sendRemovalNotices(entry: Entry, nodeIds: readonly NodeId[]): void {
    if (nodeIds.length === 0) return;
    const raft = this.rawNode.status();
    if (raft.role !== 'leader') return;
    for (const nodeId of nodeIds) {
      const match = raft.progress.get(nodeId)?.match;
      if (nodeId === this.nodeId || match === undefined || match === 0) continue;
      const logIndex = Math.min(match, entry.index);
      if (logIndex < this.raftStorage.firstIndex() - 1) continue;
      const entries = logIndex === entry.index ? [] : this.raftStorage.entries(logIndex + 1, entry.index + 1, REMOVAL_NOTICE_BYTES_MAX);
      if (entries.length > 0 && entries[entries.length - 1]!.index !== entry.index) continue;
      this.logger?.info(`${this.nodeId} tells ${nodeId} of its removal: an append after ${logIndex} up to ${entry.index}, committed`);
      this.transport.send(this.zoneId, {
        type: 'append',
        from: this.nodeId,
        to: nodeId,
        term: raft.term,
        logIndex,
        logTerm: this.raftStorage.term(logIndex),
        entries,
        commit: entry.index,
      });
    }
  }

  /**
   * Heard from no peer for SILENT_PEERS_PROBE_TICKS: connects to every member it knows, so that a
   * member can tell it of a removal it missed (a learner sends nothing that would dial them).
   */
  private probeSilentPeers(): void {
    if (this.silentTicks < SILENT_PEERS_PROBE_TICKS || this.role === 'leader' || this.transport.connect === undefined) return;
    this.silentTicks = 0;
    for (const nodeId of this.stateMachine.members.keys()) if (nodeId !== this.nodeId) this.transport.connect(this.zoneId, nodeId);
  }

  private forgetDepartedPeers(): void {
    while (this.departedPeers.length > 0 && this.departedPeers[0]!.tick + REMOVAL_NOTICE_TICKS <= this.currentTick) {
      const { nodeId } = this.departedPeers.shift()!;
      // Unless it came back meanwhile (a new membership record).
      if (!this.isMember(nodeId) && !this.stateMachine.members.has(nodeId)) this.transport.removePeer(this.zoneId, nodeId);
    }
  }

  /** Stops when removed; a removed leader leads on until it has handed leadership over (kernel/raft/README.md). */
  private stopIfRemoved(): boolean {
    if (!this.removalApplied || this.role === 'leader') return false;
    this.stopAsRemoved();
    return true;
  }

  /** Takes no more part in the zone once removed from it (see `ZoneReplicaApi.removal`). */
  private stopAsRemoved(): void {
    if (this.removedStopped) return;
    this.removalApplied = true;
    this.removedStopped = true;
    this.stopTicker();
    this.stopListening();
    this.rejectEverything(this.removedError());
    this.resolveRemoval();
  }

  private removedError(operation?: string): RemovedError {
    const removed = `node ${this.nodeId} was removed from zone ${this.zoneId}`;
    return new RemovedError(operation === undefined ? removed : `cannot ${operation}: ${removed}`);
  }

  private settleProposal(proposalId: string, outcome: BatchOutcome): void {
    const pending = this.proposals.get(proposalId);
    if (pending === undefined) return;
    this.proposals.delete(proposalId);
    if ('conflict' in outcome) pending.reject(outcome.conflict);
    else pending.resolve(outcome.version);
  }

  private recordOutcome(entry: Entry, outcome: BatchOutcome | undefined): void {
    const applied: AppliedOutcome = { term: entry.term, outcome };
    this.recentOutcomes.set(entry.index, applied);
    if (this.recentOutcomes.size > RECENT_OUTCOMES_MAX) this.recentOutcomes.delete(this.recentOutcomes.keys().next().value!);
    const waiters = this.tokenWaiters.get(entry.index);
    if (waiters === undefined) return;
    this.tokenWaiters.delete(entry.index);
    for (const waiter of waiters) {
      try {
        waiter.resolve(settleToken({ zoneId: this.zoneId, index: entry.index, term: waiter.term }, applied));
      } catch (error) {
        waiter.reject(error);
      }
    }
  }

  /** After a Ready: serve reads that are now applied, and settle reached conditions. */
  private settleRequests(): void {
    const applied = this.stateMachine.appliedIndex;
    for (const [context, group] of this.reads) {
      if (group.readIndex !== undefined && group.readIndex <= applied) {
        this.reads.delete(context);
        for (const waiter of group.waiters) waiter.resolve();
      }
    }
    for (let position = 0; position < this.conditions.length; ) {
      const condition = this.conditions[position]!;
      if (condition.holds()) {
        this.conditions.splice(position, 1);
        condition.resolve();
      } else {
        position++;
      }
    }
  }

  /**
   * Compacts the log every snapshot interval. The snapshot copies nothing: the applied state is in
   * the KvStore (made durable first, with its applied index), so the raft snapshot is its index,
   * term and membership, and a follower that needs it is sent the state then (snapshot-transfer.ts).
   * The log keeps entries behind the snapshot (catchUpCompactIndex) for followers just behind.
   */
  private async maybeCreateSnapshot(): Promise<void> {
    const applied = this.stateMachine.appliedIndex;
    if (applied - this.snapshotIndex < this.snapshotIntervalEntries && this.appliedBytesSinceSnapshot < SNAPSHOT_INTERVAL_BYTES) return;
    // After installing a snapshot sent from a state further than the snapshot's index, the state is
    // ahead of Raft's log: the snapshot can only be at what Raft has applied.
    const index = Math.min(applied, this.rawNode.status().applied);
    if (index <= this.snapshotIndex) return;
    const startMs = this.profiler?.now();
    const firstIndexBefore = this.raftStorage.firstIndex();
    await this.stateMachine.persistApplied();
    if (this.unpersistedCommit !== undefined) {
      await this.writeRaftState({ hardState: this.unpersistedCommit, entries: [], snapshot: undefined, mustSync: false });
    }
    await this.raftStorage.createSnapshot(index, this.confState, encodeStoredStateSnapshot(), { compactIndex: this.catchUpCompactIndex(index) });
    this.snapshotIndex = index;
    this.appliedBytesSinceSnapshot = 0;
    this.record('snapshot', startMs, this.raftStorage.firstIndex() - firstIndexBefore);
  }

  /** Also keeps the entries after a snapshot being sent to a follower (SNAPSHOT_TRANSFER_HOLD_BYTES_MAX of them at most). */
  private catchUpCompactIndex(index: number): number {
    const progress = this.rawNode.status().progress;
    const heldIndex = this.snapshotSender.heldLogIndex(index, (nodeId) => progress.get(nodeId)?.match);
    return catchUpCompactIndex(this.raftStorage, {
      snapshotIndex: index,
      catchUpEntries: this.snapshotCatchUpEntries,
      catchUpBytesMax: SNAPSHOT_CATCH_UP_BYTES_MAX,
      ...(heldIndex === undefined ? {} : { heldIndex, heldBytesMax: SNAPSHOT_TRANSFER_HOLD_BYTES_MAX }),
    });
  }

  private expireRequests(): void {
    const now = this.currentTick;
    const timeout = (what: string): BusyError =>
      new BusyError(`zone ${this.zoneId}: ${what} got no outcome within ${this.requestTimeoutTicks} ticks at node ${this.nodeId} (leader ${this.leader || 'unknown'}); it may still take effect`);
    for (const [id, pending] of this.proposals) {
      if (pending.deadlineTick <= now) {
        this.proposals.delete(id);
        pending.reject(timeout(`proposal ${id}`));
      }
    }
    for (const [context, group] of this.reads) {
      if (group.deadlineTick <= now) {
        this.reads.delete(context);
        for (const waiter of group.waiters) waiter.reject(timeout(`read ${context}`));
      }
    }
    for (let position = 0; position < this.conditions.length; ) {
      const condition = this.conditions[position]!;
      if (condition.deadlineTick <= now) {
        this.conditions.splice(position, 1);
        condition.reject(condition.timeoutMessage === undefined ? timeout('a membership or leadership change') : new BusyError(condition.timeoutMessage));
      } else {
        position++;
      }
    }
  }

  private rejectEverything(error: unknown): void {
    this.snapshotSender.close();
    this.snapshotReceiver.close();
    for (const pending of this.proposals.values()) pending.reject(error);
    this.proposals.clear();
    for (const pending of this.acknowledgements.splice(0)) pending.reject(error);
    for (const waiters of this.tokenWaiters.values()) for (const waiter of waiters) waiter.reject(error);
    this.tokenWaiters.clear();
    for (const group of this.reads.values()) for (const waiter of group.waiters) waiter.reject(error);
    this.reads.clear();
    for (const waiter of this.readBatch.splice(0)) waiter.reject(error);
    for (const condition of this.conditions.splice(0)) condition.reject(error);
    for (const proposal of this.proposalBatch) proposal.pending.reject(error);
    this.proposalBatch = [];
    for (const action of this.actions.splice(0)) action.abandon(error);
    this.inbox = [];
  }

  private isMember(nodeId: NodeId): boolean {
    return this.confState.voters.includes(nodeId) || this.confState.learners.includes(nodeId);
  }
}

function removedIdError(zoneId: string, nodeId: NodeId): InvalidArgumentError {
  return new InvalidArgumentError(`cannot add node ${nodeId} to zone ${zoneId}: node ${nodeId} was removed from it, and a removed node's id is not given again (a node joins under a new id)`);
}

type BatchProposal = Extract<ZoneCommand, { kind: 'batch' }>;
type MemberProposal = Extract<ZoneCommand, { kind: 'member' }>;

/** The outcome of the write named by `token`, given what applied at its index. */
function settleToken(token: WriteToken, applied: AppliedOutcome): number {
  if (applied.term !== token.term || applied.outcome === undefined) {
    throw new WriteLostError(
      `zone ${token.zoneId}: the EC write at index ${token.index} (term ${token.term}) was lost: the entry committed there is of term ${applied.term}`,
    );
  }
  if ('conflict' in applied.outcome) throw applied.outcome.conflict;
  return applied.outcome.version;
}

/**
 * Where a snapshot at `snapshotIndex` (within the log) compacts the log: `catchUpEntries` behind
 * it (as etcd's SnapshotCatchUpEntries), or fewer when those entries' `entrySizeBytes` would exceed
 * `catchUpBytesMax`, and never below what is already compacted; so that a follower just behind the
 * compaction is sent entries, not the whole state. With `heldIndex` (a snapshot being sent), at
 * most `heldIndex` when the entries after it up to the snapshot fit `heldBytesMax`: the follower
 * goes on from there once installed. Beyond that bound the hold is ignored.
 */
export function catchUpCompactIndex(
  storage: RaftStorage,
  options: { snapshotIndex: number; catchUpEntries: number; catchUpBytesMax: number; heldIndex?: number; heldBytesMax?: number },
): number {
  const { snapshotIndex, catchUpEntries, catchUpBytesMax, heldIndex } = options;
  const compacted = storage.firstIndex() - 1;
  const catchUpIndex = keptWithin(storage, Math.max(compacted, snapshotIndex - catchUpEntries), snapshotIndex, catchUpBytesMax);
  if (heldIndex === undefined || heldIndex >= catchUpIndex) return catchUpIndex;
  const held = Math.max(compacted, heldIndex);
  return keptWithin(storage, held, snapshotIndex, options.heldBytesMax ?? Infinity) === held ? held : catchUpIndex;
}

/** `compactIndex`, or higher so that the entries kept up to `snapshotIndex` fit `bytesMax`. */
function keptWithin(storage: RaftStorage, compactIndex: number, snapshotIndex: number, bytesMax: number): number {
  if (compactIndex >= snapshotIndex) return snapshotIndex;
  const kept = storage.entries(compactIndex + 1, snapshotIndex + 1, Infinity);
  let keptBytes = 0;
  for (let position = kept.length - 1; position >= 0; position--) {
    keptBytes += entrySizeBytes(kept[position]!);
    if (keptBytes > bytesMax) return kept[position]!.index;
  }
  return compactIndex;
}

function validateOptions(options: ZoneReplicaOptions): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('zone replica options must be an object');
  assertZoneId(options.zoneId);
  assertNodeId(options.nodeId);
  const consistency = options.consistency ?? 'strong';
  if (consistency !== 'strong' && consistency !== 'eventual') {
    throw new InvalidArgumentError(`invalid zone consistency ${safeJson(consistency)}: expected "strong" or "eventual"`);
  }
  for (const member of options.peers ?? []) assertMember(member);
  for (const [name, value] of [
    ['snapshotIntervalEntries', options.snapshotIntervalEntries],
    ['requestTimeoutTicks', options.requestTimeoutTicks],
    ['snapshotChunkBytes', options.snapshotChunkBytes],
    ['snapshotInstallOperationsPerCommit', options.snapshotInstallOperationsPerCommit],
  ] as const) {
    if (value !== undefined && !isPositiveInteger(value)) throw new InvalidArgumentError(`invalid ${name} ${String(value)}: expected a positive integer`);
  }
  const catchUpEntries = options.snapshotCatchUpEntries;
  if (catchUpEntries !== undefined && !(Number.isSafeInteger(catchUpEntries) && catchUpEntries >= 0)) {
    throw new InvalidArgumentError(`invalid snapshotCatchUpEntries ${String(catchUpEntries)}: expected a non-negative integer`);
  }
  for (const [name, value, max] of [
    ['snapshotChunkBytes', options.snapshotChunkBytes, SNAPSHOT_CHUNK_BYTES_DEFAULT],
    ['snapshotInstallOperationsPerCommit', options.snapshotInstallOperationsPerCommit, SNAPSHOT_INSTALL_OPERATIONS_PER_COMMIT],
  ] as const) {
    if (value !== undefined && value > max) throw new InvalidArgumentError(`invalid ${name} ${value}: at most ${max}`);
  }
  if (options.bootstrap !== undefined) validateBootstrap(options.bootstrap, options.nodeId);
}

function validateBootstrap(bootstrap: ZoneBootstrap, nodeId: NodeId): void {
  const members = bootstrap.members;
  if (!Array.isArray(members) || members.length === 0 || members.length > ZONE_MEMBERS_MAX) {
    throw new InvalidArgumentError(`a zone bootstrap needs 1 to ${ZONE_MEMBERS_MAX} members`);
  }
  const seen = new Set<NodeId>();
  for (const member of members) {
    assertMember(member);
    if (seen.has(member.nodeId)) throw new InvalidArgumentError(`a zone bootstrap names node ${member.nodeId} twice`);
    seen.add(member.nodeId);
  }
  if (!seen.has(nodeId)) throw new InvalidArgumentError(`a zone bootstrap must include the bootstrapping node ${nodeId}`);
}

/** The applied index rides in the batch's KvStore commit, so one distinct key fewer fits. */
function assertBatchFits(operations: readonly MetastoreOperation[]): void {
  if (operations.length < METASTORE_BATCH_OPERATIONS_MAX) return;
  const distinct = distinctKeyCount(operations);
  if (distinct >= METASTORE_BATCH_OPERATIONS_MAX) {
    throw new InvalidArgumentError(`batch too large for a zone: ${distinct} distinct keys, at most ${METASTORE_BATCH_OPERATIONS_MAX - 1}`);
  }
}

function installOptions(options: ZoneReplicaOptions): { operationsPerCommit: number } {
  return { operationsPerCommit: options.snapshotInstallOperationsPerCommit ?? SNAPSHOT_INSTALL_OPERATIONS_PER_COMMIT };
}

function isEmptyStorage(storage: WritableRaftStorage): boolean {
  const { hardState } = storage.initialState();
  return storage.lastIndex() === 0 && storage.snapshot().metadata.index === 0 && hardState.term === 0;
}

/** Every initial member writes the same snapshot at index 1: the membership with its addresses and keys. */
async function bootstrap(storage: WritableRaftStorage, { members }: ZoneBootstrap): Promise<void> {
  const voters = members.map((member) => member.nodeId).sort((a, b) => a - b);
  const records = new Map(members.map(({ nodeId, ...record }) => [nodeId, record] as const));
  const snapshot: Snapshot = { metadata: { index: 1, term: 1, confState: { voters, learners: [] } }, data: encodeBootstrapSnapshot(records) };
  await storage.persist({ snapshot, hardState: { term: 1, vote: NO_NODE, commit: 1 }, entries: [], mustSync: true });
  assert(storage.snapshot().metadata.index === 1, 'the bootstrap snapshot did not reach the raft storage');
}

function assertMember(member: ZoneMember): void {
  assertNodeId(member.nodeId);
  assertPeerAddress(member.address);
  if (member.publicKey !== undefined) assertNodePublicKey(member.publicKey);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
