import type { Metastore, MetastoreOperation, MetastorePrecondition } from '../contracts/metastore.ts';
import type { ZoneTransport } from '../contracts/zone-transport.ts';
import type { KvStore } from '../kv/kv-store-types.ts';
import type { RandomSource } from '../raft/random.ts';
import type { RaftLogger } from '../raft/raft-config.ts';
import type { WritableRaftStorage } from '../raft/storage.ts';
import type { NodeId, RaftRole } from '../raft/types.ts';
import type { Ticker } from './ticker.ts';
import type { ZoneLoopProfiler } from './loop-profiler.ts';

/**
 * How a zone's Metastore view acknowledges writes and serves reads:
 * - `strong` (SC): a write resolves after a majority has committed it and this replica has
 *   decided its outcome in applying it; a read first asks the leader for its commit index (ReadIndex), waits until this
 *   replica has applied that far, then reads locally: reads are linearizable.
 * - `eventual` (EC): a write resolves as soon as it is durable in the leader's log (before any
 *   follower has it) with the version it will have if it commits; a read is served from this
 *   replica's applied state at once, which may be stale. See `ZoneReplica.write` for the exact
 *   guarantees of an EC write and `waitFor` for learning its outcome.
 */
export type ZoneConsistency = 'strong' | 'eventual';

/**
 * A member of a zone: its Raft node id, the transport address its peers reach it at, and the
 * public key it proves that node id with (NODE_PUBLIC_KEY_BYTES of raw Ed25519; see
 * `ZoneTransport.setPeer`). Recorded in the zone's membership records, so every replica knows
 * every member's key. A member without a key (a zone whose members joined without one) cannot be
 * authenticated by a transport that checks node identity.
 */
export interface ZoneMember {
  readonly nodeId: NodeId;
  readonly address: string;
  readonly publicKey?: Uint8Array;
}

export type ZoneMemberRole = 'voter' | 'learner';

export interface ZoneMemberStatus extends ZoneMember {
  readonly role: ZoneMemberRole;
  /** A learner that joined to become a voter: the leader promotes it once it has caught up. */
  readonly promotionPending: boolean;
  readonly isLeader: boolean;
  /**
   * On the leader only: the highest log index known replicated to this member, and how far it
   * trails the leader's last index (0 when up to date). Undefined on other replicas.
   */
  readonly matchIndex: number | undefined;
  readonly lagEntries: number | undefined;
}

/** What `ZoneReplica.status()` reports: this replica's view of its zone. */
export interface ZoneStatus {
  readonly zoneId: string;
  readonly nodeId: NodeId;
  readonly role: RaftRole;
  /** The leader this replica knows of, or 0 when none. */
  readonly leader: NodeId;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  /** The index of the latest snapshot (the raft log is compacted up to it). */
  readonly snapshotIndex: number;
  /** Members in node id order, with the addresses recorded in the zone's membership records. */
  readonly members: readonly ZoneMemberStatus[];
  readonly consistency: ZoneConsistency;
  readonly closed: boolean;
  /**
   * This node was removed from the zone (it applied the change, or it reopened on the state of a
   * node that had): the replica takes part no more and rejects every request with RemovedError.
   */
  readonly removed: boolean;
  /**
   * The nodes removed from the zone so far, in id order, as this replica applied them: their ids
   * are not given again (a join takes an id above every member's and every one of these).
   */
  readonly removedNodeIds: readonly NodeId[];
}

/**
 * The receipt of an EC write: the log position its entry took in the leader's log. Entries are
 * identified by (index, term) (Raft's log matching): if the entry committed at `index` has `term`,
 * it is this write. Plain data: it may be sent to another process and waited on at any replica.
 */
export interface WriteToken {
  readonly zoneId: string;
  readonly index: number;
  readonly term: number;
}

export interface ZoneBootstrap {
  /**
   * The initial members, identical (same ids and addresses) on every one of them. Each initial
   * member opens its replica with the same bootstrap on empty storage; the zone's log then starts
   * with a snapshot at index 1 holding this membership.
   */
  readonly members: readonly ZoneMember[];
}

