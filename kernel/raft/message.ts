import type { Entry, NodeId, Snapshot } from './types.ts';

/**
 * Messages between the members of one Raft group, as a discriminated union on `type`.
 *
 * Every message carries the sender's `term`, except `propose` and `read-index`, which a follower
 * forwards to its leader with term 0: they are requests, not claims about the log, so they must
 * never make the leader change term.
 */
export type Message =
  | AppendMessage
  | AppendResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | ProposeMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage
  | TransferLeaderMessage
  | TimeoutNowMessage;

export type MessageType = Message['type'];

interface MessageHeader {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** Leader to follower: "after the entry at logIndex (of logTerm), your log is `entries`". */
export interface AppendMessage extends MessageHeader {
  readonly type: 'append';
  readonly logIndex: number;
  readonly logTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * Follower to leader. Accepted: the follower's log matches the leader's up to `index`.
 * Rejected: the append after `index` did not match; `rejectHint`/`hintTerm` name the highest
 * index at or below which the follower's log may match (its term there is `hintTerm`), so the
 * leader can skip a whole term of mismatching entries in one round trip.
 */
export interface AppendResponseMessage extends MessageHeader {
  readonly type: 'append-response';
  readonly index: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly hintTerm: number;
}

/**
 * Candidate to voter. A `pre-vote` carries the term the candidate would campaign in, without the
 * candidate having moved to it. `transfer` marks a campaign started by leadership transfer, which
 * voters grant even while they believe a leader is alive (the leader asked for it).
 */
export interface VoteMessage extends MessageHeader {
  readonly type: 'vote' | 'pre-vote';
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly transfer: boolean;
}

/**
 * A voter's answer. A rejection carries the voter's commit index and the term of the entry there:
 * a candidate whose log has that entry learns that everything up to it is committed (by log
 * matching), which may apply a membership change the candidate needs in order to win.
 */
export interface VoteResponseMessage extends MessageHeader {
  readonly type: 'vote-response' | 'pre-vote-response';
  readonly reject: boolean;
  readonly commit: number;
  readonly commitTerm: number;
}

/** Leader to follower: "I am alive", plus a commit index the follower is known to have. */
export interface HeartbeatMessage extends MessageHeader {
  readonly type: 'heartbeat';
  readonly commit: number;
  /** The newest pending safe read request, echoed back so the leader can count acknowledgements. */
  readonly context: string | undefined;
}

export interface HeartbeatResponseMessage extends MessageHeader {
  readonly type: 'heartbeat-response';
  readonly context: string | undefined;
}

/** Leader to follower: the follower's next entries are compacted; install this snapshot instead. */
export interface SnapshotMessage extends MessageHeader {
  readonly type: 'snapshot';
  readonly snapshot: Snapshot;
}

/** Follower to leader (term 0): entries proposed at the follower. Index and term are the leader's to assign. */
export interface ProposeMessage extends MessageHeader {
  readonly type: 'propose';
  readonly entries: readonly Entry[];
}

/** Follower to leader (term 0): a read request made at the follower. */
export interface ReadIndexMessage extends MessageHeader {
  readonly type: 'read-index';
  readonly context: string;
}

export interface ReadIndexResponseMessage extends MessageHeader {
  readonly type: 'read-index-response';
  readonly index: number;
  readonly context: string;
}

/** Follower to leader: a request, made at the follower, to hand leadership to `transferee`. */
export interface TransferLeaderMessage extends MessageHeader {
  readonly type: 'transfer-leader';
  readonly transferee: NodeId;
}

/** Leader to the transferee, once its log is up to date: "campaign now". */
export interface TimeoutNowMessage extends MessageHeader {
  readonly type: 'timeout-now';
}

/** Responses are only meaningful to a leader or candidate that tracks the sender. */
export function isResponseMessage(message: Message): boolean {
  return (
    message.type === 'append-response' ||
    message.type === 'vote-response' ||
    message.type === 'pre-vote-response' ||
    message.type === 'heartbeat-response'
  );
}
