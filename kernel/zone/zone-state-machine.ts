import { assert } from '../assert.ts';
import { compareBytes, describeBytes, hasPrefix, prefixEnd } from '../contracts/bytes.ts';
import {
  METASTORE_BATCH_OPERATIONS_MAX,
  METASTORE_SCAN_LIMIT_MAX,
  type MetastoreEntry,
  type MetastoreOperation,
  type MetastoreScanOptions,
  type MetastoreScanPage,
} from '../contracts/metastore.ts';
import { encodeScanCursor } from '../contracts/metastore-cursor.ts';
import { resolveMetastoreScan } from '../contracts/metastore-validation.ts';
import { ConflictError, CorruptionError } from '../errors.ts';
import type { KvSnapshot, KvStore } from '../kv/kv-store-types.ts';
import type { NodeId } from '../raft/types.ts';
import { ByteReader, ByteWriter, type BatchCommand } from './command-codec.ts';
import { SNAPSHOT_BYTES_MAX, SNAPSHOT_KEYS_MAX, ZONE_RESERVED_KEY_PREFIX } from './constants.ts';

/**
 * The zone's state machine: the Metastore's entries and the zone's membership records, kept in a
 * local KvStore that other replicas' stores match entry for entry.
 *
 * Layout in the KvStore:
 * - user key (unchanged, so keys of the full METASTORE_KEY_BYTES_MAX fit) -> 8-byte version
 *   (float64, big-endian) + value. The version is the raft index of the entry that wrote the key:
 *   identical on every replica, unlike the KvStore's own commit numbers.
 * - Under ZONE_RESERVED_KEY_PREFIX (R), which user keys may not use:
 *   - R `a` -> the last applied raft index, written in the same KvStore commit as every entry that
 *     changes state, so a crash can never apply an entry twice or half.
 *   - R `n` + u32 node id -> the member's transport address.
 *   - R `i` -> the replica's incarnation: a counter bumped at every open, part of proposal ids.
 *   - R `r` ... -> the raft log, when a KvRaftStorage shares the store (ZONE_RAFT_KEY_PREFIX).
 *
 * Entries that change nothing (a refused batch, Raft's empty entries) only advance the applied
 * index in memory: applying them again after a crash gives the same outcome.
 */
const RESERVED = ZONE_RESERVED_KEY_PREFIX;
const RESERVED_END = prefixEnd(RESERVED)!;
const APPLIED_KEY = Uint8Array.of(...RESERVED, 0x61);
const INCARNATION_KEY = Uint8Array.of(...RESERVED, 0x69);
const MEMBER_PREFIX = Uint8Array.of(...RESERVED, 0x6e);
const VERSION_BYTES = 8;
const SNAPSHOT_FORMAT_VERSION = 1;

/** The user's key space: everything outside the reserved prefix, as half-open ranges in key order. */
const USER_RANGES: readonly KeyRange[] = [
  { start: undefined, end: RESERVED },
  { start: RESERVED_END, end: undefined },
];

interface KeyRange {
  start: Uint8Array | undefined;
  end: Uint8Array | undefined;
}

export function isReservedKey(key: Uint8Array): boolean {
  return hasPrefix(key, RESERVED);
}

export type BatchOutcome = { readonly version: number } | { readonly conflict: ConflictError };

export class ZoneStateMachine {
  private staged: MetastoreOperation[] = [];
  /** The version each staged key will have (null: deleted), by `keyText`. */
  private readonly stagedVersions = new Map<string, number | null>();
  private stagedMembers: [NodeId, string | undefined][] = [];
  private stagedApplied: number;

  private constructor(
    private readonly store: KvStore,
    private applied: number,
    readonly members: Map<NodeId, string>,
  ) {
    this.stagedApplied = applied;
  }