export interface ZoneReplicaOptions {
  readonly zoneId: string;
  readonly nodeId: NodeId;
  /**
   * The local KvStore the state machine lives in; it may also hold the raft log (KvRaftStorage
   * under its own key prefix). The caller owns it: the replica never closes it.
   */
  readonly store: KvStore;
  /** Raft's durable state; the caller owns it and closes it after the replica. */
  readonly raftStorage: WritableRaftStorage;
  readonly transport: ZoneTransport;
  readonly ticker: Ticker;
  /** Spreads election timeouts; seed it in tests. */
  readonly random: RandomSource;
  /** The Metastore view's behaviour; `strong` by default. */
  readonly consistency?: ZoneConsistency;
  /** Create a new zone (only on empty storage); omit to reopen, or to join an existing zone. */
  readonly bootstrap?: ZoneBootstrap;
  /**
   * Addresses known before the log says: a joining node is given at least one existing member, so
   * it can answer the leader before it has applied the membership records.
   */
  readonly peers?: readonly ZoneMember[];
  /** Raft timing, in ticks; see kernel/raft/constants.ts for the defaults. */
  readonly electionTimeoutTicks?: number;
  readonly heartbeatIntervalTicks?: number;
  /** Applied entries between snapshots (SNAPSHOT_INTERVAL_ENTRIES_DEFAULT); SNAPSHOT_INTERVAL_BYTES of them snapshot sooner. */
  readonly snapshotIntervalEntries?: number;
  /**
   * Entries a snapshot leaves in the raft log behind its index, for followers just behind
   * (SNAPSHOT_CATCH_UP_ENTRIES_DEFAULT, or SNAPSHOT_CATCH_UP_INTERVALS times `snapshotIntervalEntries`
   * when that is set; 0 compacts up to the snapshot); never more than
   * SNAPSHOT_CATCH_UP_BYTES_MAX of them.
   */
  readonly snapshotCatchUpEntries?: number;
  /** Ticks a request waits for its outcome (REQUEST_TIMEOUT_TICKS_DEFAULT). */
  readonly requestTimeoutTicks?: number;
  /** Lowers SNAPSHOT_CHUNK_BYTES_DEFAULT, the bytes of state in one chunk of a snapshot this replica sends. */
  readonly snapshotChunkBytes?: number;
  /** Lowers SNAPSHOT_INSTALL_OPERATIONS_PER_COMMIT, the operations in one commit of a snapshot install here. */
  readonly snapshotInstallOperationsPerCommit?: number;
  readonly logger?: RaftLogger;
  /** Told how long each phase of the replica's loop takes (loop-profiler.ts); nothing is measured without one. */
  readonly profiler?: ZoneLoopProfiler;
}

export interface AddMemberOptions {
  /**
   * `voter` by default: the node joins as a learner with a promotion record, and the leader
   * promotes it to voter once it has caught up (PROMOTION_LAG_ENTRIES_MAX). `learner`: it stays a
   * learner (promote it later by adding it as a `voter`).
   */
  readonly role?: ZoneMemberRole;
  /**
   * For a voter: wait until it is promoted (true, the default), or resolve once it is a learner
   * (false: a node that is only started after it was added, as `nexus zone join` does).
   */
  readonly waitForPromotion?: boolean;
}

/**
 * What one replica of a zone offers its process (implemented by `ZoneReplica`, opened with
 * `ZoneReplica.open(options)`). Every method throws `ClosedError` (ECLOSED) after `close()`.
 *
 * Errors shared by the writes and reads: `BusyError` (EBUSY, retryable) when no leader is known,
 * leadership is being transferred, the uncommitted log is full, too many requests are pending, or
 * the outcome did not arrive within `requestTimeoutTicks` (the write may still commit: retry only
 * writes that are safe to repeat, such as those guarded by preconditions); `InvalidArgumentError`
 * (EINVAL) for a bad key, value, batch or a proposal larger than ZONE_PROPOSAL_BYTES_MAX.
 */
export interface ZoneReplicaApi {
  readonly zoneId: string;
  readonly nodeId: NodeId;

  /**
   * The zone's Metastore as seen through this replica, with the behaviour of the replica's
   * `consistency` (see ZoneConsistency). Versions are raft log indexes, identical on every
   * replica. Keys under ZONE_RESERVED_KEY_PREFIX are refused and a batch
   * must encode within ZONE_PROPOSAL_BYTES_MAX. Its `close()` closes the view only.
   */
  readonly metastore: Metastore;

