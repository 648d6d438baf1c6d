import { assert } from '../assert.ts';
import { InvalidArgumentError } from '../errors.ts';
import { encodeConfChange } from './conf-change.ts';
import { ENTRY_PAYLOAD_SIZE_BYTES_MAX, READ_CONTEXT_LENGTH_MAX } from './constants.ts';
import { ProposalDroppedError } from './errors.ts';
import type { Message } from './message.ts';
import type { ProgressState } from './progress.ts';
import { Raft } from './raft.ts';
import type { RaftConfig } from './raft-config.ts';
import {
  isSameHardState,
  type ConfChange,
  type ConfChangeBatch,
  type ConfState,
  type Entry,
  type HardState,
  type NodeId,
  type RaftRole,
  type ReadState,
  type Snapshot,
  type SoftState,
} from './types.ts';

/**
 * Everything a node must do, handed out by `RawNode.ready()`. The application handles one Ready
 * at a time, **in this order**, then calls `advance()`:
 *
 * 1. **Persist** `snapshot` (if set: it replaces the log), then `entries` (appending, after
 *    dropping any stored entries at or after the first one's index), then `hardState` (if set),
 *    as one atomic write. If `mustSync`, the write must be durable (fsync or equivalent) before
 *    step 2; a crash may lose an unsynced write only if it loses the whole write.
 * 2. **Send** `messages`. They may depend on step 1: a vote promises the persisted `hardState`,
 *    an append acknowledgement promises the persisted `entries`. Sending before the write is
 *    durable can elect two leaders in one term or lose committed entries after a crash. Sending
 *    is best-effort: a lost message is recovered by Raft (a lost snapshot should be reported with
 *    `reportSnapshot(to, 'failed')`, an unreachable peer with `reportUnreachable`).
 *    One exception: a leader's Ready that changes neither term nor vote may send its messages
 *    before (or while) step 1 runs, since a leader counts its own entries only at `advance()`
 *    (Raft thesis §10.2.1): its followers then persist in parallel with it.
 * 3. **Apply** `snapshot` (if set) to the state machine, then `committedEntries` in order. For a
 *    `config-change` entry, decode it (`decodeConfChange`) and call `applyConfChange` before the
 *    next entry. Committed entries are durable on a majority, and (by step 1) here too. Those
 *    already persisted here by an earlier Ready (when there is no snapshot) may be applied before
 *    or while step 1 runs, as etcd applies while it writes its WAL.
 * 4. **Answer** `readStates`: the read with that context may be served once the state machine
 *    has applied at least `index` (a later Ready may be needed for that).
 * 5. **Call `advance()`.** Until then, call nothing on the RawNode but `applyConfChange`;
 *    buffer incoming messages, ticks and proposals, and step them after `advance()`.
 */
export interface Ready {
  /** Set when leader or role changed since the previous Ready. Never persisted. */
  readonly softState: SoftState | undefined;
  /** Set when term, vote or commit changed; persist it. */
  readonly hardState: HardState | undefined;
  /** Entries to persist, in index order. */
  readonly entries: readonly Entry[];
  /** A snapshot from the leader to persist and then apply; it replaces the log and the state machine. */
  readonly snapshot: Snapshot | undefined;
  /** Entries to apply, in index order, after persisting. */
  readonly committedEntries: readonly Entry[];
  /** Messages to send after persisting; in any order, to any peer, or not at all. */
  readonly messages: readonly Message[];
  /** Answers to read requests. */
  readonly readStates: readonly ReadState[];
  /**
   * True when the write of step 1 must be durable before messages go out: term, vote, entries or
   * snapshot changed. A snapshot counts even when nothing else did: the follower's acknowledgement
   * lets the leader count its log up to the snapshot, so losing it in a crash could leave the
   * follower below an index the leader committed (or tells it to commit).
   */
  readonly mustSync: boolean;
}

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly paused: boolean;
  readonly inflightMessages: number;
  readonly inflightBytes: number;
  readonly recentActive: boolean;
  readonly isLearner: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: RaftRole;
  readonly leader: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly leadTransferee: NodeId;
  readonly confState: ConfState;
  /** Ticks since the election timer was last reset. */
  readonly electionElapsedTicks: number;
  /** When the timer fires: the randomized election timeout, or for a leader its CheckQuorum period. */
  readonly electionTimeoutTicks: number;
  /** The leader's view of each member's replication; empty on other roles. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
}

/**
 * A Raft node as the application drives it: feed it ticks, messages and requests; take a `Ready`
 * when `hasReady()`; do what the Ready says; `advance()`. Synchronous and deterministic: the same
 * calls in the same order (with the same random source) give the same Readies.
 *
 * Requests that cannot be accepted here throw `ProposalDroppedError` (no leader, transfer in
 * progress, uncommitted log full, pending membership change). Acceptance is not commitment: a
 * proposal is committed when its entry comes back in `committedEntries`, and may be lost if
 * leadership changes first; the application matches entries to its requests (by content) and
 * retries after a timeout.
 */
