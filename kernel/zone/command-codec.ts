import { assert } from '../assert.ts';
import type { MetastoreOperation, MetastorePrecondition } from '../contracts/metastore.ts';
import { CorruptionError } from '../errors.ts';
import type { NodeId } from '../raft/types.ts';

/**
 * What a zone's normal raft entries carry: commands to its state machine, in a small binary
 * format (the log holds many of them; JSON would double the size of binary values).
 *
 * Layout: a format byte (COMMAND_FORMAT_VERSION), a kind byte, the proposal id (length-prefixed
 * UTF-8), then the kind's body. Integers are unsigned 32-bit big-endian, versions 64-bit floats
 * (safe integers), byte strings a u32 length and the bytes.
 */
export type ZoneCommand = BatchCommand | MemberCommand;

/** A Metastore batch; applied (or refused by a precondition) identically on every replica. */
export interface BatchCommand {
  readonly kind: 'batch';
  readonly proposalId: string;
  readonly operations: readonly MetastoreOperation[];
  readonly preconditions: readonly MetastorePrecondition[];
}

/**
 * Records the transport address of a member (before the membership change that adds it), its
 * public key if it has one, and whether it joins as a learner to be promoted to voter once caught
 * up (`promote`, kind KIND_MEMBER_TO_PROMOTE on the wire; KIND_MEMBER records none; the
 * `_WITH_KEY` kinds carry the key after the address).
 */
export interface MemberCommand {
  readonly kind: 'member';
  readonly proposalId: string;
  readonly nodeId: NodeId;
  readonly address: string;
  readonly publicKey: Uint8Array | undefined;
  readonly promote: boolean;
}

const COMMAND_FORMAT_VERSION = 1;
const KIND_BATCH = 1;
const KIND_MEMBER = 2;
const KIND_MEMBER_TO_PROMOTE = 3;
const KIND_MEMBER_WITH_KEY = 4;
const KIND_MEMBER_TO_PROMOTE_WITH_KEY = 5;
const OPERATION_PUT = 1;
const OPERATION_DELETE = 2;
const PRECONDITION_ABSENT = 0;
const PRECONDITION_VERSION = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The encoded size of a command, computed without encoding it (to refuse oversized proposals early). */
export function commandSizeBytes(command: ZoneCommand): number {
  let size = 2 + 4 + encoder.encode(command.proposalId).length;
  if (command.kind === 'member') return size + 4 + 4 + encoder.encode(command.address).length + (command.publicKey === undefined ? 0 : 4 + command.publicKey.length);
  size += 4;
  for (const operation of command.operations) size += 1 + 4 + operation.key.length + (operation.type === 'put' ? 4 + operation.value.length : 0);
  size += 4;
  for (const precondition of command.preconditions) size += 1 + 4 + precondition.key.length + (precondition.version === null ? 0 : 8);
  return size;
}

export function encodeCommand(command: ZoneCommand): Uint8Array {
  const writer = new ByteWriter(commandSizeBytes(command));
  writer.byte(COMMAND_FORMAT_VERSION);
  writer.byte(commandKind(command));
  writer.bytes(encoder.encode(command.proposalId));
  if (command.kind === 'member') {
    writer.uint32(command.nodeId);
    writer.bytes(encoder.encode(command.address));
    if (command.publicKey !== undefined) writer.bytes(command.publicKey);
  } else {
    writer.uint32(command.operations.length);
    for (const operation of command.operations) {
      writer.byte(operation.type === 'put' ? OPERATION_PUT : OPERATION_DELETE);
      writer.bytes(operation.key);
      if (operation.type === 'put') writer.bytes(operation.value);
    }
    writer.uint32(command.preconditions.length);
    for (const precondition of command.preconditions) {
      writer.byte(precondition.version === null ? PRECONDITION_ABSENT : PRECONDITION_VERSION);
      writer.bytes(precondition.key);
      if (precondition.version !== null) writer.float64(precondition.version);
    }
  }
  return writer.finish();
}

function commandKind(command: ZoneCommand): number {
  if (command.kind === 'batch') return KIND_BATCH;
  if (command.publicKey === undefined) return command.promote ? KIND_MEMBER_TO_PROMOTE : KIND_MEMBER;
  return command.promote ? KIND_MEMBER_TO_PROMOTE_WITH_KEY : KIND_MEMBER_WITH_KEY;
}

