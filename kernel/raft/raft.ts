import { assert } from '../assert.ts';
import { InvalidArgumentError } from '../errors.ts';
import { applyConfChangeTo, decodeConfChange, describeConfChange, encodeConfChange } from './conf-change.ts';
import { APPENDS_PER_ACKNOWLEDGEMENT_MAX, PENDING_READ_INDEX_REQUESTS_MAX } from './constants.ts';
import { entriesSizeBytes } from './entry-size.ts';
import type {
  AppendMessage,
  AppendResponseMessage,
  HeartbeatMessage,
  HeartbeatResponseMessage,
  Message,
  SnapshotMessage,
  VoteMessage,
  VoteResponseMessage,
} from './message.ts';
import type { Progress } from './progress.ts';
import { ProgressTracker } from './progress-tracker.ts';
import { RaftLog } from './raft-log.ts';
import { resolveRaftConfig, type RaftConfig, type ResolvedRaftConfig } from './raft-config.ts';
import { ReadOnlyQueue } from './read-only.ts';
import {
  isEmptyHardState,
  NO_NODE,
  type ConfChange,
  type ConfChangeBatch,
  type ConfState,
  type Entry,
  type EntryType,
  type HardState,
  type NodeId,
  type RaftRole,
  type ReadState,
  type Snapshot,
} from './types.ts';

/** An entry as proposed: Raft assigns its index and term when (and if) the leader appends it. */
export interface ProposedEntry {
  readonly type: EntryType;
  readonly data: Uint8Array;
}

type CampaignKind = 'pre-election' | 'election' | 'transfer';

