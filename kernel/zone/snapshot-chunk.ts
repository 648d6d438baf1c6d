import { CorruptionError } from '../errors.ts';
import { crc32c } from '../kv/crc32c.ts';
import type { NodeId, Snapshot } from '../raft/types.ts';
import { ByteReader, ByteWriter } from './command-codec.ts';
import { SNAPSHOT_CHUNK_ENTRIES_MAX } from './constants.ts';

/**
 * A zone snapshot travels as a series of chunks, outside Raft (as TiKV and etcd stream theirs):
 * Raft's snapshot message names the snapshot (index, term, membership); the leader's replica turns
 * it into a transfer of the state machine's entries, read from a KvStore snapshot pinned when the
 * transfer starts, one bounded chunk per ZoneTransport message, a few in flight at once
 * (SNAPSHOT_CHUNKS_IN_FLIGHT_MAX), acknowledged cumulatively. The follower stages the chunks in
 * order in its KvStore and steps Raft's snapshot message only once the last one is staged; Raft
 * then has it persist the snapshot and install the staged state (zone-state-machine.ts).
 *
 * A transfer resumes where an earlier one of the same state ended (the connection dropped, the
 * follower or the transfer restarted): the state at an applied index is the same on every replica,
 * so chunks of two transfers of one raft snapshot whose chunks carry one applied index may follow
 * each other. The follower answers such a transfer's chunk 0 with `resumeAfter`, the last key it
 * holds staged, and the leader goes on after it.
 *
 * A transfer is named by (from, term, transferId): one leader per term, and its transfer ids
 * count up within its run (a restarted node leads again only in a later term).
 */

/** Leader to follower: chunk `chunk` of the state that Raft's snapshot `snapshot` stands for. */
export interface SnapshotChunkMessage {
  readonly type: 'snapshot-chunk';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly transferId: number;
  /** Raft's snapshot (its metadata and small data), stepped at the follower once every chunk is staged. */
  readonly snapshot: Snapshot;
  readonly chunk: number;
  readonly last: boolean;
  /** The encoded chunk (see `encodeSnapshotChunk`): checksummed, so it is staged exactly as it came. */
  readonly data: Uint8Array;
}

/**
 * Follower to leader: chunks 0 to `chunk` of the transfer are staged (and with the last one, Raft's
 * snapshot message stepped), or with `reject` the follower cannot continue the transfer (it does
 * not know it, e.g. after a restart): the leader gives it up and Raft sends a new one.
 *
 * With `resumeAfter`, an answer to chunk 0: the follower holds chunks 0 to `chunk` of the same state
 * staged from an earlier transfer, the last ending with key `resumeAfter`; the leader sends the
 * state after that key, numbering its next chunk `chunk + 1`.
 */
export interface SnapshotChunkResponseMessage {
  readonly type: 'snapshot-chunk-response';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly transferId: number;
  readonly chunk: number;
  readonly reject: boolean;
  readonly resumeAfter?: Uint8Array | undefined;
}

export type SnapshotTransferMessage = SnapshotChunkMessage | SnapshotChunkResponseMessage;

/** One entry of the state machine as stored (key, and version-prefixed value or member address). */
export interface StoredEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface SnapshotChunk {
  /** The sender's applied index as stored with the state the chunks are read from. */
  readonly appliedIndex: number;
  /** In key order, after every entry of the earlier chunks. */
  readonly entries: readonly StoredEntry[];
}

const CHUNK_FORMAT_VERSION = 1;
const CHUNK_HEADER_BYTES = 1 + 8 + 4;
const CHUNK_CHECKSUM_BYTES = 4;

/** Framing of one entry: the key's and the value's lengths. */
export const CHUNK_ENTRY_OVERHEAD_BYTES = 8;

/** A chunk's bytes: format version, applied index, entry count, entries length-prefixed, crc32c of all before. */
export function encodeSnapshotChunk(chunk: SnapshotChunk): Uint8Array {
  let sizeBytes = CHUNK_HEADER_BYTES + CHUNK_CHECKSUM_BYTES;
  for (const entry of chunk.entries) sizeBytes += CHUNK_ENTRY_OVERHEAD_BYTES + entry.key.length + entry.value.length;
  const writer = new ByteWriter(sizeBytes);
  writer.byte(CHUNK_FORMAT_VERSION);
  writer.float64(chunk.appliedIndex);
  writer.uint32(chunk.entries.length);
  for (const entry of chunk.entries) {
    writer.bytes(entry.key);
    writer.bytes(entry.value);
  }
  writer.uint32(0);
  const bytes = writer.finish();
  const checksumOffset = bytes.length - CHUNK_CHECKSUM_BYTES;
  new DataView(bytes.buffer).setUint32(checksumOffset, crc32c(bytes.subarray(0, checksumOffset)));
  return bytes;
}

/** Decodes and checks a chunk; CorruptionError when it is damaged or of another format (key order is the receiver's to check). */
export function decodeSnapshotChunk(bytes: Uint8Array): SnapshotChunk {
  if (bytes.length < CHUNK_HEADER_BYTES + CHUNK_CHECKSUM_BYTES) throw new CorruptionError(`zone snapshot chunk: ${bytes.length} bytes, too short`);
  const checksumOffset = bytes.length - CHUNK_CHECKSUM_BYTES;
  const stored = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(checksumOffset);
  if (crc32c(bytes.subarray(0, checksumOffset)) !== stored) throw new CorruptionError('zone snapshot chunk: checksum mismatch');
  const reader = new ByteReader(bytes.subarray(0, checksumOffset));
  const format = reader.byte();
  if (format !== CHUNK_FORMAT_VERSION) throw new CorruptionError(`zone snapshot chunk: unknown format version ${format}`);
  const appliedIndex = reader.float64();
  if (!Number.isSafeInteger(appliedIndex) || appliedIndex < 0) throw new CorruptionError(`zone snapshot chunk: applied index ${appliedIndex}`);
  const count = reader.uint32();
  if (count > SNAPSHOT_CHUNK_ENTRIES_MAX) throw new CorruptionError(`zone snapshot chunk: ${count} entries, at most ${SNAPSHOT_CHUNK_ENTRIES_MAX}`);
  const entries: StoredEntry[] = [];
  for (let position = 0; position < count; position++) entries.push({ key: reader.bytes(), value: reader.bytes() });
  reader.expectEnd();
  return { appliedIndex, entries };
}