export class RawNode {
  private readonly raft: Raft;
  private previousSoftState: SoftState;
  private previousHardState: HardState;
  /** The Ready handed out and not yet advanced. */
  private inProgress: Ready | undefined = undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.previousSoftState = this.softState();
    this.previousHardState = this.raft.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  tick(): void {
    this.assertIdle('tick');
    this.raft.tick();
  }

  /** Campaigns for leadership now (with a pre-election first if PreVote is on). */
  campaign(): void {
    this.assertIdle('campaign');
    this.raft.campaign();
  }

  /** Proposes application data; see the class comment for what acceptance means. */
  propose(data: Uint8Array): void {
    this.assertIdle('propose');
    if (data.byteLength > ENTRY_PAYLOAD_SIZE_BYTES_MAX) {
      throw new InvalidArgumentError(`cannot propose ${data.byteLength} bytes: an entry holds at most ${ENTRY_PAYLOAD_SIZE_BYTES_MAX}`);
    }
    this.throwIfDropped('proposal', this.raft.propose([{ type: 'normal', data }]));
  }

  /**
   * Proposes several payloads as one batch, all accepted or none: one append message carries them
   * all, which is how a driver loop proposes the requests that arrived since its last Ready.
   */
  proposeBatch(payloads: readonly Uint8Array[]): void {
    this.assertIdle('proposeBatch');
    if (payloads.length === 0) return;
    for (const data of payloads) {
      if (data.byteLength > ENTRY_PAYLOAD_SIZE_BYTES_MAX) {
        throw new InvalidArgumentError(`cannot propose ${data.byteLength} bytes: an entry holds at most ${ENTRY_PAYLOAD_SIZE_BYTES_MAX}`);
      }
    }
    this.throwIfDropped('proposal', this.raft.propose(payloads.map((data) => ({ type: 'normal' as const, data }))));
  }

  /**
   * Proposes a membership change (or a batch of them, through a joint configuration when more than
   * one voter changes); it takes effect when applied (see Ready step 3).
   */
  proposeConfChange(change: ConfChange | ConfChangeBatch): void {
    this.assertIdle('proposeConfChange');
    this.throwIfDropped('membership change', this.raft.propose([{ type: 'config-change', data: encodeConfChange(change) }]));
  }

  /**
   * Asks for a linearizable read; the answer is a ReadState with the same context in a later
   * Ready (possibly more than once, if the network duplicates). Like a proposal, a request can be
   * lost when leadership changes: the application retries after a timeout with a new context.
   */
  readIndex(context: string): void {
    this.assertIdle('readIndex');
    if (context.length === 0 || context.length > READ_CONTEXT_LENGTH_MAX) {
      throw new InvalidArgumentError(`a read context must have 1 to ${READ_CONTEXT_LENGTH_MAX} characters, got ${context.length}`);
    }
    this.throwIfDropped('read request', this.raft.readIndex(context));
  }

  /** Asks the leader to hand leadership to `transferee` (it waits for its log to catch up). */
  transferLeadership(transferee: NodeId): void {
    this.assertIdle('transferLeadership');
    this.throwIfDropped('leadership transfer', this.raft.transferLeadership(transferee));
  }

  /** Steps a message received from another member of the group. */
  step(message: Message): void {
    this.assertIdle('step');
    this.raft.step(message);
  }

  reportUnreachable(id: NodeId): void {
    this.assertIdle('reportUnreachable');
    this.raft.reportUnreachable(id);
  }

  reportSnapshot(id: NodeId, status: 'finished' | 'failed'): void {
    this.assertIdle('reportSnapshot');
    this.raft.reportSnapshot(id, status);
  }

  /** Applies a committed membership change; allowed while a Ready is in progress (its step 3). */
  applyConfChange(change: ConfChange | ConfChangeBatch): ConfState {
    return this.raft.applyConfChange(change);
  }

  hasReady(): boolean {
    assert(this.inProgress === undefined, 'hasReady() while a Ready is in progress: call advance() first');
    const raft = this.raft;
    return (
      !isSameSoftState(this.softState(), this.previousSoftState) ||
      !isSameHardState(raft.hardState(), this.previousHardState) ||
      raft.log.hasPendingSnapshot() ||
      raft.log.unstable.entries.length > 0 ||
      raft.log.hasNextCommittedEntries() ||
      raft.messages.length > 0 ||
      raft.readStates.length > 0
    );
  }

