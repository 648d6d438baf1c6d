import { METASTORE_KEY_BYTES_MAX } from '../../kernel/contracts/metastore.ts';
import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import { ENTRY_PAYLOAD_SIZE_BYTES_MAX, GROUP_MEMBERS_MAX, READ_CONTEXT_LENGTH_MAX } from '../../kernel/raft/constants.ts';
import { isValidNodeId, type ConfState, type Entry, type EntryType, type NodeId, type Snapshot } from '../../kernel/raft/types.ts';
import { SNAPSHOT_CHUNK_ENCODED_BYTES_MAX } from '../../kernel/zone/constants.ts';
import { FRAME_BYTES_MAX } from './limits.ts';
import {
  readArray,
  readBoolean,
  readBytes,
  readCount,
  readString,
  readTuple,
  wireError,
} from './wire-values.ts';

/**
 * Zone messages (raft messages and snapshot chunks) as msgpack-ready tuples: `[typeCode, from, to, term, ...fields]`. Positional
 * arrays rather than maps keep the frames small and the decoding cheap, and the type code makes
 * each shape explicit. A change to any tuple is a change of `FRAME_FORMAT_VERSION` (frame-codec.ts).
 *
 * Decoding trusts nothing: every field is checked for type and range, so a frame that decodes is
 * a message Raft can step without tripping an assertion.
 */

const MESSAGE_TYPE_CODES = {
  append: 1,
  'append-response': 2,
  vote: 3,
  'pre-vote': 4,
  'vote-response': 5,
  'pre-vote-response': 6,
  heartbeat: 7,
  'heartbeat-response': 8,
  snapshot: 9,
  propose: 10,
  'read-index': 11,
  'read-index-response': 12,
  'transfer-leader': 13,
  'timeout-now': 14,
  'snapshot-chunk': 15,
  'snapshot-chunk-response': 16,
} as const satisfies Record<ZoneMessage['type'], number>;

type MessageTypeCode = (typeof MESSAGE_TYPE_CODES)[keyof typeof MESSAGE_TYPE_CODES];

const MESSAGE_TYPES_BY_CODE = new Map<number, ZoneMessage['type']>(
  Object.entries(MESSAGE_TYPE_CODES).map(([type, code]) => [code, type as ZoneMessage['type']]),
);

const ENTRY_TYPE_CODES: Record<EntryType, number> = { normal: 0, 'config-change': 1 };

/** Entries in one message: bounded by the frame, since each costs at least a few bytes. */
const ENTRIES_PER_MESSAGE_MAX = FRAME_BYTES_MAX / 8;

const HEADER_LENGTH = 4;

export function encodeRaftMessage(message: ZoneMessage): unknown[] {
  const header: unknown[] = [MESSAGE_TYPE_CODES[message.type], message.from, message.to, message.term];
  switch (message.type) {
    case 'append':
      return [...header, message.logIndex, message.logTerm, message.entries.map(encodeEntry), message.commit];
    case 'append-response':
      return [...header, message.index, message.reject, message.rejectHint, message.hintTerm];
    case 'vote':
    case 'pre-vote':
      return [...header, message.lastLogIndex, message.lastLogTerm, message.transfer];
    case 'vote-response':
    case 'pre-vote-response':
      return [...header, message.reject, message.commit, message.commitTerm];
    case 'heartbeat':
      return [...header, message.commit, message.context ?? null];
    case 'heartbeat-response':
      return [...header, message.context ?? null];
    case 'snapshot':
      return [...header, encodeSnapshot(message.snapshot)];
    case 'propose':
      return [...header, message.entries.map(encodeEntry)];
    case 'read-index':
      return [...header, message.context];
    case 'read-index-response':
      return [...header, message.index, message.context];
    case 'transfer-leader':
      return [...header, message.transferee];
    case 'timeout-now':
      return header;
    case 'snapshot-chunk':
      return [...header, message.transferId, encodeSnapshot(message.snapshot), message.chunk, message.last, message.data];
    case 'snapshot-chunk-response':
      // The resume key only when there is one: a plain acknowledgement keeps its earlier encoding.
      return [...header, message.transferId, message.chunk, message.reject, ...(message.resumeAfter === undefined ? [] : [message.resumeAfter])];
  }
}

