import { assert } from '../assert.ts';
import { CorruptionError } from '../errors.ts';
import { crc32c } from '../kv/crc32c.ts';
import { GROUP_MEMBERS_MAX } from './constants.ts';
import type { ConfState, Entry, EntryType, HardState, NodeId, SnapshotMetadata } from './types.ts';

/**
 * How KvRaftStorage lays out a node's Raft state in a KvStore, under the caller's key prefix:
 *
 *   prefix 0x01                hard state          term, vote, commit
 *   prefix 0x02                log record          the last index of the log
 *   prefix 0x03                snapshot record     index, term, membership, data size, chunk count
 *   prefix 0x04 chunk(u32 BE)  snapshot data       one chunk of the snapshot's bytes
 *   prefix 0x05 index(u64 BE)  entry               term, type, data
 *   prefix 0x06                compaction record   index and term of the last entry compacted away
 *
 * Entry keys carry the index big-endian, so a prefix scan returns the log in index order. The live
 * log is the entries in (compaction index, last index]; entry keys outside it are garbage that later
 * writes delete, and reads never decode. The compaction index is at most the snapshot's (a log may
 * keep entries behind its snapshot for followers just behind it); without a compaction record it is
 * the snapshot's.
 *
 * Every value is a record: a format version byte, a kind byte, the body, and a CRC-32C of all the
 * bytes before it. Hand-rolled on a DataView rather than a general codec (msgpackr, cbor-x) because
 * the records are a few fixed fields, each checked on decode, and the kernel stays dependency-free:
 * a value with another version, another kind, a wrong length, a bad checksum or an out-of-range
 * field is a CorruptionError, never a wrong value. Entry and chunk records also repeat the index
 * their key holds, so a value copied under another key is caught too.
 */

export const RAFT_STORAGE_FORMAT_VERSION = 1;

export const KEY_HARD_STATE = 0x01;
export const KEY_LOG = 0x02;
export const KEY_SNAPSHOT = 0x03;
export const KEY_SNAPSHOT_CHUNK = 0x04;
export const KEY_ENTRY = 0x05;
export const KEY_COMPACTION = 0x06;

const RECORD_HEADER_BYTES = 2;
const RECORD_CHECKSUM_BYTES = 4;
const U64_BYTES = 8;
/** Safe integers fit in 53 bits: the high word of a stored 64-bit integer is at most this. */
const U64_HIGH_WORD_MAX = 0x1f_ffff;

const ENTRY_TYPE_CODES: Record<EntryType, number> = { normal: 0, 'config-change': 1 };
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'config-change'];

const CONF_HAS_VOTERS_OUTGOING = 1;
const CONF_HAS_LEARNERS_NEXT = 2;
const CONF_HAS_AUTO_LEAVE = 4;
const CONF_AUTO_LEAVE = 8;
const CONF_FLAGS_ALL = 15;

export function storageKey(prefix: Uint8Array, kind: number): Uint8Array {
  const key = new Uint8Array(prefix.length + 1);
  key.set(prefix);
  key[prefix.length] = kind;
  return key;
}

export function entryKey(prefix: Uint8Array, index: number): Uint8Array {
  const key = new Uint8Array(prefix.length + 1 + U64_BYTES);
  key.set(prefix);
  key[prefix.length] = KEY_ENTRY;
  writeU64(new DataView(key.buffer), prefix.length + 1, index);
  return key;
}

/** The index an entry key holds; CorruptionError for a key of another length. */
export function entryKeyIndex(prefix: Uint8Array, key: Uint8Array): number {
  if (key.length !== prefix.length + 1 + U64_BYTES) throw corrupt(`an entry key has ${key.length - prefix.length} bytes after the prefix, expected 9`);
  return readU64(new DataView(key.buffer, key.byteOffset, key.byteLength), prefix.length + 1, 'entry key index');
}

export function chunkKey(prefix: Uint8Array, chunk: number): Uint8Array {
  const key = new Uint8Array(prefix.length + 5);
  key.set(prefix);
  key[prefix.length] = KEY_SNAPSHOT_CHUNK;
  new DataView(key.buffer).setUint32(prefix.length + 1, chunk);
  return key;
}

export function encodeHardState(state: HardState): Uint8Array {
  const writer = new RecordWriter(KEY_HARD_STATE, 3 * U64_BYTES);
  writer.u64(state.term).u64(state.vote).u64(state.commit);
  return writer.finish();
}

export function decodeHardState(value: Uint8Array): HardState {
  const reader = new RecordReader(value, KEY_HARD_STATE, 'hard state');
  const state = { term: reader.u64('term'), vote: reader.u64('vote'), commit: reader.u64('commit') };
  reader.end();
  return state;
}

export function encodeLastIndex(lastIndex: number): Uint8Array {
  return new RecordWriter(KEY_LOG, U64_BYTES).u64(lastIndex).finish();
}

export function decodeLastIndex(value: Uint8Array): number {
  const reader = new RecordReader(value, KEY_LOG, 'log record');
  const lastIndex = reader.u64('last index');
  reader.end();
  return lastIndex;
}

