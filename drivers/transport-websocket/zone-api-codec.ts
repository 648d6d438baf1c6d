import {
  METASTORE_BATCH_OPERATIONS_MAX,
  METASTORE_KEY_BYTES_MAX,
  METASTORE_VALUE_BYTES_MAX,
  type MetastoreEntry,
  type MetastoreOperation,
  type MetastorePrecondition,
  type MetastoreScanOptions,
  type MetastoreScanPage,
} from '../../kernel/contracts/metastore.ts';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { NODE_PUBLIC_KEY_BYTES } from '../../kernel/zone/constants.ts';
import type { WriteToken, ZoneConsistency, ZoneMember } from '../../kernel/zone/types.ts';
import { packValue, unpackStrict } from './frame-codec.ts';
import {
  readArray,
  readBoolean,
  readBytes,
  readCount,
  readExactBytes,
  readOneOf,
  readPositive,
  readString,
  readTuple,
  wireError,
} from './wire-values.ts';
import { ZONE_PEER_ADDRESS_LENGTH_MAX } from '../../kernel/contracts/zone-transport.ts';
import { GROUP_MEMBERS_MAX } from '../../kernel/raft/constants.ts';

/**
 * ZoneApi bodies: MessagePack (msgpackr, see frame-codec.ts for why), each one
 * `[ZONE_API_FORMAT_VERSION, payload]`. Keys and values travel as bytes. Every request and
 * response is decoded through a reader here that checks each field, so a malformed body is an
 * InvalidArgumentError (HTTP 400), never a crash or a half-understood request.
 */
export const ZONE_API_FORMAT_VERSION = 1;

export const ZONE_API_CONTENT_TYPE = 'application/vnd.nexusfs.zone+msgpack';

export function encodeApiBody(payload: unknown): Uint8Array {
  return packValue([ZONE_API_FORMAT_VERSION, payload]);
}

export function decodeApiBody(bytes: Uint8Array): Record<string, unknown> {
  const value = unpackStrict(bytes);
  if (!Array.isArray(value) || value.length !== 2) throw wireError('ZoneApi body', 'an array [version, payload]', value);
  const version = readCount(value[0], 'ZoneApi format version');
  if (version !== ZONE_API_FORMAT_VERSION) {
    throw new InvalidArgumentError(`cannot decode a ZoneApi body of format version ${version}: this node speaks version ${ZONE_API_FORMAT_VERSION}`);
  }
  const payload = value[1] as unknown;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload) || payload instanceof Uint8Array) {
    throw wireError('ZoneApi payload', 'a map', payload);
  }
  return payload as Record<string, unknown>;
}

// ---- batch ----

export interface BatchRequest {
  readonly consistency: ZoneConsistency;
  readonly operations: readonly MetastoreOperation[];
  readonly preconditions: readonly MetastorePrecondition[];
}

export function batchRequestPayload(request: BatchRequest): unknown {
  return {
    consistency: request.consistency,
    operations: request.operations.map((operation) => (operation.type === 'put' ? ['put', operation.key, operation.value] : ['delete', operation.key])),
    preconditions: request.preconditions.map((precondition) => [precondition.key, precondition.version]),
  };
}

export function readBatchRequest(payload: Record<string, unknown>): BatchRequest {
  const operations = readArray(payload.operations, 'batch operations', METASTORE_BATCH_OPERATIONS_MAX).map(readOperation);
  const preconditions = readArray(payload.preconditions ?? [], 'batch preconditions', METASTORE_BATCH_OPERATIONS_MAX).map(readPrecondition);
  return { consistency: readOneOf(payload.consistency, 'batch consistency', ['strong', 'eventual'] as const), operations, preconditions };
}

function readOperation(value: unknown): MetastoreOperation {
  if (Array.isArray(value) && value[0] === 'delete') {
    const [, key] = readTuple(value, 'delete operation', 2);
    return { type: 'delete', key: readKey(key) };
  }
  const [type, key, bytes] = readTuple(value, 'put operation', 3);
  if (type !== 'put') throw wireError('operation type', 'put or delete', type);
  return { type: 'put', key: readKey(key), value: readBytes(bytes, 'value', METASTORE_VALUE_BYTES_MAX) };
}

function readPrecondition(value: unknown): MetastorePrecondition {
  const [key, version] = readTuple(value, 'precondition', 2);
  return { key: readKey(key), version: version === null ? null : readPositive(version, 'precondition version') };
}

function readKey(value: unknown): Uint8Array {
  return readBytes(value, 'key', METASTORE_KEY_BYTES_MAX);
}