export function decodeRaftMessage(value: unknown): ZoneMessage {
  if (!Array.isArray(value) || value.length < HEADER_LENGTH) throw wireError('raft message', 'an array with a header', value);
  const type = MESSAGE_TYPES_BY_CODE.get(value[0] as MessageTypeCode);
  if (type === undefined) throw wireError('raft message type', 'a known message type code', value[0]);
  const from = readNodeId(value[1], 'raft message sender');
  const to = readNodeId(value[2], 'raft message recipient');
  const term = readCount(value[3], 'raft message term');
  // Each case lists from, to and term: spreading a header object into its result cost about 3 us
  // a message, some 40 times the rest of the decode (1.5% of a leader's CPU in bench:raft).
  switch (type) {
    case 'append': {
      const [logIndex, logTerm, entries, commit] = fields(value, type, 4);
      return {
        from,
        to,
        term,
        type,
        logIndex: readCount(logIndex, 'append log index'),
        logTerm: readCount(logTerm, 'append log term'),
        entries: readEntries(entries),
        commit: readCount(commit, 'append commit'),
      };
    }
    case 'append-response': {
      const [index, reject, rejectHint, hintTerm] = fields(value, type, 4);
      return {
        from,
        to,
        term,
        type,
        index: readCount(index, 'append response index'),
        reject: readBoolean(reject, 'append response reject'),
        rejectHint: readCount(rejectHint, 'append response reject hint'),
        hintTerm: readCount(hintTerm, 'append response hint term'),
      };
    }
    case 'vote':
    case 'pre-vote': {
      const [lastLogIndex, lastLogTerm, transfer] = fields(value, type, 3);
      return {
        from,
        to,
        term,
        type,
        lastLogIndex: readCount(lastLogIndex, 'vote last log index'),
        lastLogTerm: readCount(lastLogTerm, 'vote last log term'),
        transfer: readBoolean(transfer, 'vote transfer'),
      };
    }
    case 'vote-response':
    case 'pre-vote-response': {
      const [reject, commit, commitTerm] = fields(value, type, 3);
      return {
        from,
        to,
        term,
        type,
        reject: readBoolean(reject, 'vote response reject'),
        commit: readCount(commit, 'vote response commit'),
        commitTerm: readCount(commitTerm, 'vote response commit term'),
      };
    }
    case 'heartbeat': {
      const [commit, context] = fields(value, type, 2);
      return { from, to, term, type, commit: readCount(commit, 'heartbeat commit'), context: readOptionalContext(context) };
    }
    case 'heartbeat-response': {
      const [context] = fields(value, type, 1);
      return { from, to, term, type, context: readOptionalContext(context) };
    }
    case 'snapshot': {
      const [snapshot] = fields(value, type, 1);
      return { from, to, term, type, snapshot: readSnapshot(snapshot) };
    }
    case 'propose': {
      const [entries] = fields(value, type, 1);
      return { from, to, term, type, entries: readEntries(entries) };
    }
    case 'read-index': {
      const [context] = fields(value, type, 1);
      return { from, to, term, type, context: readContext(context) };
    }
    case 'read-index-response': {
      const [index, context] = fields(value, type, 2);
      return { from, to, term, type, index: readCount(index, 'read index response index'), context: readContext(context) };
    }
    case 'transfer-leader': {
      const [transferee] = fields(value, type, 1);
      return { from, to, term, type, transferee: readNodeId(transferee, 'transfer transferee') };
    }
    case 'timeout-now':
      fields(value, type, 0);
      return { from, to, term, type };
    case 'snapshot-chunk': {
      const [transferId, snapshot, chunk, last, data] = fields(value, type, 5);
      return {
        from,
        to,
        term,
        type,
        transferId: readCount(transferId, 'snapshot chunk transfer id'),
        snapshot: readSnapshot(snapshot),
        chunk: readCount(chunk, 'snapshot chunk number'),
        last: readBoolean(last, 'snapshot chunk last'),
        data: readBytes(data, 'snapshot chunk data', SNAPSHOT_CHUNK_ENCODED_BYTES_MAX),
      };
    }
    case 'snapshot-chunk-response': {
      const [transferId, chunk, reject, resumeAfter] = fields(value, type, value.length === HEADER_LENGTH + 4 ? 4 : 3);
      return {
        from,
        to,
        term,
        type,
        transferId: readCount(transferId, 'snapshot chunk response transfer id'),
        chunk: readCount(chunk, 'snapshot chunk response number'),
        reject: readBoolean(reject, 'snapshot chunk response reject'),
        ...(resumeAfter === undefined ? {} : { resumeAfter: readBytes(resumeAfter, 'snapshot chunk response resume key', METASTORE_KEY_BYTES_MAX) }),
      };
    }
  }
}

