import { assert } from '../assert.ts';
import {
  COMMITTED_ENTRIES_SIZE_BYTES_PER_READY_DEFAULT,
  ELECTION_TIMEOUT_TICKS_DEFAULT,
  HEARTBEAT_INTERVAL_TICKS_DEFAULT,
  INFLIGHT_BYTES_DEFAULT,
  INFLIGHT_MESSAGES_DEFAULT,
  INFLIGHT_MESSAGES_MAX,
  MESSAGE_ENTRIES_SIZE_BYTES_DEFAULT,
  UNCOMMITTED_ENTRIES_SIZE_BYTES_DEFAULT,
} from './constants.ts';
import type { RandomSource } from './random.ts';
import type { RaftStorage } from './storage.ts';
import { isValidNodeId, type NodeId } from './types.ts';

/**
 * How a leader answers read requests:
 * - `safe`: after a quorum acknowledges a heartbeat sent after the request (one round trip).
 * - `lease-based`: at once, trusting that no other leader can exist within an election timeout of
 *   the last quorum contact. Needs CheckQuorum, and clocks whose drift stays well below the
 *   election timeout; otherwise a deposed leader may serve a stale read.
 */
export type ReadOnlyOption = 'safe' | 'lease-based';

/**
 * How a leader tells its followers that its commit index moved:
 * - `eager` (etcd's way): at once, in an append to every follower, empty if it has no new
 *   entries for it.
 * - `lazy`: with the next message that goes to the follower anyway, an append of new entries or
 *   the next heartbeat (hashicorp/raft's way). It saves a message and its answer per follower and
 *   commit, that is, a wake-up of every process per write when writes come one at a time; the
 *   followers apply up to a heartbeat interval later. A follower that waits for a commit, of a
 *   proposal it forwarded or of a read index it was given, is told at once all the same (an empty
 *   append, to it alone), so its proposer and its reads do not wait for a heartbeat. Nothing
 *   about safety changes: a follower's commit index only says how far it may apply, and
 *   commitment is the leader's decision.
 */
export type CommitPropagation = 'eager' | 'lazy';

/** Where Raft writes what it does (elections, rejections, step-downs); one line per event. */
export interface RaftLogger {
  info(line: string): void;
}

export interface RaftConfig {
  /** This node's id, never 0. */
  id: NodeId;
  /** The durable state to start from; see storage.ts. */
  storage: RaftStorage;
  /** Randomizes election timeouts; seed it for a replayable simulation. */
  random: RandomSource;
  /** Ticks without a leader before campaigning; the actual timeout is drawn from [this, 2 x this). */
  electionTimeoutTicks?: number;
  /** Ticks between leader heartbeats; must be less than electionTimeoutTicks. */
  heartbeatIntervalTicks?: number;
  /**
   * The last index the application has applied (durably, if its state machine is durable).
   * Entries after it are handed out again for application. Defaults to the snapshot's index.
   */
  applied?: number;
  /**
   * Run a pre-election before incrementing the term (Raft §9.6), so that a node rejoining after a
   * partition cannot depose a healthy leader by bumping the term.
   */
  preVote?: boolean;
  /**
   * A leader steps down when it has not heard from a quorum within an election timeout, and
   * followers ignore vote requests while they hear from a leader (leader stickiness).
   */
  checkQuorum?: boolean;
  readOnly?: ReadOnlyOption;
  /** `eager` by default. */
  commitPropagation?: CommitPropagation;
  /** Byte budget of the entries in one append message. */
  messageEntriesSizeBytesMax?: number;
  /** Unacknowledged append messages to one follower. */
  inflightMessagesMax?: number;
  /** Unacknowledged entry bytes to one follower. */
  inflightBytesMax?: number;
  /** Uncommitted payload bytes a leader accepts before refusing proposals. */
  uncommittedEntriesSizeBytesMax?: number;
  /** Byte budget of the committed entries in one Ready. */
  committedEntriesSizeBytesPerReadyMax?: number;
  logger?: RaftLogger;
}

export type ResolvedRaftConfig = Required<Omit<RaftConfig, 'applied'>> & { applied: number | undefined };

const SILENT_LOGGER: RaftLogger = { info: () => {} };

export function resolveRaftConfig(config: RaftConfig): ResolvedRaftConfig {
  const resolved: ResolvedRaftConfig = {
    id: config.id,
    storage: config.storage,
    random: config.random,
    electionTimeoutTicks: config.electionTimeoutTicks ?? ELECTION_TIMEOUT_TICKS_DEFAULT,
    heartbeatIntervalTicks: config.heartbeatIntervalTicks ?? HEARTBEAT_INTERVAL_TICKS_DEFAULT,
    applied: config.applied,
    preVote: config.preVote ?? false,
    checkQuorum: config.checkQuorum ?? false,
    readOnly: config.readOnly ?? 'safe',
    commitPropagation: config.commitPropagation ?? 'eager',
    messageEntriesSizeBytesMax: config.messageEntriesSizeBytesMax ?? MESSAGE_ENTRIES_SIZE_BYTES_DEFAULT,
    inflightMessagesMax: config.inflightMessagesMax ?? INFLIGHT_MESSAGES_DEFAULT,
    inflightBytesMax: config.inflightBytesMax ?? INFLIGHT_BYTES_DEFAULT,
    uncommittedEntriesSizeBytesMax: config.uncommittedEntriesSizeBytesMax ?? UNCOMMITTED_ENTRIES_SIZE_BYTES_DEFAULT,
    committedEntriesSizeBytesPerReadyMax: config.committedEntriesSizeBytesPerReadyMax ?? COMMITTED_ENTRIES_SIZE_BYTES_PER_READY_DEFAULT,
    logger: config.logger ?? SILENT_LOGGER,
  };
  validate(resolved);
  return resolved;
}

function validate(config: ResolvedRaftConfig): void {
  assert(isValidNodeId(config.id), `raft node id must be a positive safe integer, got ${config.id}`);
  assert(isPositiveInteger(config.heartbeatIntervalTicks), 'heartbeatIntervalTicks must be a positive integer');
  assert(
    isPositiveInteger(config.electionTimeoutTicks) && config.electionTimeoutTicks > config.heartbeatIntervalTicks,
    'electionTimeoutTicks must be an integer greater than heartbeatIntervalTicks',
  );
  assert(
    isPositiveInteger(config.inflightMessagesMax) && config.inflightMessagesMax <= INFLIGHT_MESSAGES_MAX,
    `inflightMessagesMax must be an integer in [1, ${INFLIGHT_MESSAGES_MAX}]`,
  );
  assert(isPositiveInteger(config.inflightBytesMax), 'inflightBytesMax must be a positive integer');
  assert(isPositiveInteger(config.messageEntriesSizeBytesMax), 'messageEntriesSizeBytesMax must be a positive integer');
  assert(isPositiveInteger(config.uncommittedEntriesSizeBytesMax), 'uncommittedEntriesSizeBytesMax must be a positive integer');
  assert(isPositiveInteger(config.committedEntriesSizeBytesPerReadyMax), 'committedEntriesSizeBytesPerReadyMax must be a positive integer');
  assert(config.commitPropagation === 'eager' || config.commitPropagation === 'lazy', `commitPropagation must be "eager" or "lazy", got ${String(config.commitPropagation)}`);
  assert(config.readOnly !== 'lease-based' || config.checkQuorum, 'lease-based reads need checkQuorum: without it a deposed leader keeps serving');
  assert(config.applied === undefined || (Number.isSafeInteger(config.applied) && config.applied >= 0), 'applied must be a non-negative integer');
}

function isPositiveInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0;
}