  static async open(store: KvStore): Promise<ZoneStateMachine> {
    const appliedEntry = await store.get(APPLIED_KEY);
    const applied = appliedEntry === undefined ? 0 : decodeNumber(appliedEntry.value, 'applied index');
    const members = new Map<NodeId, string>();
    for (const entry of await scanEverything(store, { prefix: MEMBER_PREFIX })) {
      members.set(memberIdOf(entry.key), new TextDecoder().decode(entry.value));
    }
    return new ZoneStateMachine(store, applied, members);
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** Bumps and returns the incarnation: proposal ids of this run never repeat those of an earlier one. */
  async nextIncarnation(): Promise<number> {
    const entry = await this.store.get(INCARNATION_KEY);
    const incarnation = (entry === undefined ? 0 : decodeNumber(entry.value, 'incarnation')) + 1;
    await this.store.commit([{ type: 'put', key: INCARNATION_KEY, value: encodeNumber(incarnation) }], [], { durability: 'durable' });
    return incarnation;
  }

  /*
   * Applying is staged: the entries of one Ready are applied to a staging area (operations, the
   * versions they give their keys, membership changes) and written by `flush()` as ONE KvStore
   * commit with the last applied index, so a Ready costs one commit whatever its size, and a crash
   * keeps all of it or none. Preconditions are checked against the staged state over the stored
   * one, exactly as if each entry had been committed alone. Nothing staged is visible to reads, and
   * `appliedIndex` moves only when the flush has committed.
   */

  /** An entry that changes no state: a refused batch, an empty entry, a membership change. */
  noteApplied(index: number): void {
    this.assertNext(index);
    this.stagedApplied = index;
  }

  /**
   * Checks the batch's preconditions against the staged state and, when they hold, stages its
   * operations with version `index`. The outcome is final now (applying the same entry to the same
   * state decides the same after a crash); the state holds it once `flush()` resolves.
   */
  async applyBatch(index: number, command: BatchCommand): Promise<BatchOutcome> {
    this.assertNext(index);
    const operations = lastOperationPerKey(command.operations);
    // The staged commit also carries the applied index: make room, or write what is staged first.
    if (this.staged.length + operations.length + 1 > METASTORE_BATCH_OPERATIONS_MAX) await this.flush();
    const conflict = await this.checkPreconditions(command);
    this.stagedApplied = index;
    if (conflict !== undefined) return { conflict };
    for (const operation of operations) {
      const key = dataKey(operation.key);
      this.staged.push(operation.type === 'put' ? { type: 'put', key, value: encodeStoredValue(index, operation.value) } : { type: 'delete', key });
      this.stagedVersions.set(keyText(key), operation.type === 'put' ? index : null);
    }
    return { version: index };
  }

  private async checkPreconditions(command: BatchCommand): Promise<ConflictError | undefined> {
    if (command.preconditions.length === 0) return undefined;
    const unstaged = command.preconditions.filter((precondition) => !this.stagedVersions.has(keyText(precondition.key)));
    const stored = await this.store.getMany(unstaged.map((precondition) => dataKey(precondition.key)));
    const storedVersions = new Map(unstaged.map((precondition, position) => [keyText(precondition.key), stored[position]] as const));
    for (const precondition of command.preconditions) {
      const text = keyText(precondition.key);
      const entry = storedVersions.get(text);
      const version = this.stagedVersions.has(text) ? this.stagedVersions.get(text)! : entry === undefined ? null : decodeStoredVersion(entry.value);
      if (version !== precondition.version) {
        const found = version === null ? 'it does not exist' : `it has version ${version}`;
        const wanted = precondition.version === null ? 'must not exist' : `must have version ${precondition.version}`;
        return new ConflictError(`batch precondition failed: key ${describeBytes(precondition.key)} ${wanted}, but ${found}`);
      }
    }
    return undefined;
  }

  recordMember(index: number, nodeId: NodeId, address: string): void {
    this.assertNext(index);
    this.staged.push({ type: 'put', key: memberKey(nodeId), value: new TextEncoder().encode(address) });
    this.stagedMembers.push([nodeId, address]);
    this.stagedApplied = index;
  }

  forgetMembers(index: number, nodeIds: readonly NodeId[]): void {
    this.assertNext(index);
    for (const nodeId of nodeIds) {
      this.staged.push({ type: 'delete', key: memberKey(nodeId) });
      this.stagedMembers.push([nodeId, undefined]);
    }
    this.stagedApplied = index;
  }

  /** Writes what is staged, with the applied index, as one commit; then the outcomes hold. */
  async flush(): Promise<void> {
    const operations = this.staged;
    const members = this.stagedMembers;
    const applied = this.stagedApplied;
    this.staged = [];
    this.stagedMembers = [];
    this.stagedVersions.clear();
    if (operations.length > 0) {
      operations.push({ type: 'put', key: APPLIED_KEY, value: encodeNumber(applied) });
      // Relaxed: the raft log holds every committed entry durably, so a crash that loses this commit
      // (and the applied index with it) only makes the replica apply the entries again.
      await this.store.commit(operations, [], { durability: 'relaxed' });
    }
    this.applied = applied;
    for (const [nodeId, address] of members) {
      if (address === undefined) this.members.delete(nodeId);
      else this.members.set(nodeId, address);
    }
  }

  private assertNext(index: number): void {
    assert(index > this.stagedApplied, `entry ${index} applied after ${this.stagedApplied}`);
  }

  async get(key: Uint8Array): Promise<MetastoreEntry | undefined> {
    const entry = await this.store.get(dataKey(key));
    return entry === undefined ? undefined : userEntry(key, entry.value);
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(MetastoreEntry | undefined)[]> {
    const entries = await this.store.getMany(keys.map(dataKey));
    return entries.map((entry, position) => (entry === undefined ? undefined : userEntry(keys[position]!, entry.value)));
  }

  /**
   * A scan of the user's key space; options are already validated by the caller. The reserved
   * range is cut out of the scan's range, and the pieces on either side are scanned in order, each
   * with the caller's cursor (the KvStore folds it into each piece exactly as into the whole).
   */
  async scan(options: MetastoreScanOptions): Promise<MetastoreScanPage> {
    const range = resolveMetastoreScan({ ...options, cursor: undefined });
    const pieces = USER_RANGES.map((piece) => intersect(piece, range)).filter((piece) => piece !== undefined);
    if (range.reverse) pieces.reverse();
    const entries: MetastoreEntry[] = [];
    for (const piece of pieces) {
      const page = await this.store.scan({
        ...(piece.start === undefined ? {} : { start: piece.start }),
        ...(piece.end === undefined ? {} : { end: piece.end }),
        reverse: range.reverse,
        limit: range.limit - entries.length,
        ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
      });
      for (const entry of page.entries) entries.push(userEntry(entry.key, entry.value));
      if (entries.length === range.limit) return { entries, cursor: encodeScanCursor(entries[entries.length - 1]!.key) };
    }
    return { entries };
  }

  /**
   * The state as of the applied index, for a raft snapshot: every data entry and membership record
   * with its stored bytes. Returns undefined when the state exceeds SNAPSHOT_KEYS_MAX or
   * SNAPSHOT_BYTES_MAX: the log then keeps growing rather than the replica failing.
   */
  async buildSnapshot(): Promise<Uint8Array | undefined> {
    const snapshot = this.store.snapshot();
    try {
      const entries = await stateEntries(snapshot);
      if (entries.length > SNAPSHOT_KEYS_MAX || snapshotSizeBytes(entries) > SNAPSHOT_BYTES_MAX) return undefined;
      return encodeSnapshot(entries);
    } finally {
      snapshot.release();
    }
  }

  /** Replaces the whole state with a snapshot's, as of `index`, in one KvStore commit. */
  async restoreSnapshot(index: number, data: Uint8Array): Promise<void> {
    assert(this.staged.length === 0 && this.stagedApplied === this.applied, 'a snapshot restored over staged entries');
    const incoming = decodeSnapshot(data);
    const existing = await stateEntries(this.store);
    const operations: MetastoreOperation[] = existing.map((entry) => ({ type: 'delete', key: entry.key }));
    for (const entry of incoming) operations.push({ type: 'put', key: entry.key, value: entry.value });
    operations.push({ type: 'put', key: APPLIED_KEY, value: encodeNumber(index) });
    await this.store.commit(operations, [], { durability: 'durable' });
    this.applied = index;
    this.stagedApplied = index;
    this.members.clear();
    for (const entry of incoming) {
      if (hasPrefix(entry.key, MEMBER_PREFIX)) this.members.set(memberIdOf(entry.key), new TextDecoder().decode(entry.value));
    }
  }
}

/** Encodes the initial state of a new zone: its members' address records. */
export function encodeBootstrapSnapshot(members: ReadonlyMap<NodeId, string>): Uint8Array {
  const entries = [...members].map(([nodeId, address]) => ({ key: memberKey(nodeId), value: new TextEncoder().encode(address) }));
  return encodeSnapshot(entries);
}

type StoredEntry = { readonly key: Uint8Array; readonly value: Uint8Array };

/** A snapshot's bytes: the format version, the entry count, then each key and value length-prefixed. */
function encodeSnapshot(entries: readonly StoredEntry[]): Uint8Array {
  const writer = new ByteWriter(snapshotSizeBytes(entries));
  writer.byte(SNAPSHOT_FORMAT_VERSION);
  writer.uint32(entries.length);
  for (const entry of entries) {
    writer.bytes(entry.key);
    writer.bytes(entry.value);
  }
  return writer.finish();
}

function snapshotSizeBytes(entries: readonly StoredEntry[]): number {
  let sizeBytes = 1 + 4;
  for (const entry of entries) sizeBytes += 4 + entry.key.length + 4 + entry.value.length;
  return sizeBytes;
}

function decodeSnapshot(data: Uint8Array): StoredEntry[] {
  const reader = new ByteReader(data);
  const format = reader.byte();
  if (format !== SNAPSHOT_FORMAT_VERSION) throw new CorruptionError(`zone snapshot: unknown format version ${format}`);
  const count = reader.uint32();
  if (count > SNAPSHOT_KEYS_MAX) throw new CorruptionError(`zone snapshot: ${count} keys, at most ${SNAPSHOT_KEYS_MAX}`);
  const entries: StoredEntry[] = [];
  for (let index = 0; index < count; index++) {
    const key = reader.bytes();
    const value = reader.bytes();
    if (isReservedKey(key) && !hasPrefix(key, MEMBER_PREFIX)) throw new CorruptionError('zone snapshot: a key outside the state machine');
    entries.push({ key, value });
  }
  reader.expectEnd();
  return entries;
}

/** Bounds the pages one full scan follows: the state machine never holds more keys than a snapshot may. */
const SCAN_PAGES_MAX = Math.ceil((SNAPSHOT_KEYS_MAX * 2) / METASTORE_SCAN_LIMIT_MAX) + 1;

/** What a snapshot holds: the membership records and every user entry, as stored. */
async function stateEntries(reader: KvStore | KvSnapshot): Promise<MetastoreEntry[]> {
  const entries = await scanEverything(reader, { prefix: MEMBER_PREFIX });
  for (const range of USER_RANGES) entries.push(...(await scanEverything(reader, range)));
  return entries;
}

function intersect(piece: KeyRange, range: KeyRange): KeyRange | undefined {
  const start = piece.start === undefined ? range.start : range.start === undefined || compareBytes(piece.start, range.start) > 0 ? piece.start : range.start;
  const end = piece.end === undefined ? range.end : range.end === undefined || compareBytes(piece.end, range.end) < 0 ? piece.end : range.end;
  if (start !== undefined && end !== undefined && compareBytes(start, end) >= 0) return undefined;
  return { start, end };
}

async function scanEverything(reader: KvStore | KvSnapshot, options: { prefix?: Uint8Array; start?: Uint8Array | undefined; end?: Uint8Array | undefined }): Promise<MetastoreEntry[]> {
  const entries: MetastoreEntry[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < SCAN_PAGES_MAX; page++) {
    const result = await reader.scan({
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      ...(options.start === undefined ? {} : { start: options.start }),
      ...(options.end === undefined ? {} : { end: options.end }),
      limit: METASTORE_SCAN_LIMIT_MAX,
      ...(cursor === undefined ? {} : { cursor }),
    });
    entries.push(...result.entries);
    if (result.cursor === undefined) return entries;
    cursor = result.cursor;
  }
  throw new CorruptionError(`zone state: more than ${SCAN_PAGES_MAX} pages under one prefix`);
}

/**
 * The operations that decide the batch's outcome: the last one on each key (a later operation on
 * the same key wins), in their order. The KvStore commit also carries the applied index, so a batch
 * may have at most METASTORE_BATCH_OPERATIONS_MAX - 1 distinct keys (see `distinctKeyCount`).
 */
function lastOperationPerKey(operations: readonly MetastoreOperation[]): MetastoreOperation[] {
  const lastByKey = new Map<string, number>();
  for (const [position, operation] of operations.entries()) lastByKey.set(keyText(operation.key), position);
  return operations.filter((operation, position) => lastByKey.get(keyText(operation.key)) === position);
}

export function distinctKeyCount(operations: readonly MetastoreOperation[]): number {
  return new Set(operations.map((operation) => keyText(operation.key))).size;
}

/** A key as a Map key: one char per byte, so distinct byte strings stay distinct. */
function keyText(key: Uint8Array): string {
  let text = '';
  for (const byte of key) text += String.fromCharCode(byte);
  return text;
}

/** User keys are stored as they are; the view refuses reserved ones before they get here. */
function dataKey(key: Uint8Array): Uint8Array {
  return key;
}

function memberKey(nodeId: NodeId): Uint8Array {
  const key = new Uint8Array(MEMBER_PREFIX.length + 4);
  key.set(MEMBER_PREFIX);
  new DataView(key.buffer).setUint32(MEMBER_PREFIX.length, nodeId);
  return key;
}

function memberIdOf(key: Uint8Array): NodeId {
  if (key.length !== MEMBER_PREFIX.length + 4) throw new CorruptionError('zone state: malformed member key');
  return new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(MEMBER_PREFIX.length);
}

function encodeStoredValue(version: number, value: Uint8Array): Uint8Array {
  const stored = new Uint8Array(VERSION_BYTES + value.length);
  new DataView(stored.buffer).setFloat64(0, version);
  stored.set(value, VERSION_BYTES);
  return stored;
}

function decodeStoredVersion(stored: Uint8Array): number {
  if (stored.length < VERSION_BYTES) throw new CorruptionError('zone state: a stored value shorter than its version');
  const version = new DataView(stored.buffer, stored.byteOffset, stored.byteLength).getFloat64(0);
  if (!Number.isSafeInteger(version) || version < 1) throw new CorruptionError(`zone state: stored version ${version}`);
  return version;
}

function userEntry(key: Uint8Array, stored: Uint8Array): MetastoreEntry {
  // The KvStore handed us buffers we own, so the caller may own views of them.
  return { key: key.slice(), version: decodeStoredVersion(stored), value: stored.slice(VERSION_BYTES) };
}

function encodeNumber(value: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, value);
  return bytes;
}

function decodeNumber(bytes: Uint8Array, what: string): number {
  if (bytes.length !== 8) throw new CorruptionError(`zone state: malformed ${what}`);
  const value = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(0);
  if (!Number.isSafeInteger(value) || value < 0) throw new CorruptionError(`zone state: ${what} ${value}`);
  return value;
}