/**
 * Decodes an entry's command. The returned keys and values are views into `data`, which the raft
 * log never mutates. Throws CorruptionError for bytes no encoder produced.
 */
export function decodeCommand(data: Uint8Array): ZoneCommand {
  const reader = new ByteReader(data);
  const format = reader.byte();
  if (format !== COMMAND_FORMAT_VERSION) throw new CorruptionError(`zone command: unknown format version ${format}`);
  const kind = reader.byte();
  const proposalId = reader.text();
  let command: ZoneCommand;
  if (kind === KIND_MEMBER || kind === KIND_MEMBER_TO_PROMOTE || kind === KIND_MEMBER_WITH_KEY || kind === KIND_MEMBER_TO_PROMOTE_WITH_KEY) {
    const nodeId = reader.uint32();
    const address = reader.text();
    const publicKey = kind === KIND_MEMBER_WITH_KEY || kind === KIND_MEMBER_TO_PROMOTE_WITH_KEY ? reader.bytes() : undefined;
    const promote = kind === KIND_MEMBER_TO_PROMOTE || kind === KIND_MEMBER_TO_PROMOTE_WITH_KEY;
    command = { kind: 'member', proposalId, nodeId, address, publicKey, promote };
  } else if (kind === KIND_BATCH) {
    const operations: MetastoreOperation[] = [];
    const operationCount = reader.uint32();
    for (let index = 0; index < operationCount; index++) {
      const type = reader.byte();
      const key = reader.bytes();
      if (type === OPERATION_PUT) operations.push({ type: 'put', key, value: reader.bytes() });
      else if (type === OPERATION_DELETE) operations.push({ type: 'delete', key });
      else throw new CorruptionError(`zone command: unknown operation type ${type}`);
    }
    const preconditions: MetastorePrecondition[] = [];
    const preconditionCount = reader.uint32();
    for (let index = 0; index < preconditionCount; index++) {
      const type = reader.byte();
      const key = reader.bytes();
      preconditions.push({ key, version: type === PRECONDITION_ABSENT ? null : reader.float64() });
    }
    command = { kind: 'batch', proposalId, operations, preconditions };
  } else {
    throw new CorruptionError(`zone command: unknown kind ${kind}`);
  }
  reader.expectEnd();
  return command;
}

/** Writes into a buffer of a size known in advance. */
export class ByteWriter {
  private readonly buffer: Uint8Array;
  private readonly view: DataView;
  private offset = 0;

  constructor(sizeBytes: number) {
    this.buffer = new Uint8Array(sizeBytes);
    this.view = new DataView(this.buffer.buffer);
  }

  byte(value: number): void {
    this.buffer[this.offset++] = value;
  }

  uint32(value: number): void {
    this.view.setUint32(this.offset, value);
    this.offset += 4;
  }

  float64(value: number): void {
    this.view.setFloat64(this.offset, value);
    this.offset += 8;
  }

  bytes(value: Uint8Array): void {
    this.uint32(value.length);
    this.buffer.set(value, this.offset);
    this.offset += value.length;
  }

  finish(): Uint8Array {
    assert(this.offset === this.buffer.length, `encoded ${this.offset} bytes, sized ${this.buffer.length}`);
    return this.buffer;
  }
}

/** Reads what ByteWriter wrote; any overrun is CorruptionError (stored or received bytes are not trusted). */
export class ByteReader {
  private readonly view: DataView;
  private offset = 0;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  byte(): number {
    this.need(1);
    return this.data[this.offset++]!;
  }

  uint32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  float64(): number {
    this.need(8);
    const value = this.view.getFloat64(this.offset);
    this.offset += 8;
    return value;
  }

  bytes(): Uint8Array {
    const length = this.uint32();
    this.need(length);
    const value = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  text(): string {
    try {
      return decoder.decode(this.bytes());
    } catch (error) {
      if (error instanceof CorruptionError) throw error;
      throw new CorruptionError('zone command: invalid UTF-8 text');
    }
  }

  get atEnd(): boolean {
    return this.offset === this.data.length;
  }

  expectEnd(): void {
    if (!this.atEnd) throw new CorruptionError(`zone command: ${this.data.length - this.offset} bytes after the end`);
  }

  private need(length: number): void {
    if (this.offset + length > this.data.length) throw new CorruptionError(`zone data truncated at byte ${this.offset}`);
  }
}
