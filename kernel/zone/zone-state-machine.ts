import { assert } from '../assert.ts';
import { compareBytes, describeBytes, hasPrefix, prefixEnd } from '../contracts/bytes.ts';
import {
  METASTORE_BATCH_OPERATIONS_MAX,
  METASTORE_KEY_BYTES_MAX,
  METASTORE_SCAN_LIMIT_MAX,
  METASTORE_VALUE_BYTES_MAX,
  type MetastoreEntry,
  type MetastoreOperation,
  type MetastoreScanOptions,
  type MetastoreScanPage,
} from '../contracts/metastore.ts';
import { encodeScanCursor } from '../contracts/metastore-cursor.ts';
import { resolveMetastoreScan } from '../contracts/metastore-validation.ts';
import { BusyError, ConflictError, CorruptionError } from '../errors.ts';
import type { KvSnapshot, KvStore } from '../kv/kv-store-types.ts';
import { RAFT_STORAGE_SNAPSHOT_BYTES_MAX } from '../raft/constants.ts';
import type { NodeId, Snapshot } from '../raft/types.ts';
import { ByteReader, ByteWriter, type BatchCommand } from './command-codec.ts';
import {
  NODE_PUBLIC_KEY_BYTES,
  SNAPSHOT_CHUNK_ENCODED_BYTES_MAX,
  SNAPSHOT_CHUNK_ENTRIES_MAX,
  SNAPSHOT_CHUNKS_MAX,
  SNAPSHOT_INSTALL_COMMIT_BYTES_MAX,
  SNAPSHOT_INSTALL_OPERATIONS_PER_COMMIT,
  SNAPSHOT_SCAN_PAGE_ENTRIES,
  ZONE_RESERVED_KEY_PREFIX,
  ZONE_STATE_ENTRIES_MAX,
} from './constants.ts';
import { decodeMemberRecord, encodeMemberRecord, type MemberRecord } from './member-record.ts';
import { CHUNK_ENTRY_OVERHEAD_BYTES, decodeSnapshotChunk, encodeSnapshotChunk, type SnapshotChunk, type StoredEntry } from './snapshot-chunk.ts';

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
 *   - R `d` + u32 node id -> the node was removed from the zone; the value is the public key of its
 *     last member record (raw Ed25519), so that members can still authenticate it and tell it of
 *     its removal when it dials them, or empty (a member without a key, or a removal recorded
 *     before keys were kept: such a node is refused as unknown, as before). Node ids are never given
 *     again (a join takes one above every member's and every removed node's), so a node applying
 *     entries from before its own addition, or restarting, can tell its own removal from them.
 *   - R `n` + u32 node id -> the member's transport address.
 *   - R `p` + u32 node id -> empty: a promotion pending, the member joined as a learner to become
 *     a voter once it has caught up (the leader promotes it; kept while it is a learner).
 *   - R `i` -> the replica's incarnation: a counter bumped at every open, part of proposal ids.
 *   - R `r` ... -> the raft log, when a KvRaftStorage shares the store (ZONE_RAFT_KEY_PREFIX).
 *   - R `S` -> the snapshot transfer being staged (who sent it, which raft snapshot, chunks so far);
 *     R `s` + u32 chunk number -> each staged chunk, as received (checksummed).
 *
 * Snapshots: the state (data entries and membership records, "state entries" below) is the
 * snapshot. A raft snapshot at index S made here records no data (`encodeStoredStateSnapshot`):
 * the store holds the state as of an applied index >= S. A transfer sends the state entries of a
 * pinned KvStore snapshot in key order, chunk by chunk (`PinnedState`); the receiver stages the
 * chunks, and installing replaces the state with the staged one in bounded commits, setting the
 * applied index only in the last. Raft persists its snapshot before the install starts, so a crash
 * in the middle leaves a raft snapshot above the stored applied index, and `open`'s caller installs
 * the staged state again from the start (the install is idempotent).
 *
 * Entries that change nothing (a refused batch, Raft's empty entries) only advance the applied
 * index in memory: applying them again after a crash gives the same outcome.
 */
const RESERVED = ZONE_RESERVED_KEY_PREFIX;
const RESERVED_END = prefixEnd(RESERVED)!;
const APPLIED_KEY = Uint8Array.of(...RESERVED, 0x61);
const INCARNATION_KEY = Uint8Array.of(...RESERVED, 0x69);
const REMOVED_PREFIX = Uint8Array.of(...RESERVED, 0x64);
const MEMBER_PREFIX = Uint8Array.of(...RESERVED, 0x6e);
const PROMOTION_PREFIX = Uint8Array.of(...RESERVED, 0x70);
const STAGING_KEY = Uint8Array.of(...RESERVED, 0x53);
const STAGED_CHUNK_PREFIX = Uint8Array.of(...RESERVED, 0x73);
const VERSION_BYTES = 8;
/** Raft snapshot data holding the state entries inline (a new zone's membership, or snapshots of older versions). */
const SNAPSHOT_FORMAT_INLINE = 1;
/** Raft snapshot data saying "the state is in the store" (or staged, when received): no entries. */
const SNAPSHOT_FORMAT_STORED = 2;
const STAGING_FORMAT_VERSION = 1;
/** Times a read waits for installs that keep starting before it gives up with BusyError. */
const INSTALL_WAITS_MAX = 8;

/** The state entries' key space, as half-open ranges in key order: user keys, removal, membership and promotion records, user keys. */
const STATE_RANGES: readonly KeyRange[] = [
  { start: undefined, end: RESERVED },
  { start: REMOVED_PREFIX, end: prefixEnd(REMOVED_PREFIX)! },
  { start: MEMBER_PREFIX, end: prefixEnd(MEMBER_PREFIX)! },
  { start: PROMOTION_PREFIX, end: prefixEnd(PROMOTION_PREFIX)! },
  { start: RESERVED_END, end: undefined },
];

// A chunk is staged as one KvStore value.
assert(SNAPSHOT_CHUNK_ENCODED_BYTES_MAX <= METASTORE_VALUE_BYTES_MAX, 'a snapshot chunk would not fit a KvStore value');

/** Bounds the pages of one scan over a range of the state. */
const STATE_SCAN_PAGES_MAX = Math.ceil(ZONE_STATE_ENTRIES_MAX / SNAPSHOT_SCAN_PAGE_ENTRIES) + 1;

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

function isStateKey(key: Uint8Array): boolean {
  return !hasPrefix(key, RESERVED) || hasPrefix(key, REMOVED_PREFIX) || hasPrefix(key, MEMBER_PREFIX) || hasPrefix(key, PROMOTION_PREFIX);
}

/** The snapshot transfer being staged, as recorded under STAGING_KEY with each chunk. */
export interface StagedTransfer {
  readonly from: NodeId;
  readonly term: number;
  readonly transferId: number;
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  /** Chunks staged: 0 to chunkCount - 1. */
  readonly chunkCount: number;
  /** Set with the last chunk: the transfer is whole. */
  readonly complete: boolean;
}

export interface InstallOptions {
  /** Operations per install commit (SNAPSHOT_INSTALL_OPERATIONS_PER_COMMIT; tests lower it). */
  readonly operationsPerCommit?: number;
}

export type BatchOutcome = { readonly version: number } | { readonly conflict: ConflictError };

export class ZoneStateMachine {
  private staged: MetastoreOperation[] = [];
  /** The version each staged key will have (null: deleted), by `keyText`. */
  private readonly stagedVersions = new Map<string, number | null>();
  private stagedMembers: [NodeId, MemberRecord | undefined][] = [];
  private stagedRemoved: [NodeId, Uint8Array | undefined][] = [];
  /** Promotion records staged: true to record, false to drop. */
  private stagedPromotions: [NodeId, boolean][] = [];
  private stagedApplied: number;
  /** Set while an install replaces the state: reads wait for it. */
  private installing: Promise<void> | undefined = undefined;
  private readsInFlight = 0;
  private readsDrained: (() => void) | undefined = undefined;

  private constructor(
    private readonly store: KvStore,
    private applied: number,
    readonly members: Map<NodeId, MemberRecord>,
    /** The members that joined as learners to become voters (see PROMOTION_PREFIX), as applied. */
    readonly promotions: Set<NodeId>,
    /**
     * The nodes removed from the zone (see REMOVED_PREFIX), as applied, with the public key recorded
     * with each removal (undefined: none): their ids are not given again.
     */
    readonly removed: Map<NodeId, Uint8Array | undefined>,
  ) {
    this.stagedApplied = applied;
  }

  static async open(store: KvStore): Promise<ZoneStateMachine> {
    const appliedEntry = await store.get(APPLIED_KEY);
    const applied = appliedEntry === undefined ? 0 : decodeNumber(appliedEntry.value, 'applied index');
    return new ZoneStateMachine(store, applied, await readMembers(store), await readPromotions(store), await readRemovedNodes(store));
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

  /** Records a member's address and key, and whether it is to be promoted to voter once caught up. */
  recordMember(index: number, nodeId: NodeId, record: MemberRecord, promote: boolean): void {
    this.assertNext(index);
    this.staged.push({ type: 'put', key: memberKey(nodeId), value: encodeMemberRecord(record) });
    this.stagedMembers.push([nodeId, record]);
    this.stagePromotion(nodeId, promote);
    this.stagedApplied = index;
  }

  /**
   * A membership change: drops the records of `removed` members, recording that they were removed
   * (with the public key of the record dropped, in the same commit), and the promotion records of
   * `promoted` ones.
   */
  forgetMembers(index: number, removed: readonly NodeId[], promoted: readonly NodeId[] = []): void {
    this.assertNext(index);
    for (const nodeId of removed) {
      const publicKey = this.stagedMember(nodeId)?.publicKey;
      this.staged.push({ type: 'delete', key: memberKey(nodeId) }, { type: 'put', key: removedKey(nodeId), value: publicKey?.slice() ?? new Uint8Array(0) });
      this.stagedMembers.push([nodeId, undefined]);
      this.stagedRemoved.push([nodeId, publicKey]);
      this.stagePromotion(nodeId, false);
    }
    for (const nodeId of promoted) this.stagePromotion(nodeId, false);
    this.stagedApplied = index;
  }

  /** The member record of `nodeId` as staged over the applied state. */
  private stagedMember(nodeId: NodeId): MemberRecord | undefined {
    for (let position = this.stagedMembers.length - 1; position >= 0; position--) {
      const [id, record] = this.stagedMembers[position]!;
      if (id === nodeId) return record;
    }
    return this.members.get(nodeId);
  }

  private stagePromotion(nodeId: NodeId, promote: boolean): void {
    let recorded = this.promotions.has(nodeId);
    for (const [id, promote] of this.stagedPromotions) if (id === nodeId) recorded = promote;
    if (recorded === promote) return;
    this.staged.push(promote ? { type: 'put', key: promotionKey(nodeId), value: new Uint8Array(0) } : { type: 'delete', key: promotionKey(nodeId) });
    this.stagedPromotions.push([nodeId, promote]);
  }

  /** Writes what is staged, with the applied index, as one commit; then the outcomes hold. */
  async flush(): Promise<void> {
    const operations = this.staged;
    const members = this.stagedMembers;
    const promotions = this.stagedPromotions;
    const removedNodes = this.stagedRemoved;
    const applied = this.stagedApplied;
    this.staged = [];
    this.stagedMembers = [];
    this.stagedRemoved = [];
    this.stagedPromotions = [];
    this.stagedVersions.clear();
    if (operations.length > 0) {
      operations.push({ type: 'put', key: APPLIED_KEY, value: encodeNumber(applied) });
      // Relaxed: the raft log holds every committed entry durably, so a crash that loses this commit
      // (and the applied index with it) only makes the replica apply the entries again.
      await this.store.commit(operations, [], { durability: 'relaxed' });
    }
    this.applied = applied;
    for (const [nodeId, record] of members) {
      if (record === undefined) this.members.delete(nodeId);
      else this.members.set(nodeId, record);
    }
    for (const [nodeId, promote] of promotions) {
      if (promote) this.promotions.add(nodeId);
      else this.promotions.delete(nodeId);
    }
    for (const [nodeId, publicKey] of removedNodes) this.removed.set(nodeId, publicKey);
  }

  private assertNext(index: number): void {
    assert(index > this.stagedApplied, `entry ${index} applied after ${this.stagedApplied}`);
  }

  async get(key: Uint8Array): Promise<MetastoreEntry | undefined> {
    const entry = await this.read(() => this.store.get(dataKey(key)));
    return entry === undefined ? undefined : userEntry(key, entry.value);
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(MetastoreEntry | undefined)[]> {
    const entries = await this.read(() => this.store.getMany(keys.map(dataKey)));
    return entries.map((entry, position) => (entry === undefined ? undefined : userEntry(keys[position]!, entry.value)));
  }

  /** Runs a read of the state when no install is replacing it (an install waits for the reads under way). */
  private async read<T>(body: () => Promise<T>): Promise<T> {
    for (let waits = 0; this.installing !== undefined; waits++) {
      if (waits === INSTALL_WAITS_MAX) throw new BusyError('zone state: snapshots keep being installed; retry the read');
      await this.installing;
    }
    this.readsInFlight++;
    try {
      return await body();
    } finally {
      this.readsInFlight--;
      if (this.readsInFlight === 0) this.readsDrained?.();
    }
  }

  /**
   * A scan of the user's key space; options are already validated by the caller. The reserved
   * range is cut out of the scan's range, and the pieces on either side are scanned in order, each
   * with the caller's cursor (the KvStore folds it into each piece exactly as into the whole).
   */
  scan(options: MetastoreScanOptions): Promise<MetastoreScanPage> {
    return this.read(() => this.scanNow(options));
  }

  private async scanNow(options: MetastoreScanOptions): Promise<MetastoreScanPage> {
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
   * Makes the applied index durable, for a raft snapshot at (at most) that index: a snapshot made
   * here holds no data, the store holds the state, so the store must say how far it has applied
   * (entries that changed nothing only moved the index in memory) whatever a crash keeps.
   */
  async persistApplied(): Promise<void> {
    assert(this.staged.length === 0 && this.stagedApplied === this.applied, 'the applied index persisted over staged entries');
    await this.store.commit([{ type: 'put', key: APPLIED_KEY, value: encodeNumber(this.applied) }], [], { durability: 'durable' });
  }

  /** Pins the current state for a snapshot transfer; release it when the transfer ends. */
  pinState(chunkBytes: number): PinnedState {
    return new PinnedState(this.store.snapshot(), chunkBytes);
  }

  // ---- receiving and installing snapshots ----

  /** The transfer staged in the store, if any. */
  async stagedTransfer(): Promise<StagedTransfer | undefined> {
    const entry = await this.store.get(STAGING_KEY);
    return entry === undefined ? undefined : decodeStagedTransfer(entry.value);
  }

  /**
   * Stages chunk `transfer.chunkCount - 1` of a transfer (chunk 0 starts it: discard any earlier
   * staging first), whose entries must all follow `after`, the last key staged before. The last
   * chunk is staged durably, so that once Raft persists the snapshot the state it stands for
   * survives any crash (it also makes the earlier relaxed chunks durable). Returns the last key
   * staged now; throws CorruptionError when the chunk is damaged or out of order.
   */
  async stageChunk(transfer: StagedTransfer, data: Uint8Array, after: Uint8Array | undefined): Promise<Uint8Array | undefined> {
    // Staged as one KvStore value: a larger one would fail the commit, and with it the replica.
    if (data.byteLength > SNAPSHOT_CHUNK_ENCODED_BYTES_MAX) throw new CorruptionError(`zone snapshot: a chunk of ${data.byteLength} bytes`);
    const chunk = decodeSnapshotChunk(data);
    checkChunkOrder(chunk.entries, after);
    const chunkNumber = transfer.chunkCount - 1;
    assert(chunkNumber >= 0 && chunkNumber < SNAPSHOT_CHUNKS_MAX, `staging chunk ${chunkNumber}`);
    const operations: MetastoreOperation[] = [
      { type: 'put', key: stagedChunkKey(chunkNumber), value: data },
      { type: 'put', key: STAGING_KEY, value: encodeStagedTransfer(transfer) },
    ];
    await this.store.commit(operations, [], { durability: transfer.complete ? 'durable' : 'relaxed' });
    return chunk.entries[chunk.entries.length - 1]?.key ?? after;
  }

  /**
   * Where a transfer of raft snapshot (`snapshotIndex`, `snapshotTerm`) whose chunk 0 is `firstChunk`
   * may resume on the staging: the chunks staged and the last key they hold, when the staging is an
   * incomplete transfer of the same snapshot from a state of the same applied index (the same state:
   * replicas apply the same entries alike, so its chunks may follow the staged ones). Undefined when
   * it must start over: nothing staged, another snapshot or state, a damaged chunk.
   */
  async stagingResumePoint(snapshotIndex: number, snapshotTerm: number, firstChunk: Uint8Array): Promise<{ chunkCount: number; lastKey: Uint8Array } | undefined> {
    const staged = await this.stagedTransfer();
    if (staged === undefined || staged.complete || staged.chunkCount === 0 || staged.snapshotIndex !== snapshotIndex || staged.snapshotTerm !== snapshotTerm) return undefined;
    try {
      const incoming = decodeSnapshotChunk(firstChunk);
      const first = await this.stagedChunk(staged, 0);
      if (first.appliedIndex !== incoming.appliedIndex) return undefined;
      const lastKey = (await this.stagedChunk(staged, staged.chunkCount - 1)).entries.at(-1)?.key;
      return lastKey === undefined ? undefined : { chunkCount: staged.chunkCount, lastKey };
    } catch (error) {
      if (error instanceof CorruptionError) return undefined;
      throw error;
    }
  }

  /**
   * Deletes the staged transfer, if any, in bounded commits (its record last, so a crash midway
   * leaves it to finish). With `keepIncomplete`, a transfer not yet whole is kept: the next transfer
   * of the same state resumes after it (see `stagingResumePoint`), and one of another discards it.
   */
  async discardStaging(options: { keepIncomplete?: boolean } = {}): Promise<void> {
    const staged = await this.stagedTransfer();
    if (staged === undefined || (options.keepIncomplete === true && !staged.complete)) return;
    for (let first = 0; first < staged.chunkCount; first += SNAPSHOT_INSTALL_OPERATIONS_PER_COMMIT) {
      const last = Math.min(staged.chunkCount, first + SNAPSHOT_INSTALL_OPERATIONS_PER_COMMIT);
      const operations: MetastoreOperation[] = [];
      for (let chunk = first; chunk < last; chunk++) operations.push({ type: 'delete', key: stagedChunkKey(chunk) });
      await this.store.commit(operations, [], { durability: 'relaxed' });
    }
    await this.store.commit([{ type: 'delete', key: STAGING_KEY }], [], { durability: 'relaxed' });
  }

  /**
   * Makes the state that of raft snapshot `snapshot`, which Raft has persisted: from the transfer
   * staged for it, or from the entries its data holds inline (a new zone's bootstrap snapshot). A
   * state already at or past the snapshot is kept (and the staging discarded). The applied index becomes the snapshot's, or the
   * sender's when its state was further. Throws CorruptionError when neither source is there.
   */
  async installSnapshot(snapshot: Snapshot, options: InstallOptions = {}): Promise<void> {
    assert(this.staged.length === 0 && this.stagedApplied === this.applied, 'a snapshot installed over staged entries');
    const { index, term } = snapshot.metadata;
    // Already past it (an earlier transfer sent a further state): the staged copy is of no use.
    if (index <= this.applied) return this.discardStaging();
    const staged = await this.stagedTransfer();
    const operationsPerCommit = options.operationsPerCommit ?? SNAPSHOT_INSTALL_OPERATIONS_PER_COMMIT;
    if (staged !== undefined && staged.complete && staged.snapshotIndex === index && staged.snapshotTerm === term) {
      await this.replaceState(index, this.stagedChunks(staged), operationsPerCommit);
      await this.discardStaging();
      return;
    }
    const inline = decodeInlineSnapshot(snapshot.data);
    if (inline === undefined) throw new CorruptionError(`zone state: the raft snapshot at ${index} (term ${term}) is not installed and its state is not staged here`);
    await this.replaceState(index, singleChunk(inline), operationsPerCommit);
  }

  private async *stagedChunks(staged: StagedTransfer): AsyncGenerator<SourceChunk> {
    for (let chunk = 0; chunk < staged.chunkCount; chunk++) {
      const decoded = await this.stagedChunk(staged, chunk);
      yield { entries: decoded.entries, appliedIndex: decoded.appliedIndex, last: chunk === staged.chunkCount - 1 };
    }
  }

  private async stagedChunk(staged: StagedTransfer, chunk: number): Promise<SnapshotChunk> {
    const entry = await this.store.get(stagedChunkKey(chunk));
    if (entry === undefined) throw new CorruptionError(`zone state: chunk ${chunk} of the staged snapshot at ${staged.snapshotIndex} is missing`);
    return decodeSnapshotChunk(entry.value);
  }

  /**
   * Replaces the state entries with those of `chunks` (in key order, each after the last), in
   * commits of at most `operationsPerCommit` operations: for the key range each chunk covers, the
   * stored entries it lacks are deleted and its entries that differ are written. The applied index
   * changes only in the last commit. Reads wait meanwhile, and the reads under way finish first.
   */
  private async replaceState(snapshotIndex: number, chunks: AsyncIterable<SourceChunk>, operationsPerCommit: number): Promise<void> {
    let finished: () => void = () => {};
    this.installing = new Promise<void>((resolve) => (finished = resolve));
    try {
      if (this.readsInFlight > 0) await new Promise<void>((resolve) => (this.readsDrained = resolve));
      this.readsDrained = undefined;
      const writer = new InstallWriter(this.store, operationsPerCommit);
      let lower: Uint8Array | undefined;
      let appliedIndex = snapshotIndex;
      let sawLast = false;
      for await (const chunk of chunks) {
        assert(!sawLast, 'snapshot chunks after the last');
        appliedIndex = Math.max(appliedIndex, chunk.appliedIndex);
        checkChunkOrder(chunk.entries, lower);
        sawLast = chunk.last;
        const lastKey = chunk.entries[chunk.entries.length - 1]?.key;
        // An empty chunk before the last covers no range (a sender never makes one).
        if (!chunk.last && lastKey === undefined) continue;
        const upper = chunk.last ? undefined : lastKey;
        await this.mergeRange(lower, upper, chunk.entries, writer);
        lower = upper;
      }
      if (!sawLast) throw new CorruptionError('zone state: a snapshot without its last chunk');
      writer.push({ type: 'put', key: APPLIED_KEY, value: encodeNumber(appliedIndex) });
      await writer.flush();
      this.applied = appliedIndex;
      this.stagedApplied = appliedIndex;
      const [members, promotions, removedNodes] = [await readMembers(this.store), await readPromotions(this.store), await readRemovedNodes(this.store)];
      this.members.clear();
      for (const [nodeId, record] of members) this.members.set(nodeId, record);
      this.promotions.clear();
      for (const nodeId of promotions) this.promotions.add(nodeId);
      this.removed.clear();
      for (const [nodeId, publicKey] of removedNodes) this.removed.set(nodeId, publicKey);
    } finally {
      this.installing = undefined;
      finished();
    }
  }

  /**
   * Makes the stored state entries with keys in (lower, upper] (upper undefined: to the end) be
   * `entries`, by a merge of the sorted stored entries with the sorted new ones.
   */
  private async mergeRange(lower: Uint8Array | undefined, upper: Uint8Array | undefined, entries: readonly StoredEntry[], writer: InstallWriter): Promise<void> {
    let next = 0;
    const beyondUpper = (key: Uint8Array): boolean => upper !== undefined && compareBytes(key, upper) > 0;
    ranges: for (const range of STATE_RANGES) {
      if (upper !== undefined && range.start !== undefined && compareBytes(range.start, upper) > 0) break;
      if (lower !== undefined && range.end !== undefined && compareBytes(range.end, lower) <= 0) continue;
      let after = lower;
      for (let page = 0; page < STATE_SCAN_PAGES_MAX; page++) {
        const result = await this.store.scan({
          ...(range.start === undefined ? {} : { start: range.start }),
          ...(range.end === undefined ? {} : { end: range.end }),
          limit: SNAPSHOT_SCAN_PAGE_ENTRIES,
          ...(after === undefined ? {} : { cursor: encodeScanCursor(after) }),
        });
        for (const stored of result.entries) {
          if (beyondUpper(stored.key)) break ranges;
          for (; next < entries.length && compareBytes(entries[next]!.key, stored.key) < 0; next++) writer.push({ type: 'put', key: entries[next]!.key, value: entries[next]!.value });
          const incoming = entries[next];
          if (incoming !== undefined && compareBytes(incoming.key, stored.key) === 0) {
            if (compareBytes(incoming.value, stored.value) !== 0) writer.push({ type: 'put', key: incoming.key, value: incoming.value });
            next++;
          } else {
            writer.push({ type: 'delete', key: stored.key });
          }
          await writer.flushIfFull();
          after = stored.key;
        }
        if (result.cursor === undefined) continue ranges;
      }
      throw new CorruptionError(`zone state: more than ${STATE_SCAN_PAGES_MAX} pages in one range`);
    }
    for (; next < entries.length; next++) {
      writer.push({ type: 'put', key: entries[next]!.key, value: entries[next]!.value });
      await writer.flushIfFull();
    }
  }
}

/** Entries of a snapshot source in key order; `last` ends it (its range runs to the end of the key space). */
interface SourceChunk {
  readonly entries: readonly StoredEntry[];
  readonly appliedIndex: number;
  readonly last: boolean;
}

async function* singleChunk(entries: readonly StoredEntry[]): AsyncGenerator<SourceChunk> {
  yield { entries: [...entries].sort((a, b) => compareBytes(a.key, b.key)), appliedIndex: 0, last: true };
}

function checkChunkOrder(entries: readonly StoredEntry[], lower: Uint8Array | undefined): void {
  let previous = lower;
  for (const entry of entries) {
    if (!isStateKey(entry.key)) throw new CorruptionError('zone snapshot: a key outside the state machine');
    checkStateEntry(entry);
    if (previous !== undefined && compareBytes(previous, entry.key) >= 0) throw new CorruptionError('zone snapshot: keys out of order');
    previous = entry.key;
  }
}

/**
 * An entry a replica could have stored: a member, promotion or removal record of one node id, or
 * a user key within the Metastore's bound with a versioned value. Anything else would fail the
 * install's commit, or every later read or open, rather than this one chunk.
 */
function checkStateEntry(entry: StoredEntry): void {
  if (hasPrefix(entry.key, REMOVED_PREFIX)) {
    const valueValid = entry.value.length === 0 || entry.value.length === NODE_PUBLIC_KEY_BYTES;
    if (entry.key.length !== REMOVED_PREFIX.length + 4 || !valueValid) throw new CorruptionError('zone snapshot: a malformed removal record');
    return;
  }
  if (hasPrefix(entry.key, PROMOTION_PREFIX)) {
    if (entry.key.length !== PROMOTION_PREFIX.length + 4 || entry.value.length !== 0) throw new CorruptionError('zone snapshot: a malformed promotion record');
    return;
  }
  if (hasPrefix(entry.key, MEMBER_PREFIX)) {
    nodeIdOfKey(entry.key, MEMBER_PREFIX, 'member');
    decodeMemberRecord(entry.value);
    return;
  }
  if (entry.key.length === 0 || entry.key.length > METASTORE_KEY_BYTES_MAX) throw new CorruptionError(`zone snapshot: a key of ${entry.key.length} bytes`);
  decodeStoredVersion(entry.value);
}

/** Collects an install's operations and commits them in bounded, relaxed commits, in order. */
class InstallWriter {
  private operations: MetastoreOperation[] = [];
  private sizeBytes = 0;

  constructor(
    private readonly store: KvStore,
    private readonly operationsPerCommit: number,
  ) {}

  push(operation: MetastoreOperation): void {
    this.operations.push(operation);
    this.sizeBytes += operation.key.length + (operation.type === 'put' ? operation.value.length : 0);
  }

  async flushIfFull(): Promise<void> {
    if (this.operations.length >= this.operationsPerCommit || this.sizeBytes >= SNAPSHOT_INSTALL_COMMIT_BYTES_MAX) await this.flush();
  }

  /**
   * Relaxed: Raft's snapshot is durable before the install starts, so a crash that loses these
   * commits leaves a raft snapshot above the stored applied index, and the install runs again.
   */
  async flush(): Promise<void> {
    if (this.operations.length === 0) return;
    const operations = this.operations;
    this.operations = [];
    this.sizeBytes = 0;
    await this.store.commit(operations, [], { durability: 'relaxed' });
  }
}

/**
 * The state as of a pinned KvStore snapshot, read chunk by chunk for a transfer: the state
 * entries in key order, each chunk closed once it holds `chunkBytes` of them (or
 * SNAPSHOT_CHUNK_ENTRIES_MAX entries), the last one marked.
 */
export class PinnedState {
  private appliedIndex: number | undefined;
  private range = 0;
  private after: Uint8Array | undefined;
  private released = false;
  /** A chunk read is under way: `release` leaves the KvStore snapshot to it, which releases it when it stops. */
  private reading = false;

  constructor(
    private readonly snapshot: KvSnapshot,
    private readonly chunkBytes: number,
  ) {}

  /**
   * The next chunk, encoded, and whether it is the last; the state is read from where the previous
   * one ended. One read at a time. Undefined when the state was released while this read was under
   * way (the transfer ended): the read stops at its next step instead of reading a released
   * snapshot, and releases the KvStore snapshot then.
   */
  async nextChunk(): Promise<{ data: Uint8Array; last: boolean } | undefined> {
    assert(!this.released, 'a chunk read from a released pinned state');
    assert(!this.reading, 'two chunk reads at once from one pinned state');
    this.reading = true;
    try {
      return await this.readChunk();
    } finally {
      this.reading = false;
      if (this.released) this.snapshot.release();
    }
  }

  private async readChunk(): Promise<{ data: Uint8Array; last: boolean } | undefined> {
    if (this.appliedIndex === undefined) {
      const entry = await this.snapshot.get(APPLIED_KEY);
      if (this.released) return undefined;
      this.appliedIndex = entry === undefined ? 0 : decodeNumber(entry.value, 'applied index');
    }
    const entries: StoredEntry[] = [];
    let sizeBytes = 0;
    for (let page = 0; this.range < STATE_RANGES.length; page++) {
      assert(page < STATE_SCAN_PAGES_MAX, 'a snapshot chunk read more pages than the state can hold');
      const range = STATE_RANGES[this.range]!;
      const result = await this.snapshot.scan({
        ...(range.start === undefined ? {} : { start: range.start }),
        ...(range.end === undefined ? {} : { end: range.end }),
        limit: Math.min(SNAPSHOT_SCAN_PAGE_ENTRIES, SNAPSHOT_CHUNK_ENTRIES_MAX - entries.length),
        ...(this.after === undefined ? {} : { cursor: encodeScanCursor(this.after) }),
      });
      if (this.released) return undefined;
      for (const entry of result.entries) {
        entries.push({ key: entry.key, value: entry.value });
        sizeBytes += CHUNK_ENTRY_OVERHEAD_BYTES + entry.key.length + entry.value.length;
        this.after = entry.key;
        if (sizeBytes >= this.chunkBytes || entries.length >= SNAPSHOT_CHUNK_ENTRIES_MAX) return this.encode(entries, false);
      }
      if (result.cursor === undefined) {
        this.range++;
        this.after = undefined;
      }
    }
    return this.encode(entries, true);
  }

  private encode(entries: readonly StoredEntry[], last: boolean): { data: Uint8Array; last: boolean } {
    const data = encodeSnapshotChunk({ appliedIndex: this.appliedIndex!, entries });
    // Below the byte target before its last entry, which is at most a proposal's value and a key.
    assert(data.byteLength <= SNAPSHOT_CHUNK_ENCODED_BYTES_MAX, `a snapshot chunk of ${data.byteLength} bytes`);
    return { data, last };
  }

  /**
   * Makes the next chunk start after `key` (any key: a follower's resume point), or at the start of
   * the state when undefined (a transfer sends the state again). Not while a read is under way.
   */
  seekAfter(key: Uint8Array | undefined): void {
    assert(!this.released && !this.reading, 'a pinned state sought while released or read');
    if (key === undefined) {
      this.range = 0;
      this.after = undefined;
      return;
    }
    // The first range that does not end at or before the key; within it, after the key (if it lies in it).
    this.range = STATE_RANGES.findIndex((range) => range.end === undefined || compareBytes(key, range.end) < 0);
    const start = STATE_RANGES[this.range]!.start;
    this.after = start === undefined || compareBytes(key, start) >= 0 ? key : undefined;
  }

  /** Ends the transfer's hold on the state (idempotent); a read under way stops at its next step. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (!this.reading) this.snapshot.release();
  }
}

/** Encodes the initial state of a new zone: its members' address records, inline. */
export function encodeBootstrapSnapshot(members: ReadonlyMap<NodeId, MemberRecord>): Uint8Array {
  const entries = [...members].map(([nodeId, record]) => ({ key: memberKey(nodeId), value: encodeMemberRecord(record) }));
  return encodeInlineSnapshot(entries);
}

/** The data of a raft snapshot made by a replica: none, the state is in the store (see the class comment). */
export function encodeStoredStateSnapshot(): Uint8Array {
  return Uint8Array.of(SNAPSHOT_FORMAT_STORED);
}

/** Inline snapshot bytes: the format version, the entry count, then each key and value length-prefixed. */
function encodeInlineSnapshot(entries: readonly StoredEntry[]): Uint8Array {
  let sizeBytes = 1 + 4;
  for (const entry of entries) sizeBytes += 4 + entry.key.length + 4 + entry.value.length;
  const writer = new ByteWriter(sizeBytes);
  writer.byte(SNAPSHOT_FORMAT_INLINE);
  writer.uint32(entries.length);
  for (const entry of entries) {
    writer.bytes(entry.key);
    writer.bytes(entry.value);
  }
  return writer.finish();
}

/** The entries of inline snapshot data, or undefined when the data says the state is stored. */
function decodeInlineSnapshot(data: Uint8Array): StoredEntry[] | undefined {
  const reader = new ByteReader(data);
  const format = reader.byte();
  if (format === SNAPSHOT_FORMAT_STORED) {
    reader.expectEnd();
    return undefined;
  }
  if (format !== SNAPSHOT_FORMAT_INLINE) throw new CorruptionError(`zone snapshot: unknown format version ${format}`);
  const count = reader.uint32();
  // Each entry takes at least 8 bytes, and raft storage holds no larger snapshot data.
  if (count > RAFT_STORAGE_SNAPSHOT_BYTES_MAX / 8) throw new CorruptionError(`zone snapshot: ${count} keys`);
  const entries: StoredEntry[] = [];
  for (let index = 0; index < count; index++) {
    const key = reader.bytes();
    const value = reader.bytes();
    if (!isStateKey(key)) throw new CorruptionError('zone snapshot: a key outside the state machine');
    entries.push({ key, value });
  }
  reader.expectEnd();
  return entries;
}

function stagedChunkKey(chunk: number): Uint8Array {
  return uint32Key(STAGED_CHUNK_PREFIX, chunk);
}

function encodeStagedTransfer(transfer: StagedTransfer): Uint8Array {
  const writer = new ByteWriter(1 + 6 * 8 + 1);
  writer.byte(STAGING_FORMAT_VERSION);
  for (const value of [transfer.from, transfer.term, transfer.transferId, transfer.snapshotIndex, transfer.snapshotTerm, transfer.chunkCount]) writer.float64(value);
  writer.byte(transfer.complete ? 1 : 0);
  return writer.finish();
}

function decodeStagedTransfer(bytes: Uint8Array): StagedTransfer {
  const reader = new ByteReader(bytes);
  const format = reader.byte();
  if (format !== STAGING_FORMAT_VERSION) throw new CorruptionError(`zone state: staged snapshot record of unknown format ${format}`);
  const [from, term, transferId, snapshotIndex, snapshotTerm, chunkCount] = Array.from({ length: 6 }, () => reader.float64());
  const complete = reader.byte();
  reader.expectEnd();
  for (const value of [from, term, transferId, snapshotIndex, snapshotTerm, chunkCount]) {
    if (!Number.isSafeInteger(value) || value! < 0) throw new CorruptionError(`zone state: staged snapshot record holds ${value}`);
  }
  if (complete > 1) throw new CorruptionError('zone state: malformed staged snapshot record');
  // Bounds the loops over the staged chunks (discarding, installing).
  if (chunkCount! > SNAPSHOT_CHUNKS_MAX) throw new CorruptionError(`zone state: a staged snapshot of ${chunkCount} chunks`);
  return { from: from!, term: term!, transferId: transferId!, snapshotIndex: snapshotIndex!, snapshotTerm: snapshotTerm!, chunkCount: chunkCount!, complete: complete === 1 };
}

/** Bounds the pages of a scan of the membership records (at most ZONE_MEMBERS_MAX, plus removed ones not yet forgotten). */
const SCAN_PAGES_MAX = 16;

function intersect(piece: KeyRange, range: KeyRange): KeyRange | undefined {
  const start = piece.start === undefined ? range.start : range.start === undefined || compareBytes(piece.start, range.start) > 0 ? piece.start : range.start;
  const end = piece.end === undefined ? range.end : range.end === undefined || compareBytes(piece.end, range.end) < 0 ? piece.end : range.end;
  if (start !== undefined && end !== undefined && compareBytes(start, end) >= 0) return undefined;
  return { start, end };
}

async function scanEverything(reader: KvStore, options: { prefix?: Uint8Array; start?: Uint8Array | undefined; end?: Uint8Array | undefined }): Promise<MetastoreEntry[]> {
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
function lastOperationPerKey(operations: readonly MetastoreOperation[]): readonly MetastoreOperation[] {
  // A batch of one operation (the common write) has nothing to drop: no key texts, Map or copy.
  if (operations.length <= 1) return operations;
  const texts = operations.map((operation) => keyText(operation.key));
  const lastByKey = new Map<string, number>();
  for (const [position, text] of texts.entries()) lastByKey.set(text, position);
  return operations.filter((_, position) => lastByKey.get(texts[position]!) === position);
}

export function distinctKeyCount(operations: readonly MetastoreOperation[]): number {
  return new Set(operations.map((operation) => keyText(operation.key))).size;
}

/** A key as a Map key: one char per byte, so distinct byte strings stay distinct. */
function keyText(key: Uint8Array): string {
  // One fromCharCode call per chunk rather than one string concatenation per byte (a rope of
  // key.length pieces that the Map then flattens); chunked to stay within the engine's argument count.
  let text = '';
  for (let start = 0; start < key.length; start += KEY_TEXT_CHUNK_BYTES) {
    text += String.fromCharCode.apply(null, key.subarray(start, start + KEY_TEXT_CHUNK_BYTES) as unknown as number[]);
  }
  return text;
}

/** Bytes per String.fromCharCode call in keyText: far below any engine's limit on arguments. */
const KEY_TEXT_CHUNK_BYTES = 4096;

/** User keys are stored as they are; the view refuses reserved ones before they get here. */
function dataKey(key: Uint8Array): Uint8Array {
  return key;
}

function memberKey(nodeId: NodeId): Uint8Array {
  return uint32Key(MEMBER_PREFIX, nodeId);
}

function promotionKey(nodeId: NodeId): Uint8Array {
  return uint32Key(PROMOTION_PREFIX, nodeId);
}

function removedKey(nodeId: NodeId): Uint8Array {
  return uint32Key(REMOVED_PREFIX, nodeId);
}

/** The member records in the store, by node id. */
async function readMembers(store: KvStore): Promise<Map<NodeId, MemberRecord>> {
  const members = new Map<NodeId, MemberRecord>();
  for (const entry of await scanEverything(store, { prefix: MEMBER_PREFIX })) members.set(nodeIdOfKey(entry.key, MEMBER_PREFIX, 'member'), decodeMemberRecord(entry.value));
  return members;
}

async function readPromotions(store: KvStore): Promise<Set<NodeId>> {
  const promotions = new Set<NodeId>();
  for (const entry of await scanEverything(store, { prefix: PROMOTION_PREFIX })) promotions.add(nodeIdOfKey(entry.key, PROMOTION_PREFIX, 'promotion'));
  return promotions;
}

/** The removal records, by node id: the public key recorded with each, or undefined (none recorded). */
async function readRemovedNodes(store: KvStore): Promise<Map<NodeId, Uint8Array | undefined>> {
  const removed = new Map<NodeId, Uint8Array | undefined>();
  for (const entry of await scanEverything(store, { prefix: REMOVED_PREFIX })) {
    const nodeId = nodeIdOfKey(entry.key, REMOVED_PREFIX, 'removal');
    if (entry.value.byteLength !== 0 && entry.value.byteLength !== NODE_PUBLIC_KEY_BYTES) {
      throw new CorruptionError(`zone state: the removal record of node ${nodeId} holds ${entry.value.byteLength} bytes, neither empty nor a public key`);
    }
    removed.set(nodeId, entry.value.byteLength === 0 ? undefined : entry.value);
  }
  return removed;
}

/** `prefix` followed by `value` as a big-endian uint32, so that keys under a prefix sort by value. */
function uint32Key(prefix: Uint8Array, value: number): Uint8Array {
  const key = new Uint8Array(prefix.length + 4);
  key.set(prefix);
  new DataView(key.buffer).setUint32(prefix.length, value);
  return key;
}

/** The node id of a `what` record's key, `prefix` + u32 (uint32Key's inverse). */
function nodeIdOfKey(key: Uint8Array, prefix: Uint8Array, what: string): NodeId {
  if (key.length !== prefix.length + 4) throw new CorruptionError(`zone state: malformed ${what} key`);
  return new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(prefix.length);
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