/** The entry the log is compacted up to: its index and term (the term answers `term(firstIndex - 1)`). */
export function encodeCompaction(compaction: { index: number; term: number }): Uint8Array {
  return new RecordWriter(KEY_COMPACTION, 2 * U64_BYTES).u64(compaction.index).u64(compaction.term).finish();
}

export function decodeCompaction(value: Uint8Array): { index: number; term: number } {
  const reader = new RecordReader(value, KEY_COMPACTION, 'compaction record');
  const index = reader.u64('compaction index');
  const term = reader.u64('compaction term');
  reader.end();
  return { index, term };
}

export interface StoredSnapshotRecord {
  readonly metadata: SnapshotMetadata;
  readonly dataSizeBytes: number;
  readonly chunkCount: number;
}

export function encodeSnapshotRecord(record: StoredSnapshotRecord): Uint8Array {
  const conf = record.metadata.confState;
  const lists = [conf.voters, conf.learners, conf.votersOutgoing ?? [], conf.learnersNext ?? []];
  const memberCount = lists.reduce((total, list) => total + list.length, 0);
  const writer = new RecordWriter(KEY_SNAPSHOT, 3 * U64_BYTES + 4 + 1 + 4 * 2 + memberCount * U64_BYTES);
  writer.u64(record.metadata.index).u64(record.metadata.term).u64(record.dataSizeBytes).u32(record.chunkCount);
  let flags = 0;
  if (conf.votersOutgoing !== undefined) flags |= CONF_HAS_VOTERS_OUTGOING;
  if (conf.learnersNext !== undefined) flags |= CONF_HAS_LEARNERS_NEXT;
  if (conf.autoLeave !== undefined) flags |= CONF_HAS_AUTO_LEAVE | (conf.autoLeave ? CONF_AUTO_LEAVE : 0);
  writer.u8(flags);
  for (const list of lists) writer.nodeList(list);
  return writer.finish();
}

export function decodeSnapshotRecord(value: Uint8Array): StoredSnapshotRecord {
  const reader = new RecordReader(value, KEY_SNAPSHOT, 'snapshot record');
  const index = reader.u64('snapshot index');
  const term = reader.u64('snapshot term');
  const dataSizeBytes = reader.u64('snapshot data size');
  const chunkCount = reader.u32();
  const flags = reader.u8();
  if ((flags & ~CONF_FLAGS_ALL) !== 0) throw corrupt(`the snapshot record has unknown membership flags ${flags}`);
  const voters = reader.nodeList('voters');
  const learners = reader.nodeList('learners');
  const votersOutgoing = reader.nodeList('outgoing voters');
  const learnersNext = reader.nodeList('next learners');
  reader.end();
  const confState: ConfState = {
    voters,
    learners,
    ...((flags & CONF_HAS_VOTERS_OUTGOING) !== 0 ? { votersOutgoing } : {}),
    ...((flags & CONF_HAS_LEARNERS_NEXT) !== 0 ? { learnersNext } : {}),
    ...((flags & CONF_HAS_AUTO_LEAVE) !== 0 ? { autoLeave: (flags & CONF_AUTO_LEAVE) !== 0 } : {}),
  };
  return { metadata: { index, term, confState }, dataSizeBytes, chunkCount };
}

/** A chunk of snapshot data; it names its snapshot (index, term) and its position. */
export function encodeSnapshotChunk(snapshot: { index: number; term: number }, chunk: number, data: Uint8Array): Uint8Array {
  const writer = new RecordWriter(KEY_SNAPSHOT_CHUNK, 2 * U64_BYTES + 4 + data.length);
  return writer.u64(snapshot.index).u64(snapshot.term).u32(chunk).bytes(data).finish();
}

export function decodeSnapshotChunk(value: Uint8Array, expected: { index: number; term: number; chunk: number }): Uint8Array {
  const reader = new RecordReader(value, KEY_SNAPSHOT_CHUNK, 'snapshot chunk');
  const index = reader.u64('chunk snapshot index');
  const term = reader.u64('chunk snapshot term');
  const chunk = reader.u32();
  if (index !== expected.index || term !== expected.term || chunk !== expected.chunk) {
    throw corrupt(`snapshot chunk ${expected.chunk} of snapshot ${expected.index}/${expected.term} holds chunk ${chunk} of snapshot ${index}/${term}`);
  }
  return reader.rest();
}

export function encodeEntry(entry: Entry): Uint8Array {
  const writer = new RecordWriter(KEY_ENTRY, 2 * U64_BYTES + 1 + entry.data.length);
  return writer.u64(entry.index).u64(entry.term).u8(ENTRY_TYPE_CODES[entry.type]).bytes(entry.data).finish();
}