  /**
   * SC write: resolves with the batch's version once a majority has committed it and this replica
   * has applied it (decided its outcome: the KvStore commit of the applied state may still be
   * under way, and a read through `readBarrier` waits for it); rejects with ConflictError
   * (ECONFLICT) when a precondition failed at apply time (preconditions are checked when the
   * entry applies, identically on every replica). Proposed at a follower, the entry is forwarded
   * to the leader by Raft. A crash after the answer loses nothing: the entry is in the raft log
   * of a majority, and a restarted replica applies it again, exactly once, from its applied index.
   */
  commit(
    operations: readonly MetastoreOperation[],
    preconditions?: readonly MetastorePrecondition[],
  ): Promise<number>;

  /**
   * EC write: only on the leader (a follower rejects with BusyError naming the leader). Resolves
   * with a WriteToken as soon as the entry is durable in the leader's own log, before any follower
   * has it; the write is not yet visible to reads. Its outcome is learnt with `waitFor`.
   */
  write(
    operations: readonly MetastoreOperation[],
    preconditions?: readonly MetastorePrecondition[],
  ): Promise<WriteToken>;

  /**
   * The outcome of an EC write: resolves with its version once its entry is committed and applied
   * here; rejects with ConflictError when its preconditions failed at apply time, and with
   * `WriteLostError` (ECONFLICT) when another entry was committed at its index (it was overwritten
   * after a leader change and will never apply). A token of another zone is EINVAL. A token whose
   * index this replica only reached through a snapshot, or applied too long ago to remember
   * (RECENT_OUTCOMES_MAX), rejects with BusyError: the outcome is unknown here.
   */
  waitFor(token: WriteToken): Promise<number>;

  /** Linearizable read barrier: resolves once this replica has applied all that the leader had committed when asked. */
  readBarrier(): Promise<void>;

  /** Starts an election at this replica now (tests, and operators who want a given leader). */
  campaign(): Promise<void>;

  /**
   * Adds a member: records its address (and, for a voter, its promotion record) in the zone's
   * membership records, then adds it as a learner, so that a new, empty node never raises the
   * quorum before it has the log; for a voter, the leader then promotes it once it has caught up
   * (at a tick, whichever replica leads by then), and this resolves once the promotion applied
   * here. When it does not within `requestTimeoutTicks`, it rejects with BusyError (EBUSY): the
   * node stays a learner whose promotion is pending, and calling again (idempotent) waits for it.
   * Adding a voter again resolves at once. The new node is opened with `peers` naming at least one
   * existing member and no `bootstrap`. One change at a time.
   */
  addMember(member: ZoneMember, options?: AddMemberOptions): Promise<void>;

  /**
   * Removes a member (and its address record) and resolves once the change applied here. The
   * removed node stops once it learns of it (see `removal`): the leader sends it one last append
   * up to the change with the commit index (best effort: a node more than REMOVAL_NOTICE_BYTES_MAX
   * behind, or one that misses it, is not told then and campaigns in vain, as PreVote keeps it
   * from disrupting, until a member it reaches through a transport that authenticates nodes tells
   * it at the handshake: see ZoneTransport.setRemovedPeer). A leader that removes itself leads on until it has handed leadership to a
   * remaining voter (kernel/raft/README.md), then stops.
   */
  removeMember(nodeId: NodeId): Promise<void>;

  /**
   * Resolves once this replica has learnt that its node was removed from the zone (at once when
   * it was opened on the state of a removed node), and never otherwise. By then it has stopped:
   * it no longer ticks, receives, votes or campaigns; every pending request was rejected, and
   * every new one is rejected, with RemovedError (ECLOSED, "node N was removed from zone Z"); its
   * status says `removed`. Its host is expected to `close()` it and stop. A removed node cannot
   * come back: a node that joins again does so under a new node id on an empty data directory.
   */
  readonly removal: Promise<void>;

  /** Asks the leader to hand leadership to `nodeId`; resolves once this replica sees it lead. */
  transferLeadership(nodeId: NodeId): Promise<void>;

  status(): ZoneStatus;

  /** Stops ticking, receiving and applying; rejects pending requests with ClosedError. Idempotent (also after removal). */
  close(): Promise<void>;
}