/**
 * The Raft state machine of one node (Ongaro's dissertation, in the shape of etcd-raft). It is
 * synchronous and deterministic: it changes only when called (step, tick, propose, ...), and its
 * only outputs are the fields the RawNode turns into a `Ready`: messages to send, the log's
 * unstable part to persist, committed entries to apply, read states to answer.
 *
 * Use it through `RawNode`, which enforces the persist-before-send contract.
 */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NO_NODE;
  leader: NodeId = NO_NODE;
  role: RaftRole = 'follower';
  isLearner = false;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  /** Outgoing messages, handed out by the next Ready. */
  messages: Message[] = [];
  /** Answered read requests, handed out by the next Ready. */
  readStates: ReadState[] = [];
  /** The node leadership is being handed to, while a transfer is in progress. */
  leadTransferee: NodeId = NO_NODE;
  /** The leader's latest membership change index; another may be proposed once it is applied. */
  pendingConfIndex = 0;
  /** Payload bytes the leader appended that are not applied yet (bounded by config). */
  uncommittedSizeBytes = 0;
  electionElapsedTicks = 0;
  heartbeatElapsedTicks = 0;
  randomizedElectionTimeoutTicks = 0;
  private readonly readOnlyQueue = new ReadOnlyQueue();
  /** Read requests a new leader holds until it commits an entry of its term. */
  private pendingReadRequests: Array<{ from: NodeId; context: string }> = [];
  private readonly config: ResolvedRaftConfig;

  constructor(raftConfig: RaftConfig) {
    this.config = resolveRaftConfig(raftConfig);
    this.id = this.config.id;
    this.log = new RaftLog(this.config.storage);
    this.tracker = new ProgressTracker({
      inflightMessagesMax: this.config.inflightMessagesMax,
      inflightBytesMax: this.config.inflightBytesMax,
    });
    const { hardState, confState } = this.config.storage.initialState();
    this.tracker.setConfig(confState, this.log.lastIndex() + 1);
    this.isLearner = this.tracker.learners.has(this.id);
    if (!isEmptyHardState(hardState)) this.loadHardState(hardState);
    if (this.config.applied !== undefined) this.log.appliedTo(this.config.applied);
    this.becomeFollower(this.term, NO_NODE);
    this.logInfo(
      `${this.id} started: term ${this.term}, commit ${this.log.committed}, applied ${this.log.applied}, ` +
        `last ${this.log.lastIndex()}/${this.log.lastTerm()}, ${describeMembership(confState)}`,
    );
  }

  private loadHardState(state: HardState): void {
    assert(
      state.commit >= this.log.committed && state.commit <= this.log.lastIndex(),
      `persisted commit ${state.commit} is outside [${this.log.committed}, ${this.log.lastIndex()}]: storage lost entries`,
    );
    this.log.committed = state.commit;
    this.term = state.term;
    this.vote = state.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  // ---------------------------------------------------------------------------------------------
  // Inputs: time, local requests, messages.

  /** Advances logical time by one tick: election timeouts for followers, heartbeats for a leader. */
  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsedTicks++;
    if (this.isPromotable() && this.electionElapsedTicks >= this.randomizedElectionTimeoutTicks) {
      this.electionElapsedTicks = 0;
      this.campaignIfAllowed('election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsedTicks++;
    this.electionElapsedTicks++;
    if (this.electionElapsedTicks >= this.config.electionTimeoutTicks) {
      this.electionElapsedTicks = 0;
      if (this.config.checkQuorum) this.checkQuorum();
      if (this.role !== 'leader') return;
      // A transfer that did not finish within an election timeout will not: resume normal service
      // (or, for a leader no longer a voter, try again, perhaps with another voter).
      if (this.leadTransferee !== NO_NODE) this.abortLeaderTransfer('it did not finish within an election timeout');
      this.maybeHandOffLeadership();
    }
    if (this.heartbeatElapsedTicks >= this.config.heartbeatIntervalTicks) {
      this.heartbeatElapsedTicks = 0;
      this.broadcastHeartbeat(this.readOnlyQueue.lastContext());
    }
  }

  private checkQuorum(): void {
    if (!this.tracker.quorumActive(this.id)) {
      this.logInfo(`${this.id} stepped down to follower since quorum is not active`);
      this.becomeFollower(this.term, NO_NODE);
      return;
    }
    for (const [id, progress] of this.tracker.progress) {
      if (id !== this.id) progress.recentActive = false;
    }
  }

  /** Starts an election now (a test or an operator's request), as if the election timeout had passed. */
  campaign(): void {
    this.campaignIfAllowed('election');
  }

  /**
   * Proposes entries. Returns undefined when accepted (appended by this leader, or forwarded to the
   * known leader, where it may still be dropped), or the reason it was dropped here.
   */
  propose(entries: readonly ProposedEntry[]): string | undefined {
    assert(entries.length > 0, 'a proposal needs at least one entry');
    switch (this.role) {
      case 'leader':
        return this.appendProposal(entries);
      case 'follower':
        if (this.leader === NO_NODE) return `no leader at term ${this.term}`;
        this.send({
          type: 'propose',
          from: this.id,
          to: this.leader,
          term: 0,
          entries: entries.map((entry) => ({ term: 0, index: 0, type: entry.type, data: entry.data })),
        });
        return undefined;
      case 'pre-candidate':
      case 'candidate':
        return `no leader at term ${this.term}: an election is in progress`;
    }
  }

  /**
   * Asks for a linearizable read index; the answer comes as a `ReadState` with this context in a
   * later Ready. Returns the reason when dropped here. Contexts must be unique among pending reads.
   */
  readIndex(context: string): string | undefined {
    switch (this.role) {
      case 'leader':
        return this.handleReadRequest(this.id, context);
      case 'follower':
        if (this.leader === NO_NODE) return `no leader at term ${this.term}`;
        this.send({ type: 'read-index', from: this.id, to: this.leader, term: 0, context });
        return undefined;
      case 'pre-candidate':
      case 'candidate':
        return `no leader at term ${this.term}: an election is in progress`;
    }
  }

  /** Asks the leader to hand leadership to `transferee`. Returns the reason when dropped here. */
  transferLeadership(transferee: NodeId): string | undefined {
    if (this.role === 'leader') return this.handleTransferLeader(transferee);
    if (this.leader === NO_NODE) return `no leader at term ${this.term}`;
    this.send({ type: 'transfer-leader', from: this.id, to: this.leader, term: this.term, transferee });
    return undefined;
  }

  /** The transport could not reach `id`: stop streaming to it and probe instead. */
  reportUnreachable(id: NodeId): void {
    const progress = this.role === 'leader' ? this.tracker.progress.get(id) : undefined;
    if (progress?.state === 'replicate') progress.becomeProbe();
  }

  /**
   * The snapshot sent to `id` was delivered (`finished`) or lost (`failed`). Either way the leader
   * probes next, after the follower's answer or the next heartbeat.
   */
  reportSnapshot(id: NodeId, status: 'finished' | 'failed'): void {
    const progress = this.role === 'leader' ? this.tracker.progress.get(id) : undefined;
    if (progress === undefined || progress.state !== 'snapshot') return;
    if (status === 'failed') progress.pendingSnapshot = 0;
    progress.becomeProbe();
    progress.probeSent = true;
    this.logInfo(`${this.id} snapshot to ${id} ${status}; probing from ${progress.next}`);
  }

  /** Handles one message from another member. */
  step(message: Message): void {
    assert(message.to === this.id, `message for ${message.to} stepped into ${this.id}`);
    assert(message.from !== this.id, `${this.id} received a message from itself`);
    if (!this.stepTerm(message)) return;
    switch (message.type) {
      case 'vote':
      case 'pre-vote':
        this.handleVoteRequest(message);
        return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(message);
        return;
      case 'pre-candidate':
      case 'candidate':
        this.stepCandidate(message);
        return;
      case 'follower':
        this.stepFollower(message);
        return;
    }
  }

  /**
   * The term rules every message goes through first (Raft §5.1, plus PreVote and CheckQuorum).
   * Returns false when the message is fully handled (ignored or answered) here.
   */
  private stepTerm(message: Message): boolean {
    if (message.term === 0) {
      assert(message.type === 'propose' || message.type === 'read-index', `${message.type} from ${message.from} without a term`);
      return true;
    }
    if (message.term > this.term) {
      if ((message.type === 'vote' || message.type === 'pre-vote') && !message.transfer && this.inLease()) {
        // Leader stickiness: while we hear from a leader, a higher-term candidate is disruptive,
        // usually a node that was partitioned away. Ignore it, without adopting its term.
        this.logInfo(
          `${this.id} [term ${this.term}] ignored ${message.type} from ${message.from} [term ${message.term}]: lease is not expired (${this.config.electionTimeoutTicks - this.electionElapsedTicks} ticks remaining)`,
        );
        return false;
      }
      if (message.type === 'pre-vote') return true; // a pre-vote never changes our term
      if (message.type === 'pre-vote-response' && !message.reject) return true; // our own future term
      const leader = message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot' ? message.from : NO_NODE;
      this.logInfo(`${this.id} [term ${this.term}] received ${message.type} with higher term from ${message.from} [term ${message.term}]`);
      this.becomeFollower(message.term, leader);
      return true;
    }
    if (message.term < this.term) {
      if (message.type === 'heartbeat' || message.type === 'append') {
        // A stale leader (typically back from a partition). We may never send it a vote request
        // (PreVote, CheckQuorum, or we are a learner), so tell it the term outright, or it and
        // we could wait for each other forever.
        this.send({ type: 'append-response', ...this.header(message.from), index: 0, reject: false, rejectHint: 0, hintTerm: 0 });
      } else if (message.type === 'pre-vote') {
        // Answer so a pre-candidate at an old term learns the new term and stops campaigning.
        this.send({ type: 'pre-vote-response', ...this.header(message.from), reject: true, ...this.commitHint() });
      }
      return false;
    }
    return true;
  }

  /** True while this node has heard from a leader within the election timeout (CheckQuorum only). */
  private inLease(): boolean {
    return this.config.checkQuorum && this.leader !== NO_NODE && this.electionElapsedTicks < this.config.electionTimeoutTicks;
  }

  private handleVoteRequest(message: VoteMessage): void {
    const isPreVote = message.type === 'pre-vote';
    // We may vote for whom we already voted for (a retransmission), for anyone if we have not
    // voted and know no leader in this term, and in a pre-vote for any future term.
    const canVote =
      this.vote === message.from ||
      (this.vote === NO_NODE && this.leader === NO_NODE) ||
      (isPreVote && message.term > this.term);
    const responseType = isPreVote ? 'pre-vote-response' : 'vote-response';
    const description = `${this.id} [last ${this.log.lastIndex()}/${this.log.lastTerm()}, vote ${this.vote}]`;
    const candidate = `${message.from} [last ${message.lastLogIndex}/${message.lastLogTerm}] at term ${message.term}`;
    if (canVote && this.log.isUpToDate(message.lastLogIndex, message.lastLogTerm)) {
      this.logInfo(`${description} cast ${message.type} for ${candidate}`);
      // Answer in the candidate's term: a granted pre-vote must not look like an old-term answer.
      this.send({ type: responseType, ...this.header(message.from, message.term), reject: false, commit: 0, commitTerm: 0 });
      if (!isPreVote) {
        this.electionElapsedTicks = 0;
        this.vote = message.from;
      }
    } else {
      this.logInfo(`${description} rejected ${message.type} from ${candidate}`);
      this.send({ type: responseType, ...this.header(message.from), reject: true, ...this.commitHint() });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Roles.

  becomeFollower(term: number, leader: NodeId): void {
    this.reset(term);
    this.leader = leader;
    this.role = 'follower';
    this.logInfo(`${this.id} became follower at term ${this.term}` + (leader === NO_NODE ? '' : ` (leader ${leader})`));
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become pre-candidate');
    // Neither the term nor the vote change: that is the point of a pre-election.
    this.tracker.resetVotes();
    this.leader = NO_NODE;
    this.role = 'pre-candidate';
    this.logInfo(`${this.id} became pre-candidate at term ${this.term}`);
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.logInfo(`${this.id} became candidate at term ${this.term}`);
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', `only a candidate becomes leader, not a ${this.role}`);
    this.reset(this.term);
    this.leader = this.id;
    this.role = 'leader';
    const self = this.tracker.progress.get(this.id);
    assert(self !== undefined, 'a leader must be in its own configuration');
    self.becomeReplicate();
    self.recentActive = true;
    // No membership change until everything before this term is applied: this closes the known
    // gap in single-server changes, where a new leader could act on an uncommitted change.
    this.pendingConfIndex = this.log.lastIndex();
    // An empty entry of our term: committing it commits everything before it (Raft §5.4.2) and
    // tells us the commit index, which reads need.
    this.log.append([{ term: this.term, index: this.log.lastIndex() + 1, type: 'normal', data: new Uint8Array(0) }]);
    this.logInfo(`${this.id} became leader at term ${this.term}`);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NO_NODE;
    }
    this.leader = NO_NODE;
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.randomizedElectionTimeoutTicks = this.config.electionTimeoutTicks + this.config.random.integerBelow(this.config.electionTimeoutTicks);
    this.leadTransferee = NO_NODE;
    this.tracker.resetVotes();
    const lastIndex = this.log.lastIndex();
    for (const [id, old] of this.tracker.progress) {
      const progress = this.tracker.newProgress(lastIndex + 1, old.isLearner);
      // Our own log counts only as far as it is durable; the rest counts once persisted.
      if (id === this.id) progress.match = this.log.persistedLastIndex();
      this.tracker.progress.set(id, progress);
    }
    this.pendingConfIndex = 0;
    this.uncommittedSizeBytes = 0;
    this.readOnlyQueue.clear();
    this.pendingReadRequests = [];
  }

  /** A node may campaign only as a voter, and not while installing a snapshot. */
  isPromotable(): boolean {
    return this.tracker.isVoter(this.id) && !this.log.hasPendingSnapshot();
  }

  private campaignIfAllowed(kind: 'election' | 'transfer'): void {
    if (this.role === 'leader') {
      this.logInfo(`${this.id} ignoring campaign: already leader`);
      return;
    }
    if (!this.isPromotable()) {
      this.logInfo(`${this.id} is not promotable and cannot campaign`);
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      // Its membership may be about to change: campaigning under the old one could be unsafe.
      this.logInfo(`${this.id} cannot campaign at term ${this.term}: committed membership changes are not applied yet`);
      return;
    }
    this.logInfo(`${this.id} is starting a new election at term ${this.term}`);
    this.startCampaign(this.config.preVote && kind === 'election' ? 'pre-election' : kind);
  }

  private hasUnappliedConfChanges(): boolean {
    let index = this.log.applied + 1;
    while (index <= this.log.committed) {
      const entries = this.log.slice(index, this.log.committed + 1, this.config.committedEntriesSizeBytesPerReadyMax);
      if (entries === undefined || entries.length === 0) return false;
      for (const entry of entries) if (entry.type === 'config-change') return true;
      index += entries.length;
    }
    return false;
  }

  private startCampaign(kind: CampaignKind): void {
    if (kind === 'pre-election') this.becomePreCandidate();
    else this.becomeCandidate();
    const isPreVote = kind === 'pre-election';
    // A pre-vote asks about the term we would move to, without moving to it.
    const term = isPreVote ? this.term + 1 : this.term;
    if (this.poll(this.id, true) === 'won') return;
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const id of this.tracker.allVoters()) {
      if (id === this.id) continue;
      this.logInfo(`${this.id} [last ${lastLogIndex}/${lastLogTerm}] sent ${isPreVote ? 'pre-vote' : 'vote'} request to ${id} at term ${term}`);
      this.send({
        type: isPreVote ? 'pre-vote' : 'vote',
        from: this.id,
        to: id,
        term,
        lastLogIndex,
        lastLogTerm,
        transfer: kind === 'transfer',
      });
    }
  }

  /** Records a vote and acts on the outcome. */
  private poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    this.tracker.recordVote(id, granted);
    const { granted: grantedCount, rejected, result } = this.tracker.tallyVotes();
    if (id !== this.id) {
      this.logInfo(`${this.id} has received ${grantedCount} granted and ${rejected} rejected votes (${this.role} at term ${this.term})`);
    }
    if (result === 'won') {
      if (this.role === 'pre-candidate') this.startCampaign('election');
      else {
        this.becomeLeader();
        this.broadcastAppend();
      }
    } else if (result === 'lost') {
      this.becomeFollower(this.term, NO_NODE);
    }
    return result;
  }

  private stepCandidate(message: Message): void {
    const myResponseType = this.role === 'pre-candidate' ? 'pre-vote-response' : 'vote-response';
    switch (message.type) {
      case 'append':
        this.becomeFollower(message.term, message.from);
        this.handleAppend(message);
        return;
      case 'heartbeat':
        this.becomeFollower(message.term, message.from);
        this.handleHeartbeat(message);
        return;
      case 'snapshot':
        this.becomeFollower(message.term, message.from);
        this.handleSnapshot(message);
        return;
      case 'vote-response':
      case 'pre-vote-response':
        if (message.type !== myResponseType) return; // an answer to an earlier campaign of ours
        this.logInfo(`${this.id} received ${message.type} ${message.reject ? 'rejection' : 'grant'} from ${message.from} at term ${message.term}`);
        if (message.reject) this.learnCommit(message);
        this.poll(message.from, !message.reject);
        return;
      case 'propose':
        this.logInfo(`${this.id} dropped a forwarded proposal from ${message.from}: no leader at term ${this.term}`);
        return;
      case 'read-index':
        this.logInfo(`${this.id} dropped a forwarded read request from ${message.from}: no leader at term ${this.term}`);
        return;
      default:
        return; // timeout-now, transfer-leader, responses of a past leadership: nothing to do
    }
  }

  /** What a rejected candidate may learn from us: our commit index and the term there. */
  private commitHint(): { commit: number; commitTerm: number } {
    return { commit: this.log.committed, commitTerm: this.log.term(this.log.committed) ?? 0 };
  }

  /**
   * A voter's commit index holds for us too if our log has the same entry there (log matching).
   * Without this, a candidate that missed the commit of a membership change can be stuck: it
   * campaigns under the old membership, whose other members reject it for their longer logs,
   * while they themselves cannot campaign under the membership they have applied.
   */
  private learnCommit(message: VoteResponseMessage): void {
    if (message.commit <= this.log.committed || message.commitTerm === 0) return;
    if (!this.log.matchTerm(message.commit, message.commitTerm)) return;
    this.logInfo(`${this.id} learned from ${message.from} that ${message.commit}/${message.commitTerm} is committed`);
    this.log.commitTo(message.commit);
  }

  private stepFollower(message: Message): void {
    switch (message.type) {
      case 'append':
        this.electionElapsedTicks = 0;
        this.leader = message.from;
        this.handleAppend(message);
        return;
      case 'heartbeat':
        this.electionElapsedTicks = 0;
        this.leader = message.from;
        this.handleHeartbeat(message);
        return;
      case 'snapshot':
        this.electionElapsedTicks = 0;
        this.leader = message.from;
        this.handleSnapshot(message);
        return;
      case 'timeout-now':
        this.logInfo(`${this.id} [term ${this.term}] received timeout-now from ${message.from} and starts an election to take leadership`);
        // Leadership transfer never uses a pre-election: the leader asked for this election.
        this.campaignIfAllowed('transfer');
        return;
      case 'read-index-response':
        this.readStates.push({ index: message.index, context: message.context });
        return;
      case 'propose':
        this.logInfo(`${this.id} dropped a forwarded proposal from ${message.from}: not the leader (leader ${this.leader})`);
        return;
      case 'read-index':
        this.logInfo(`${this.id} dropped a forwarded read request from ${message.from}: not the leader (leader ${this.leader})`);
        return;
      case 'transfer-leader':
        this.logInfo(`${this.id} dropped a forwarded transfer request from ${message.from}: not the leader (leader ${this.leader})`);
        return;
      default:
        return; // responses to a leadership we no longer hold
    }
  }

  private stepLeader(message: Message): void {
    switch (message.type) {
      case 'propose': {
        const reason = this.appendProposal(message.entries);
        if (reason !== undefined) this.logInfo(`${this.id} dropped a forwarded proposal from ${message.from}: ${reason}`);
        else this.awaitCommit(message.from, this.log.lastIndex());
        return;
      }
      case 'read-index': {
        const reason = this.handleReadRequest(message.from, message.context);
        if (reason !== undefined) this.logInfo(`${this.id} dropped a forwarded read request from ${message.from}: ${reason}`);
        return;
      }
      case 'transfer-leader': {
        const reason = this.handleTransferLeader(message.transferee);
        if (reason !== undefined) this.logInfo(`${this.id} ignored a transfer request from ${message.from}: ${reason}`);
        return;
      }
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        assert(false, `${this.id} is leader at term ${this.term} and received ${message.type} from ${message.from} at the same term: two leaders in one term`);
        return;
      default:
        break;
    }
    const progress = this.tracker.progress.get(message.from);
    if (progress === undefined) return; // not (or no longer) a member
    switch (message.type) {
      case 'append-response':
        this.handleAppendResponse(message, progress);
        return;
      case 'heartbeat-response':
        this.handleHeartbeatResponse(message, progress);
        return;
      default:
        return; // vote responses of the election we already won, and so on
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Leader: proposals and replication.

  private appendProposal(proposed: readonly ProposedEntry[]): string | undefined {
    if (!this.tracker.progress.has(this.id)) return `${this.id} is no longer a member of the group`;
    if (this.leadTransferee !== NO_NODE) return `leadership is being transferred to ${this.leadTransferee}`;
    const lastIndex = this.log.lastIndex();
    let confChangeIndex = 0;
    for (const [offset, entry] of proposed.entries()) {
      if (entry.type !== 'config-change') continue;
      const refusal = this.refuseConfChange(entry.data, confChangeIndex !== 0);
      if (refusal !== undefined) return refusal;
      confChangeIndex = lastIndex + 1 + offset;
    }
    const sizeBytes = payloadSizeBytes(proposed);
    if (this.uncommittedSizeBytes > 0 && this.uncommittedSizeBytes + sizeBytes > this.config.uncommittedEntriesSizeBytesMax) {
      return `the uncommitted log is full (${this.uncommittedSizeBytes} bytes, limit ${this.config.uncommittedEntriesSizeBytesMax})`;
    }
    this.uncommittedSizeBytes += sizeBytes;
    if (confChangeIndex !== 0) this.pendingConfIndex = confChangeIndex;
    const entries: Entry[] = proposed.map((entry, offset) => ({ term: this.term, index: lastIndex + 1 + offset, type: entry.type, data: entry.data }));
    this.log.append(entries);
    this.broadcastAppend();
    return undefined;
  }

  private refuseConfChange(data: Uint8Array, anotherInBatch: boolean): string | undefined {
    if (anotherInBatch) return 'only one membership change per proposal';
    if (this.pendingConfIndex > this.log.applied) {
      return `membership change ${this.pendingConfIndex} is not applied yet (applied ${this.log.applied})`;
    }
    try {
      applyConfChangeTo(this.tracker.confState(), decodeConfChange(data));
    } catch (error) {
      if (error instanceof InvalidArgumentError) return error.message;
      throw error;
    }
    return undefined;
  }

  /** The application applied these entries: they no longer count against the uncommitted budget. */
  reduceUncommittedSize(applied: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    this.uncommittedSizeBytes = Math.max(0, this.uncommittedSizeBytes - payloadSizeBytes(applied));
  }

  /**
   * The commit index moved: `eager` sends every follower an append now (empty if need be) to
   * carry it; `lazy` sends only appends with entries, and the next heartbeat carries the rest,
   * except to a follower that waits for this commit (see `awaitCommit`), which hears it now.
   */
  private announceCommit(): void {
    const eager = this.config.commitPropagation === 'eager';
    for (const [id, progress] of this.tracker.progress) {
      if (id !== this.id) this.maybeSendAppend(id, eager || progress.awaitsCommit(this.log.committed));
    }
  }

  /**
   * With lazy propagation, follower `id` waits for the commit of `index`: the last entry of a
   * proposal it forwarded (its proposer resolves when that entry applies there), or a read index
   * it was given (the read is served once applied that far). It is told as soon as `index`
   * commits, so that neither waits for the next heartbeat; eager propagation tells it anyway.
   */
  private awaitCommit(id: NodeId, index: number): void {
    const progress = this.tracker.progress.get(id);
    if (this.config.commitPropagation === 'eager' || progress === undefined || index <= progress.commitSent) return;
    progress.commitAwaited = Math.max(progress.commitAwaited, index);
    if (progress.awaitsCommit(this.log.committed)) this.maybeSendAppend(id, true);
  }

  private broadcastAppend(): void {
    for (const id of this.tracker.progress.keys()) {
      if (id !== this.id) this.maybeSendAppend(id, true);
    }
  }

  /**
   * Sends `to` the entries after its `next` (or a snapshot when they are compacted), unless its
   * flow is paused. With `sendIfEmpty` an empty append still goes out, to carry the commit index.
   * Returns whether a message was sent.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const progress = this.tracker.progress.get(to);
    assert(progress !== undefined, `no progress for ${to}`);
    if (progress.isPaused()) return false;
    const logIndex = progress.next - 1;
    const logTerm = this.log.term(logIndex);
    const entries = logTerm === undefined ? undefined : this.log.entriesFrom(progress.next, this.config.messageEntriesSizeBytesMax);
    if (logTerm === undefined || entries === undefined) return this.maybeSendSnapshot(to, progress);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'append', ...this.header(to), logIndex, logTerm, entries, commit: this.log.committed });
    progress.sentEntries(entries.length, entriesSizeBytes(entries));
    // The follower commits no further than the append's last entry.
    progress.sentCommit(Math.min(this.log.committed, logIndex + entries.length));
    return true;
  }

  private maybeSendSnapshot(to: NodeId, progress: Progress): boolean {
    // A follower we have not heard from lately may be down: do not ship it a large snapshot.
    if (!progress.recentActive) {
      this.logInfo(`${this.id} is not sending a snapshot to ${to}: not recently active`);
      return false;
    }
    const snapshot = this.log.snapshot();
    const { index, term } = snapshot.metadata;
    assert(index > 0, 'a compacted log must have a snapshot');
    this.logInfo(`${this.id} [first ${this.log.firstIndex()}, commit ${this.log.committed}] sent snapshot ${index}/${term} to ${to} [match ${progress.match}, next ${progress.next}]`);
    progress.becomeSnapshot(index);
    this.send({ type: 'snapshot', ...this.header(to), snapshot });
    return true;
  }

  private broadcastHeartbeat(context: string | undefined): void {
    for (const [id, progress] of this.tracker.progress) {
      if (id === this.id) continue;
      // Never a commit index beyond what the follower has: it could not commit what it lacks.
      const commit = Math.min(progress.match, this.log.committed);
      this.send({ type: 'heartbeat', ...this.header(id), commit, context });
      progress.sentCommit(commit);
    }
  }

  private handleAppendResponse(message: AppendResponseMessage, progress: Progress): void {
    progress.recentActive = true;
    if (message.reject) {
      this.logInfo(`${this.id} received append rejection from ${message.from} for index ${message.index} (hint ${message.rejectHint}/${message.hintTerm})`);
      let nextProbeIndex = message.rejectHint;
      // Skip all our entries of terms the follower cannot have at or below its hint.
      if (message.hintTerm > 0) nextProbeIndex = this.log.findConflictByTerm(message.rejectHint, message.hintTerm).index;
      if (progress.maybeDecreaseTo(message.index, nextProbeIndex)) {
        if (progress.state === 'replicate') progress.becomeProbe();
        this.maybeSendAppend(message.from, true);
      }
      return;
    }
    const wasPaused = progress.isPaused();
    if (!progress.maybeUpdate(message.index) && !(progress.match === message.index && progress.state === 'probe')) return;
    if (progress.state === 'probe') {
      progress.becomeReplicate();
    } else if (progress.state === 'snapshot' && progress.match + 1 >= this.log.firstIndex()) {
      // The follower has caught up through the snapshot (or past it by other means).
      progress.becomeProbe();
      progress.becomeReplicate();
    } else if (progress.state === 'replicate') {
      progress.inflights.freeUpTo(message.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadRequests();
      this.announceCommit();
    } else if (wasPaused || progress.awaitsCommit(this.log.committed)) {
      // Unpaused, or now holding an awaited committed entry that an earlier append could not commit there.
      this.maybeSendAppend(message.from, true);
    }
    // Pipelining: keep the follower's window full.
    for (let sent = 0; sent < APPENDS_PER_ACKNOWLEDGEMENT_MAX && this.maybeSendAppend(message.from, false); sent++);
    if (message.from === this.leadTransferee && progress.match === this.log.lastIndex()) {
      this.logInfo(`${this.id} sent timeout-now to ${message.from}: its log is up to date`);
      this.send({ type: 'timeout-now', ...this.header(message.from) });
    }
  }

  private handleHeartbeatResponse(message: HeartbeatResponseMessage, progress: Progress): void {
    progress.recentActive = true;
    progress.probeSent = false;
    // Acknowledgements may have been lost: free one slot so a stalled stream can resume (a wrong
    // guess only costs a rejection and a probe).
    if (progress.state === 'replicate' && progress.inflights.full()) progress.inflights.freeFirstOne();
    if (progress.match < this.log.lastIndex() || progress.state === 'probe') this.maybeSendAppend(message.from, true);
    if (this.config.readOnly !== 'safe' || message.context === undefined) return;
    const acknowledgements = this.readOnlyQueue.acknowledge(message.from, message.context);
    if (acknowledgements !== undefined && this.tracker.hasQuorum(acknowledgements)) {
      this.releaseReadRequests(message.context);
    }
  }

  /** Follower progress may allow a higher commit index (of the current term only). */
  private maybeCommit(): boolean {
    return this.log.maybeCommit(this.tracker.committedIndex(), this.term);
  }

  /**
   * The application persisted the log up to `persistedLastIndex()`: a leader now counts its own
   * entries toward commitment. (It must not before: a leader that crashed before writing them
   * could otherwise have counted itself toward a commit it cannot remember.)
   */
  onPersisted(): void {
    if (this.role !== 'leader') return;
    const self = this.tracker.progress.get(this.id);
    if (self === undefined) return;
    if (self.maybeUpdate(this.log.persistedLastIndex()) && this.maybeCommit()) {
      this.releasePendingReadRequests();
      this.announceCommit();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Follower: appends, heartbeats, snapshots.

  private handleAppend(message: AppendMessage): void {
    if (message.logIndex < this.log.committed) {
      // Everything up to our commit index matches any leader's log: say how far we are.
      this.send({ type: 'append-response', ...this.header(message.from), index: this.log.committed, reject: false, rejectHint: 0, hintTerm: 0 });
      return;
    }
    const lastNewIndex = this.log.maybeAppend(message);
    if (lastNewIndex !== undefined) {
      this.send({ type: 'append-response', ...this.header(message.from), index: lastNewIndex, reject: false, rejectHint: 0, hintTerm: 0 });
      return;
    }
    // Find the highest index where our log may match: at most our last index, and at an entry
    // whose term is at most the leader's term at the probed index.
    const hint = this.log.findConflictByTerm(Math.min(message.logIndex, this.log.lastIndex()), message.logTerm);
    this.logInfo(
      `${this.id} [last ${this.log.lastIndex()}/${this.log.lastTerm()}] rejected append [logIndex ${message.logIndex}, logTerm ${message.logTerm}] from ${message.from}`,
    );
    this.send({ type: 'append-response', ...this.header(message.from), index: message.logIndex, reject: true, rejectHint: hint.index, hintTerm: hint.term });
  }

  private handleHeartbeat(message: HeartbeatMessage): void {
    this.log.commitTo(message.commit);
    this.send({ type: 'heartbeat-response', ...this.header(message.from), context: message.context });
  }

  private handleSnapshot(message: SnapshotMessage): void {
    const { index, term } = message.snapshot.metadata;
    if (this.restore(message.snapshot)) {
      this.logInfo(`${this.id} [commit ${this.log.committed}] restored snapshot ${index}/${term}`);
      this.send({ type: 'append-response', ...this.header(message.from), index: this.log.lastIndex(), reject: false, rejectHint: 0, hintTerm: 0 });
    } else {
      this.logInfo(`${this.id} [commit ${this.log.committed}] ignored snapshot ${index}/${term}`);
      this.send({ type: 'append-response', ...this.header(message.from), index: this.log.committed, reject: false, rejectHint: 0, hintTerm: 0 });
    }
  }

  /** Installs a snapshot from the leader; returns false when it brings nothing new. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term, confState } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    assert(this.role === 'follower', `${this.id} restoring a snapshot as ${this.role}`);
    // The snapshot's membership may not include us: a node just added is sent the leader's
    // latest snapshot, which may predate its addition. Installing it is safe: the current leader
    // sent it, and we cannot campaign until the log makes us a voter.
    if (this.log.matchTerm(index, term)) {
      // We already have the entries: just learn that they are committed.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.tracker.progress.clear();
    this.tracker.setConfig(confState, this.log.lastIndex() + 1);
    this.isLearner = this.tracker.learners.has(this.id);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Reads, leadership transfer, membership.

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private handleReadRequest(from: NodeId, context: string): string | undefined {
    if (!this.committedEntryInCurrentTerm()) {
      // Until an entry of our term commits we do not know the true commit index: wait.
      if (this.pendingReadRequests.length >= PENDING_READ_INDEX_REQUESTS_MAX) return 'too many read requests wait for the first commit of this term';
      this.pendingReadRequests.push({ from, context });
      return undefined;
    }
    if (this.config.readOnly === 'lease-based') {
      this.answerRead(from, context, this.log.committed);
      return undefined;
    }
    if (!this.readOnlyQueue.add({ index: this.log.committed, from, context })) return `a read with context "${context}" is already pending, or too many are`;
    const acknowledgements = this.readOnlyQueue.acknowledge(this.id, context);
    assert(acknowledgements !== undefined, 'the read request was just added');
    if (this.tracker.hasQuorum(acknowledgements)) this.releaseReadRequests(context);
    else this.broadcastHeartbeat(context);
    return undefined;
  }

  private releasePendingReadRequests(): void {
    if (this.pendingReadRequests.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const requests = this.pendingReadRequests;
    this.pendingReadRequests = [];
    for (const request of requests) {
      const reason = this.handleReadRequest(request.from, request.context);
      if (reason !== undefined) this.logInfo(`${this.id} dropped a read request from ${request.from}: ${reason}`);
    }
  }

  private releaseReadRequests(context: string): void {
    for (const request of this.readOnlyQueue.release(context)) this.answerRead(request.from, request.context, request.index);
  }

  private answerRead(from: NodeId, context: string, index: number): void {
    if (from === this.id) {
      this.readStates.push({ index, context });
      return;
    }
    this.send({ type: 'read-index-response', ...this.header(from), index, context });
    this.awaitCommit(from, index);
  }

  private handleTransferLeader(transferee: NodeId): string | undefined {
    const progress = this.tracker.progress.get(transferee);
    if (progress === undefined || progress.isLearner) return `${transferee} is not a voter`;
    if (this.leadTransferee !== NO_NODE) {
      if (this.leadTransferee === transferee) return `a transfer to ${transferee} is already in progress`;
      this.abortLeaderTransfer(`a transfer to ${transferee} was requested`);
    }
    if (transferee === this.id) return `${this.id} is already leader`;
    this.logInfo(`${this.id} [term ${this.term}] starts to transfer leadership to ${transferee}`);
    // The transfer must finish within an election timeout; proposals wait meanwhile.
    this.electionElapsedTicks = 0;
    this.leadTransferee = transferee;
    if (progress.match === this.log.lastIndex()) {
      this.logInfo(`${this.id} sent timeout-now to ${transferee}: its log is up to date`);
      this.send({ type: 'timeout-now', ...this.header(transferee) });
    } else {
      this.maybeSendAppend(transferee, true);
    }
    return undefined;
  }

  private abortLeaderTransfer(reason: string): void {
    if (this.leadTransferee === NO_NODE) return;
    this.logInfo(`${this.id} aborted leadership transfer to ${this.leadTransferee}: ${reason}`);
    this.leadTransferee = NO_NODE;
  }

  /**
   * Applies a committed membership change (the application calls this when it applies the
   * entry). A change that is invalid against the current membership is ignored, identically on
   * every node. Returns the membership now in force.
   */
  applyConfChange(change: ConfChange | ConfChangeBatch): ConfState {
    let next: ConfState;
    try {
      next = applyConfChangeTo(this.tracker.confState(), change);
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      this.logInfo(`${this.id} ignored membership change ${describeConfChange(change)}: ${error.message}`);
      return this.tracker.confState();
    }
    this.switchToConfig(next);
    this.logInfo(`${this.id} applied membership change ${describeConfChange(change)}: ${describeMembership(next)}`);
    return next;
  }

  /**
   * A leader leaves a joint configuration marked auto-leave as soon as it is applied (called after
   * each Ready). If the proposal is refused now (a transfer is in progress), the next call retries.
   */
  maybeAutoLeave(): void {
    if (this.role !== 'leader' || !this.tracker.autoLeave || this.pendingConfIndex > this.log.applied) return;
    const leave: ConfChangeBatch = { changes: [], transition: 'auto' };
    const reason = this.appendProposal([{ type: 'config-change', data: encodeConfChange(leave) }]);
    this.logInfo(`${this.id} ${reason === undefined ? 'proposed' : `could not propose (${reason})`} leaving the joint configuration`);
  }

  private switchToConfig(confState: ConfState): void {
    // A new member is probed at our last entry, so that the first append carries an entry and
    // is not skipped as empty; its answer tells us where its log really ends.
    this.tracker.setConfig(confState, Math.max(this.log.lastIndex(), 1));
    const self = this.tracker.progress.get(this.id);
    this.isLearner = self?.isLearner ?? false;
    if (this.role !== 'leader') return;
    // With fewer voters, the entries acknowledged so far may already be a majority.
    if (this.maybeCommit()) {
      this.releasePendingReadRequests();
      this.announceCommit();
    } else {
      for (const id of this.tracker.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
    }
    if (this.leadTransferee !== NO_NODE && !this.tracker.isVoter(this.leadTransferee)) {
      this.abortLeaderTransfer(`${this.leadTransferee} is no longer a voter`);
    }
    this.maybeHandOffLeadership();
  }

  /**
   * A leader removed from the voters (or demoted to learner) keeps leading, without counting
   * itself, until it has handed leadership to the most up-to-date voter. Stepping down at once
   * could leave the group unable to elect anyone: the remaining voters decide with the membership
   * they have applied, and they may not know yet that the change committed.
   */
  private maybeHandOffLeadership(): void {
    if (this.role !== 'leader' || this.tracker.isVoter(this.id) || this.leadTransferee !== NO_NODE) return;
    let transferee = NO_NODE;
    let transfereeMatch = -1;
    for (const id of this.tracker.allVoters()) {
      const match = this.tracker.progress.get(id)?.match ?? 0;
      if (match > transfereeMatch) {
        transferee = id;
        transfereeMatch = match;
      }
    }
    if (transferee === NO_NODE) return;
    this.logInfo(`${this.id} is no longer a voter and hands leadership to ${transferee}`);
    this.handleTransferLeader(transferee);
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing.

  private header(to: NodeId, term = this.term): { from: NodeId; to: NodeId; term: number } {
    return { from: this.id, to, term };
  }

  private send(message: Message): void {
    assert(message.to !== this.id && message.to !== NO_NODE, `${this.id} cannot send ${message.type} to ${message.to}`);
    this.messages.push(message);
  }

  private logInfo(line: string): void {
    this.config.logger.info(line);
  }

  electionTimeoutTicks(): number {
    return this.config.electionTimeoutTicks;
  }

  committedEntriesSizeBytesPerReadyMax(): number {
    return this.config.committedEntriesSizeBytesPerReadyMax;
  }
}

function payloadSizeBytes(entries: readonly ProposedEntry[]): number {
  let total = 0;
  for (const entry of entries) total += entry.data.byteLength;
  return total;
}

/** Membership for log lines: `voters (1 2 3)`, plus learners and the outgoing voters when joint. */
function describeMembership(state: ConfState): string {
  let text = `voters (${state.voters.join(' ')})`;
  if ((state.votersOutgoing?.length ?? 0) > 0) text += `&&(${state.votersOutgoing!.join(' ')})`;
  if (state.learners.length > 0) text += ` learners (${state.learners.join(' ')})`;
  if ((state.learnersNext?.length ?? 0) > 0) text += ` learners-next (${state.learnersNext!.join(' ')})`;
  if (state.autoLeave === true) text += ' auto-leave';
  return text;
}