export function decodeEntry(value: Uint8Array, expectedIndex: number): Entry {
  const reader = new RecordReader(value, KEY_ENTRY, 'entry');
  const index = reader.u64('entry index');
  if (index !== expectedIndex) throw corrupt(`the entry stored under index ${expectedIndex} says it is entry ${index}`);
  const term = reader.u64('entry term');
  const typeCode = reader.u8();
  const type = ENTRY_TYPES[typeCode];
  if (type === undefined) throw corrupt(`entry ${index} has unknown type ${typeCode}`);
  return { index, term, type, data: reader.rest() };
}

function corrupt(what: string): CorruptionError {
  return new CorruptionError(`cannot decode the raft storage: ${what}`);
}

function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, Math.floor(value / 2 ** 32));
  view.setUint32(offset + 4, value >>> 0);
}

function readU64(view: DataView, offset: number, what: string): number {
  const high = view.getUint32(offset);
  if (high > U64_HIGH_WORD_MAX) throw corrupt(`the ${what} is beyond the largest safe integer`);
  return high * 2 ** 32 + view.getUint32(offset + 4);
}

/** Writes one record of a known body size: header, body, checksum. */
class RecordWriter {
  private readonly buffer: Uint8Array;
  private readonly view: DataView;
  private offset = RECORD_HEADER_BYTES;

  constructor(kind: number, bodyBytes: number) {
    this.buffer = new Uint8Array(RECORD_HEADER_BYTES + bodyBytes + RECORD_CHECKSUM_BYTES);
    this.view = new DataView(this.buffer.buffer);
    this.buffer[0] = RAFT_STORAGE_FORMAT_VERSION;
    this.buffer[1] = kind;
  }

  u8(value: number): this {
    this.view.setUint8(this.offset, value);
    this.offset += 1;
    return this;
  }

  u32(value: number): this {
    this.view.setUint32(this.offset, value);
    this.offset += 4;
    return this;
  }

  u64(value: number): this {
    writeU64(this.view, this.offset, value);
    this.offset += U64_BYTES;
    return this;
  }

  bytes(data: Uint8Array): this {
    this.buffer.set(data, this.offset);
    this.offset += data.length;
    return this;
  }

  nodeList(ids: readonly NodeId[]): this {
    this.view.setUint16(this.offset, ids.length);
    this.offset += 2;
    for (const id of ids) this.u64(id);
    return this;
  }

  finish(): Uint8Array {
    const checksumOffset = this.buffer.length - RECORD_CHECKSUM_BYTES;
    assert(this.offset === checksumOffset, `raft storage record body is ${this.offset - RECORD_HEADER_BYTES} bytes, sized for ${checksumOffset - RECORD_HEADER_BYTES}`);
    this.view.setUint32(checksumOffset, crc32c(this.buffer.subarray(0, checksumOffset)));
    return this.buffer;
  }
}

/** Reads one record after checking its version, kind, length and checksum; every read is bounds-checked. */
class RecordReader {
  private readonly view: DataView;
  private offset = RECORD_HEADER_BYTES;
  private readonly bodyEnd: number;

  constructor(
    private readonly value: Uint8Array,
    kind: number,
    private readonly what: string,
  ) {
    if (value.length < RECORD_HEADER_BYTES + RECORD_CHECKSUM_BYTES) throw corrupt(`the ${what} has only ${value.length} bytes`);
    if (value[0] !== RAFT_STORAGE_FORMAT_VERSION) throw corrupt(`the ${what} has format version ${value[0]}, expected ${RAFT_STORAGE_FORMAT_VERSION}`);
    if (value[1] !== kind) throw corrupt(`the ${what} has record kind ${value[1]}, expected ${kind}`);
    this.view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    this.bodyEnd = value.length - RECORD_CHECKSUM_BYTES;
    if (this.view.getUint32(this.bodyEnd) !== crc32c(value.subarray(0, this.bodyEnd))) throw corrupt(`the ${what} fails its checksum`);
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  u64(field: string): number {
    this.need(U64_BYTES);
    const value = readU64(this.view, this.offset, field);
    this.offset += U64_BYTES;
    return value;
  }

  nodeList(field: string): NodeId[] {
    this.need(2);
    const count = this.view.getUint16(this.offset);
    this.offset += 2;
    if (count > GROUP_MEMBERS_MAX) throw corrupt(`the ${this.what} lists ${count} ${field}, more than a group holds (${GROUP_MEMBERS_MAX})`);
    const ids: NodeId[] = [];
    for (let position = 0; position < count; position++) {
      const id = this.u64(field);
      if (id === 0 || (ids.length > 0 && id <= ids[ids.length - 1]!)) throw corrupt(`the ${this.what}'s ${field} are not ascending positive node ids`);
      ids.push(id);
    }
    return ids;
  }

  /** The remaining body bytes, copied (the caller owns them). */
  rest(): Uint8Array {
    const rest = this.value.slice(this.offset, this.bodyEnd);
    this.offset = this.bodyEnd;
    return rest;
  }

  end(): void {
    if (this.offset !== this.bodyEnd) throw corrupt(`the ${this.what} has ${this.bodyEnd - this.offset} bytes more than its fields`);
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.bodyEnd) throw corrupt(`the ${this.what} ends before its fields do`);
  }
}