  /** Hands out what must be done; see `Ready` for the order. Call `advance()` when done. */
  ready(): Ready {
    assert(this.inProgress === undefined, 'ready() twice without advance()');
    const raft = this.raft;
    const softState = this.softState();
    const hardState = raft.hardState();
    const entries = [...raft.log.unstable.entries];
    const ready: Ready = {
      softState: isSameSoftState(softState, this.previousSoftState) ? undefined : softState,
      hardState: isSameHardState(hardState, this.previousHardState) ? undefined : hardState,
      entries,
      snapshot: raft.log.unstable.snapshot,
      committedEntries: raft.log.nextCommittedEntries(raft.committedEntriesSizeBytesPerReadyMax()),
      messages: raft.messages,
      readStates: raft.readStates,
      mustSync:
        entries.length > 0 ||
        raft.log.unstable.snapshot !== undefined ||
        hardState.term !== this.previousHardState.term ||
        hardState.vote !== this.previousHardState.vote,
    };
    raft.messages = [];
    raft.readStates = [];
    this.inProgress = ready;
    return ready;
  }

  /** The Ready from `ready()` has been handled as it prescribes: persisted, sent, applied. */
  advance(): void {
    const ready = this.inProgress;
    assert(ready !== undefined, 'advance() without a Ready in progress');
    const raft = this.raft;
    this.assertPersisted(ready);
    if (ready.softState !== undefined) this.previousSoftState = ready.softState;
    if (ready.hardState !== undefined) this.previousHardState = ready.hardState;
    if (ready.snapshot !== undefined) {
      raft.log.unstable.stableSnapshotTo(ready.snapshot.metadata.index);
      raft.log.appliedTo(ready.snapshot.metadata.index);
    }
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) raft.log.unstable.stableTo(lastEntry.index, lastEntry.term);
    const lastCommitted = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastCommitted !== undefined) {
      raft.log.appliedTo(lastCommitted.index);
      raft.reduceUncommittedSize(ready.committedEntries);
    }
    this.inProgress = undefined;
    raft.onPersisted();
    raft.maybeAutoLeave();
  }

  /** Catches an application that advances without persisting: Raft would forget entries silently. */
  private assertPersisted(ready: Ready): void {
    const storage = this.raft.log.storage;
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) {
      assert(
        storage.lastIndex() >= lastEntry.index && storage.term(lastEntry.index) === lastEntry.term,
        `advance(): entry ${lastEntry.index}/${lastEntry.term} of the Ready is not in storage; persist the Ready first`,
      );
    }
    if (ready.snapshot !== undefined) {
      assert(storage.snapshot().metadata.index >= ready.snapshot.metadata.index, 'advance(): the Ready\'s snapshot is not in storage; persist the Ready first');
    }
  }

  status(): RaftStatus {
    const raft = this.raft;
    const progress = new Map<NodeId, ProgressStatus>();
    if (raft.role === 'leader') {
      for (const [id, entry] of [...raft.tracker.progress].sort(([a], [b]) => a - b)) {
        progress.set(id, {
          match: entry.match,
          next: entry.next,
          state: entry.state,
          paused: entry.isPaused(),
          inflightMessages: entry.inflights.count(),
          inflightBytes: entry.inflights.sizeBytes(),
          recentActive: entry.recentActive,
          isLearner: entry.isLearner,
        });
      }
    }
    return {
      id: raft.id,
      role: raft.role,
      leader: raft.leader,
      term: raft.term,
      vote: raft.vote,
      commit: raft.log.committed,
      applied: raft.log.applied,
      firstIndex: raft.log.firstIndex(),
      lastIndex: raft.log.lastIndex(),
      leadTransferee: raft.leadTransferee,
      confState: raft.tracker.confState(),
      electionElapsedTicks: raft.electionElapsedTicks,
      electionTimeoutTicks: raft.role === 'leader' ? raft.electionTimeoutTicks() : raft.randomizedElectionTimeoutTicks,
      progress,
    };
  }

  /**
   * The whole log as this node sees it (persisted and unstable), for tests and debugging tools.
   * Bounded by the caller's `sizeBytesMax`; starts at the first index not compacted.
   */
  logEntries(sizeBytesMax: number): Entry[] {
    return this.raft.log.entriesFrom(this.raft.log.firstIndex(), sizeBytesMax) ?? [];
  }

  private softState(): SoftState {
    return { leader: this.raft.leader, role: this.raft.role };
  }

  private assertIdle(operation: string): void {
    assert(this.inProgress === undefined, `${operation}() while a Ready is in progress: call advance() first`);
  }

  private throwIfDropped(what: string, reason: string | undefined): void {
    if (reason !== undefined) throw new ProposalDroppedError(`node ${this.raft.id} dropped the ${what}: ${reason}`);
  }
}

function isSameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}