/**
 * The fields after the header of a message of `type`, which must have exactly `count`. A function
 * of the module rather than a closure in decodeRaftMessage, which creates nothing it need not.
 */
function fields(value: readonly unknown[], type: ZoneMessage['type'], count: number): readonly unknown[] {
  return readTuple(value, `raft ${type} message`, HEADER_LENGTH + count).slice(HEADER_LENGTH);
}

function encodeEntry(entry: Entry): unknown[] {
  return [entry.term, entry.index, ENTRY_TYPE_CODES[entry.type], entry.data];
}

function readEntries(value: unknown): Entry[] {
  return readArray(value, 'raft entries', ENTRIES_PER_MESSAGE_MAX).map(readEntry);
}

function readEntry(value: unknown): Entry {
  const [term, index, typeCode, data] = readTuple(value, 'raft entry', 4);
  if (typeCode !== ENTRY_TYPE_CODES.normal && typeCode !== ENTRY_TYPE_CODES['config-change']) {
    throw wireError('raft entry type', 'a known entry type code', typeCode);
  }
  return {
    term: readCount(term, 'raft entry term'),
    index: readCount(index, 'raft entry index'),
    type: typeCode === ENTRY_TYPE_CODES.normal ? 'normal' : 'config-change',
    data: readBytes(data, 'raft entry data', ENTRY_PAYLOAD_SIZE_BYTES_MAX),
  };
}

function encodeSnapshot(snapshot: Snapshot): unknown[] {
  const { index, term, confState } = snapshot.metadata;
  return [index, term, encodeConfState(confState), snapshot.data];
}

function readSnapshot(value: unknown): Snapshot {
  const [index, term, confState, data] = readTuple(value, 'raft snapshot', 4);
  return {
    metadata: {
      index: readCount(index, 'raft snapshot index'),
      term: readCount(term, 'raft snapshot term'),
      confState: readConfState(confState),
    },
    data: readBytes(data, 'raft snapshot data', FRAME_BYTES_MAX),
  };
}

function encodeConfState(state: ConfState): unknown[] {
  return [state.voters, state.learners, state.votersOutgoing ?? null, state.learnersNext ?? null, state.autoLeave ?? null];
}

function readConfState(value: unknown): ConfState {
  const [voters, learners, votersOutgoing, learnersNext, autoLeave] = readTuple(value, 'raft membership', 5);
  const state: { -readonly [K in keyof ConfState]: ConfState[K] } = {
    voters: readNodeIds(voters, 'raft voters'),
    learners: readNodeIds(learners, 'raft learners'),
  };
  if (votersOutgoing !== null) state.votersOutgoing = readNodeIds(votersOutgoing, 'raft outgoing voters');
  if (learnersNext !== null) state.learnersNext = readNodeIds(learnersNext, 'raft next learners');
  if (autoLeave !== null) state.autoLeave = readBoolean(autoLeave, 'raft auto leave');
  return state;
}

function readNodeIds(value: unknown, field: string): NodeId[] {
  const ids = readArray(value, field, GROUP_MEMBERS_MAX).map((id) => readNodeId(id, field));
  for (let index = 1; index < ids.length; index++) {
    if (ids[index]! <= ids[index - 1]!) throw wireError(field, 'node ids in ascending order', ids);
  }
  return ids;
}

function readNodeId(value: unknown, field: string): NodeId {
  if (!isValidNodeId(value)) throw wireError(field, 'a node id (a positive integer)', value);
  return value;
}

function readContext(value: unknown): string {
  const context = readString(value, 'read context', READ_CONTEXT_LENGTH_MAX);
  if (context.length === 0) throw wireError('read context', 'a non-empty string', value);
  return context;
}

function readOptionalContext(value: unknown): string | undefined {
  return value === null ? undefined : readContext(value);
}
