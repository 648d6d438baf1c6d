/**
 * The values Raft stores and exchanges. Indexes and terms are non-negative safe integers: index 0
 * and term 0 mean "before the first entry"; node id 0 (`NO_NODE`) means "nobody".
 *
 * Buffers (`Entry.data`, `Snapshot.data`) are owned by whoever created them and never mutated
 * afterwards by Raft; callers must not mutate a buffer after handing it to Raft either.
 */

/** A member of a Raft group: a positive safe integer. */
export type NodeId = number;

/** No node: no vote cast, no leader known. */
export const NO_NODE: NodeId = 0;

/** `normal` entries carry application data; `config-change` entries carry an encoded `ConfChange`. */
export type EntryType = 'normal' | 'config-change';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What a node must persist before it sends anything that depends on it. */
export interface HardState {
  /** The latest term this node has seen. */
  readonly term: number;
  /** Whom this node voted for in `term`, or NO_NODE. */
  readonly vote: NodeId;
  /** The highest index known committed (persisting it is an optimisation, never required for safety). */
  readonly commit: number;
}

/**
 * Group membership: voters decide elections and commits, learners only receive the log.
 *
 * During a joint configuration (Raft §4.3, joint consensus) decisions need a majority of
 * `voters` (the incoming configuration) and a majority of `votersOutgoing`. The joint fields are
 * absent outside a joint configuration. All lists are sorted ascending.
 */
export interface ConfState {
  /** The (incoming) voters. */
  readonly voters: readonly NodeId[];
  /** Disjoint from voters and votersOutgoing. */
  readonly learners: readonly NodeId[];
  /** In a joint configuration: the voters of the configuration being left. */
  readonly votersOutgoing?: readonly NodeId[];
  /** In a joint configuration: outgoing voters that become learners when it is left. */
  readonly learnersNext?: readonly NodeId[];
  /** In a joint configuration: the leader proposes to leave it as soon as it is applied. */
  readonly autoLeave?: boolean;
}

export interface SnapshotMetadata {
  /** The last log index the snapshot covers. */
  readonly index: number;
  /** The term of the entry at `index`. */
  readonly term: number;
  /** Membership as of `index`. */
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The application's state machine as of `metadata.index`; opaque to Raft. */
  readonly data: Uint8Array;
}

export type RaftRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Volatile state worth telling the application about, never persisted. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: RaftRole;
}

/**
 * The answer to a read request: a read with `context` is linearizable once the application has
 * applied at least up to `index`.
 */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

export type ConfChangeType = 'add-voter' | 'add-learner' | 'remove-node';

/**
 * One membership change. `add-voter` of a learner promotes it; `add-learner` of a voter demotes
 * it. Alone it is applied directly (one server at a time); see `ConfChangeBatch` for several.
 */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

/**
 * How a batch of changes takes effect:
 * - `auto`: directly if at most one voter changes (one server at a time), else through a joint
 *   configuration that the leader leaves automatically once it is applied;
 * - `joint-implicit`: always through a joint configuration, left automatically;
 * - `joint-explicit`: through a joint configuration that stays until the application proposes
 *   an empty batch to leave it.
 */
export type ConfChangeTransition = 'auto' | 'joint-implicit' | 'joint-explicit';

/**
 * Several membership changes made as one (joint consensus). An empty batch leaves the current
 * joint configuration. A leader has at most one unapplied membership change in its log.
 */
export interface ConfChangeBatch {
  readonly changes: readonly ConfChange[];
  readonly transition: ConfChangeTransition;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NO_NODE, commit: 0 };

export const EMPTY_CONF_STATE: ConfState = { voters: [], learners: [] };

export function isSameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function isEmptyHardState(state: HardState): boolean {
  return isSameHardState(state, EMPTY_HARD_STATE);
}

export function isValidNodeId(id: unknown): id is NodeId {
  return typeof id === 'number' && Number.isSafeInteger(id) && id > 0;
}