export function readVersion(payload: Record<string, unknown>): number {
  return readPositive(payload.version, 'version');
}

export function writeTokenPayload(token: WriteToken): unknown {
  return { zoneId: token.zoneId, index: token.index, term: token.term };
}

export function readWriteToken(value: unknown): WriteToken {
  if (typeof value !== 'object' || value === null) throw wireError('write token', 'a map', value);
  const token = value as Record<string, unknown>;
  return {
    zoneId: readString(token.zoneId, 'write token zone id', 256),
    index: readPositive(token.index, 'write token index'),
    term: readPositive(token.term, 'write token term'),
  };
}

// ---- reads ----

export function readKeyRequest(payload: Record<string, unknown>): Uint8Array {
  return readKey(payload.key);
}

export function entryPayload(entry: MetastoreEntry | undefined): unknown {
  return entry === undefined ? null : [entry.key, entry.value, entry.version];
}

export function readEntry(value: unknown): MetastoreEntry | undefined {
  if (value === null) return undefined;
  const [key, bytes, version] = readTuple(value, 'entry', 3);
  return { key: readKey(key), value: readBytes(bytes, 'value', METASTORE_VALUE_BYTES_MAX), version: readPositive(version, 'entry version') };
}

export function scanRequestPayload(options: MetastoreScanOptions): unknown {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

export function readScanRequest(payload: Record<string, unknown>): MetastoreScanOptions {
  const options: MetastoreScanOptions = {};
  if (payload.prefix !== undefined) options.prefix = readKey(payload.prefix);
  if (payload.start !== undefined) options.start = readKey(payload.start);
  if (payload.end !== undefined) options.end = readKey(payload.end);
  if (payload.reverse !== undefined) options.reverse = readBoolean(payload.reverse, 'scan reverse');
  if (payload.limit !== undefined) options.limit = readPositive(payload.limit, 'scan limit');
  if (payload.cursor !== undefined) options.cursor = readString(payload.cursor, 'scan cursor', METASTORE_KEY_BYTES_MAX * 2);
  return options;
}

export function scanPagePayload(page: MetastoreScanPage): unknown {
  return page.cursor === undefined ? { entries: page.entries.map(entryPayload) } : { entries: page.entries.map(entryPayload), cursor: page.cursor };
}

export function readScanPage(payload: Record<string, unknown>): MetastoreScanPage {
  const entries = readArray(payload.entries, 'scan entries', Number.MAX_SAFE_INTEGER).map((value) => {
    const entry = readEntry(value);
    if (entry === undefined) throw wireError('scan entry', 'an entry', value);
    return entry;
  });
  return payload.cursor === undefined ? { entries } : { entries, cursor: readString(payload.cursor, 'scan cursor', METASTORE_KEY_BYTES_MAX * 2) };
}

// ---- membership ----

export interface JoinResponse {
  readonly zoneId: string;
  readonly nodeId: NodeId;
  readonly members: readonly ZoneMember[];
}

export function readAddress(value: unknown): string {
  return readString(value, 'address', ZONE_PEER_ADDRESS_LENGTH_MAX);
}

export function readJoinResponse(payload: Record<string, unknown>): JoinResponse {
  return {
    zoneId: readString(payload.zoneId, 'zone id', 256),
    nodeId: readPositive(payload.nodeId, 'node id'),
    members: readArray(payload.members, 'members', GROUP_MEMBERS_MAX).map((value) => {
      const [nodeId, address, publicKey] = readTuple(value, 'member', 3);
      const member = { nodeId: readPositive(nodeId, 'member node id'), address: readAddress(address) };
      return publicKey === null ? member : { ...member, publicKey: readPublicKey(publicKey) };
    }),
  };
}

export function joinResponsePayload(response: JoinResponse): unknown {
  return { zoneId: response.zoneId, nodeId: response.nodeId, members: response.members.map((member) => [member.nodeId, member.address, member.publicKey ?? null]) };
}

/** What a joining node sends: where it serves, and the public key it will prove its node id with. */
export interface JoinRequest {
  readonly address: string;
  readonly publicKey: Uint8Array;
}

export function readJoinRequest(payload: Record<string, unknown>): JoinRequest {
  if (payload.publicKey === undefined) {
    throw new InvalidArgumentError('a join must carry the node\'s public key: this zone authenticates every node by its own key (nexus zone join sends it)');
  }
  return { address: readAddress(payload.address), publicKey: readPublicKey(payload.publicKey) };
}

function readPublicKey(value: unknown): Uint8Array {
  return readExactBytes(value, 'public key', NODE_PUBLIC_KEY_BYTES);
}
