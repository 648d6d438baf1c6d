import { assert } from '../assert.ts';
import type { MetastoreOperation } from '../contracts/metastore.ts';
import type { StorageFile } from '../contracts/storage-file.ts';
import { CorruptionError } from '../errors.ts';
import { COMMIT_LOGS_MAX, COMMIT_LOG_GROWTH_BYTES, COMMIT_LOG_RECORD_BYTES_MAX, COMMIT_LOG_SCRATCH_BYTES } from './constants.ts';
import { crc32c } from './crc32c.ts';
import { readUint53, writeUint53 } from './page-format.ts';

/**
 * The commit log: a second StorageFile that makes commits durable with one small sequential
 * write and one sync, instead of syncing the tree's pages.
 *
 * Why: a durable commit of the tree alone syncs every page it copied (a leaf, its branches, the
 * meta page) at scattered offsets; appending the commit's operations to a log and syncing that is
 * close to the cost of one 4 KiB write and sync, the floor of any durable commit. The commit's
 * entries go into the write buffer (write-buffer.ts), not the tree; a checkpoint now and then
 * merges the buffer into the tree, syncs the tree file, and lets the log start over.
 *
 * Layout: records one after another from offset 0. A record is
 * ```
 * length u32 (the whole record) | crc32c u32 (of every byte after it) | batch count u32
 * then per batch: version u64 | operation count u32
 *   then per operation: type u8 (1 put, 2 delete) | key length u32 | key | (put) value length u32 | value
 * ```
 * Integers are little-endian; versions are stored as page-format.ts stores them.
 *
 * Recovery reads records from offset 0 and stops at the first that is not whole (a torn or
 * never-written one: its length or checksum does not hold). After a checkpoint the log starts
 * over at offset 0, so behind the new records lie older ones: every one of those holds versions
 * the checkpoint covers, which replay skips (see `readCommitLog`). A record whose checksum holds
 * but whose contents do not parse is CorruptionError: that is damage, not an unfinished write.
 *
 * A crash may also leave whole records past the point where replay stops: unsynced records reach
 * the disk in any order, so one may be lost and a later one kept. Such a record holds commits
 * recovery found lost, at versions above the tree's, which the next commits would take again; had
 * it stayed, a later replay could read it as following them once they reached its offset. So a
 * log is never written again after the records replay read from it: opening empties every log
 * (`discard`, synced) once the tree holds what was replayed, and numbers new commits above every
 * version a whole record it read held; or, with two logs of which one gave every replayed batch,
 * new commits go to the other, emptied first, and the one replayed is emptied once a checkpoint
 * has merged its commits into the tree (see KvStore's replayLogs).
 *
 * A store may have two logs of this layout (KvStoreOptions.secondLog): commits go to one while a
 * checkpoint merges the commits of the other, which the engine synced before writing the first
 * record of the next. Recovery reads both in version order (`readCommitLogs`). The record layout is
 * the same; a store of one log opens with two as it was. A close of a store with two leaves the
 * commits since the last checkpoint in one of them for the next open to read back.
 */

/** One committed batch as the log keeps it: the version it got and what it changed. */
export interface LoggedBatch {
  version: number;
  operations: MetastoreOperation[];
}

const RECORD_HEADER_BYTES = 12;
const BATCH_HEADER_BYTES = 12;
const OPERATION_TYPE_PUT = 1;
const OPERATION_TYPE_DELETE = 2;
/** An operation's type and key length, before its key. */
export const OPERATION_HEADER_BYTES = 5;

/** Bytes `encodeLogRecord` makes of `batches`. */
export function logRecordBytes(batches: readonly LoggedBatch[]): number {
  let bytes = RECORD_HEADER_BYTES;
  for (const batch of batches) {
    bytes += BATCH_HEADER_BYTES;
    for (const operation of batch.operations) {
      bytes += OPERATION_HEADER_BYTES + operation.key.length + (operation.type === 'put' ? 4 + operation.value.length : 0);
    }
  }
  return bytes;
}

/**
 * The record of `batches`: written at the start of `scratch` when it fits there (a view of those
 * bytes is returned, valid until the next record goes there), else into a new buffer. `length`:
 * logRecordBytes(batches), for a caller that counted them already.
 */
export function encodeLogRecord(batches: readonly LoggedBatch[], scratch?: Uint8Array, length = logRecordBytes(batches)): Uint8Array {
  const record = scratch !== undefined && length <= scratch.length ? scratch.subarray(0, length) : new Uint8Array(length);
  const view = new DataView(record.buffer, record.byteOffset, record.length);
  view.setUint32(0, record.length, true);
  view.setUint32(8, batches.length, true);
  const end = encodeBatches(batches, record, view);
  assert(end === record.length, 'a log record fills exactly the bytes counted for it');
  view.setUint32(4, crc32c(record.subarray(8)), true);
  return record;
}

/**
 * Writes the batches of a record after its header; returns where they end. A function that ends
 * with its loop, for the reason assertMetastoreOperations gives: a large group's record got this
 * loop compiled while it ran, before the checksum after it ever had, and every later record then
 * deoptimized there (bench:kv: 78 times in its 100 transactions of 1,000 inserts).
 */
function encodeBatches(batches: readonly LoggedBatch[], record: Uint8Array, view: DataView): number {
  let offset = RECORD_HEADER_BYTES;
  for (const batch of batches) {
    writeUint53(view, offset, batch.version);
    view.setUint32(offset + 8, batch.operations.length, true);
    offset += BATCH_HEADER_BYTES;
    for (const operation of batch.operations) {
      view.setUint8(offset, operation.type === 'put' ? OPERATION_TYPE_PUT : OPERATION_TYPE_DELETE);
      view.setUint32(offset + 1, operation.key.length, true);
      record.set(operation.key, offset + OPERATION_HEADER_BYTES);
      offset += OPERATION_HEADER_BYTES + operation.key.length;
      if (operation.type === 'put') {
        view.setUint32(offset, operation.value.length, true);
        record.set(operation.value, offset + 4);
        offset += 4 + operation.value.length;
      }
    }
  }
  return offset;
}

/**
 * A batch as read back from a log: its version, and its operations left encoded in the record
 * (`locateOperations` finds them). Why not decoded: opening replays up to a whole log, and an
 * object, a key copy and a value copy per operation cost more in allocation and garbage collection
 * (a third of a replay of 60,000 operations) than reading the log did.
 */
export interface ReadBatch {
  version: number;
  operationCount: number;
  /** The whole record the batch is in, never changed, where it lies in its log, and where its operations lie in it. */
  record: Uint8Array;
  recordOffset: number;
  start: number;
  end: number;
}

/**
 * Where the operations of batches read back lie: one slot per operation, in log order (see
 * locateOperations). Three numbers an operation, where a decoded one was an object, two copies and
 * seven numbers: opening fills these for every operation of a log, before the JIT has compiled the
 * loop that does it, so every store counts (see ReplayedRun).
 */
export interface OperationLocations {
  /** The index in the batches of the operation's batch, which holds its record and version. */
  batchIndexes: Int32Array;
  /** Where the operation starts in its record (see operationAt). */
  offsets: Int32Array;
  /**
   * Numbers whose numeric order is the operations' order by their keys' first 4 bytes
   * (keyTopAt), then by slot, and whose low OPERATION_SLOT_BITS bits are the slot:
   * KEY_ORDER_BASE + keyTop * 2^OPERATION_SLOT_BITS + slot, all in [2^52, 2^53), where a double
   * holds every integer and its low mantissa bits are the number's low bits (see ReplayedRun).
   * Undefined: not wanted (more than OPERATION_SLOTS_MAX operations).
   */
  keyOrder: Float64Array | undefined;
}

/** Slots locateOperations numbers in OperationLocations.keyOrder: 32 bits of key and 20 of slot fill a double's 52-bit mantissa. */
export const OPERATION_SLOT_BITS = 20;
export const OPERATION_SLOTS_MAX = 2 ** OPERATION_SLOT_BITS;
/** 2^52: the keyOrder numbers' least, from which a double's least significant bit is worth 1. */
export const KEY_ORDER_BASE = 2 ** 52;

/**
 * Writes where each operation of `batches` lies into `into`, in order, checking that each lies
 * inside its batch and the last ends it (CorruptionError otherwise: see parseLogRecord). One loop
 * over every operation and no call per operation: it runs once per open, before the JIT has
 * compiled much of anything.
 */
export function locateOperations(batches: readonly ReadBatch[], into: OperationLocations): void {
  const { batchIndexes, offsets, keyOrder } = into;
  assert(keyOrder === undefined || keyOrder.length <= OPERATION_SLOTS_MAX, 'keyOrder numbers at most OPERATION_SLOTS_MAX slots');
  let slot = 0;
  for (let batchIndex = 0; batchIndex < batches.length; batchIndex++) {
    const batch = batches[batchIndex]!;
    const { record, end } = batch;
    const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
    const corrupt = (what: string): never => {
      throw new CorruptionError(`the commit log record at offset ${batch.recordOffset} is malformed: ${what}`);
    };
    let offset = batch.start;
    for (let index = 0; index < batch.operationCount; index++) {
      if (offset + OPERATION_HEADER_BYTES > end) corrupt('an operation runs past its batch');
      const type = record[offset]!;
      const keyStart = offset + OPERATION_HEADER_BYTES;
      const keyEnd = keyStart + view.getUint32(offset + 1, true);
      if (keyEnd > end) corrupt('a key runs past its batch');
      batchIndexes[slot] = batchIndex;
      offsets[slot] = offset;
      if (keyOrder !== undefined) {
        const keyTop =
          keyEnd - keyStart >= 4
            ? ((record[keyStart]! << 24) | (record[keyStart + 1]! << 16) | (record[keyStart + 2]! << 8) | record[keyStart + 3]!) >>> 0
            : keyTopAt(record, keyStart, keyEnd - keyStart);
        keyOrder[slot] = KEY_ORDER_BASE + keyTop * OPERATION_SLOTS_MAX + slot;
      }
      if (type === OPERATION_TYPE_DELETE) {
        offset = keyEnd;
      } else {
        if (type !== OPERATION_TYPE_PUT) corrupt(`operation type ${type}`);
        if (keyEnd + 4 > end) corrupt('a value length runs past its batch');
        offset = keyEnd + 4 + view.getUint32(keyEnd, true);
        if (offset > end) corrupt('a value runs past its batch');
      }
      slot++;
    }
    if (offset !== end) corrupt(`${end - offset} bytes after the last operation of a batch`);
  }
}

/** The operation at `offset` in `record`, which locateOperations checked: where its key and value lie (valueStart -1: a delete). */
export function operationAt(record: Uint8Array, offset: number): { keyStart: number; keyLength: number; valueStart: number; valueLength: number } {
  const keyStart = offset + OPERATION_HEADER_BYTES;
  const keyLength = operationKeyLength(record, offset);
  if (record[offset] === OPERATION_TYPE_DELETE) return { keyStart, keyLength, valueStart: -1, valueLength: 0 };
  const keyEnd = keyStart + keyLength;
  return { keyStart, keyLength, valueStart: keyEnd + 4, valueLength: uint32At(record, keyEnd) };
}

/** The length of the key of the operation at `offset` in `record` (it starts at offset + OPERATION_HEADER_BYTES). */
export function operationKeyLength(record: Uint8Array, offset: number): number {
  return uint32At(record, offset + 1);
}

/** The little-endian u32 at `at` in `bytes`, read without making a DataView over them. */
function uint32At(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** The first 4 bytes of the key `bytes`[start, +length) as a big-endian number, a shorter key padded with zeros (OperationLocations.keyOrder). */
function keyTopAt(bytes: Uint8Array, start: number, length: number): number {
  let top = 0;
  for (let index = 0; index < 4; index++) top = top * 256 + (index < length ? bytes[start + index]! : 0);
  return top;
}

/**
 * The batches of a whole record (its checksum already held); CorruptionError when they do not
 * parse. Only the operations of a batch that another follows are walked here, to find where the
 * next starts; the last batch (a record's only one, for a group of one commit) ends where the
 * record does, and locateOperations checks its operations when they are replayed. A record that
 * replay passes over is never looked into further.
 */
function parseLogRecord(record: Uint8Array, offsetInLog: number): ReadBatch[] {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const corrupt = (what: string): never => {
    throw new CorruptionError(`the commit log record at offset ${offsetInLog} is malformed: ${what}`);
  };
  const need = (offset: number, bytes: number): void => {
    if (offset + bytes > record.length) corrupt(`a field of ${bytes} bytes runs past its end`);
  };
  const batchCount = view.getUint32(8, true);
  if (batchCount === 0) corrupt('no batch');
  const batches: ReadBatch[] = [];
  let offset = RECORD_HEADER_BYTES;
  let previousVersion = 0;
  for (let batchIndex = 0; batchIndex < batchCount; batchIndex++) {
    need(offset, BATCH_HEADER_BYTES);
    const version = readUint53(view, offset);
    if (version <= previousVersion) corrupt(`version ${version} does not follow ${previousVersion}`);
    previousVersion = version;
    const operationCount = view.getUint32(offset + 8, true);
    offset += BATCH_HEADER_BYTES;
    const start = offset;
    if (batchIndex === batchCount - 1) {
      offset = record.length;
    } else {
      for (let operationIndex = 0; operationIndex < operationCount; operationIndex++) {
        need(offset, OPERATION_HEADER_BYTES);
        const type = view.getUint8(offset);
        const keyLength = view.getUint32(offset + 1, true);
        need(offset + OPERATION_HEADER_BYTES, keyLength);
        offset += OPERATION_HEADER_BYTES + keyLength;
        if (type === OPERATION_TYPE_DELETE) continue;
        if (type !== OPERATION_TYPE_PUT) corrupt(`operation type ${type}`);
        need(offset, 4);
        offset += 4 + view.getUint32(offset, true);
        need(offset, 0);
      }
    }
    batches.push({ version, operationCount, record, recordOffset: offsetInLog, start, end: offset });
  }
  return batches;
}

/**
 * The batches logged after version `afterVersion`, in order, and the highest version any whole
 * record it read holds (replayed or not), or `afterVersion`.
 * Records wholly at or below `afterVersion` are passed over (older than the recovered tree, or
 * left behind the current records by an earlier round of the log); the first batch above it must
 * continue it exactly (`afterVersion + 1`), and so must each one after. Reading stops at the first
 * record that is not whole, or that does not continue the versions.
 */
export async function readCommitLog(file: StorageFile, afterVersion: number): Promise<ReadCommitLog> {
  const reader = new LogReader(file, await file.size());
  const batches: ReadBatch[] = [];
  let expected = afterVersion + 1;
  let versionMax = afterVersion;
  let offset = 0;
  for (;;) {
    const whole = await reader.wholeRecord(offset);
    if (whole === undefined) break;
    const { length, batches: recordBatches } = whole;
    versionMax = Math.max(versionMax, recordBatches.at(-1)!.version);
    if (recordBatches.at(-1)!.version < expected) {
      // Wholly replayed already: older than the tree, or a record of an earlier round of the log.
      // Right after the records replayed, it marks the end of this round.
      if (batches.length > 0) break;
      offset += length;
      continue;
    }
    // A record may straddle the tree's version: a replay regroups batches before its checkpoint.
    const fresh = recordBatches.filter((batch) => batch.version >= expected);
    if (fresh[0]!.version !== expected) break;
    for (const batch of fresh) {
      if (batch.version !== expected) throw new CorruptionError(`the commit log record at offset ${offset} skips version ${expected}`);
      batches.push(batch);
      expected++;
    }
    offset += length;
  }
  return { batches, versionMax };
}

/** What reading commit logs found (see `readCommitLog`). */
export interface ReadCommitLog {
  batches: ReadBatch[];
  versionMax: number;
}

/** What reading a store's commit logs found: also which logs gave batches, in the order read. */
export interface ReadCommitLogs extends ReadCommitLog {
  replayedLogs: number[];
}

/** Bytes a LogReader reads at a time: a log is read in a few large reads, not two per record. */
const LOG_READ_WINDOW_BYTES = 1024 * 1024;

/**
 * Reads a log's records from a window of its bytes, read LOG_READ_WINDOW_BYTES at a time (more
 * when a record is larger). The records it returns are views of the window, which no one writes.
 */
class LogReader {
  readonly #file: StorageFile;
  readonly #sizeBytes: number;
  #window: Uint8Array = new Uint8Array(0);
  #windowOffset = 0;

  constructor(file: StorageFile, sizeBytes: number) {
    this.#file = file;
    this.#sizeBytes = sizeBytes;
  }

  /** The record at `offset` when it is whole (its length and checksum hold), undefined otherwise. */
  async wholeRecord(offset: number): Promise<{ length: number; batches: ReadBatch[] } | undefined> {
    if (offset + RECORD_HEADER_BYTES > this.#sizeBytes) return undefined;
    const header = await this.#bytes(offset, RECORD_HEADER_BYTES);
    const headerView = new DataView(header.buffer, header.byteOffset, header.byteLength);
    const length = headerView.getUint32(0, true);
    if (length < RECORD_HEADER_BYTES || length > COMMIT_LOG_RECORD_BYTES_MAX || offset + length > this.#sizeBytes) return undefined;
    const record = await this.#bytes(offset, length);
    if (crc32c(record.subarray(8)) !== headerView.getUint32(4, true)) return undefined;
    return { length, batches: parseLogRecord(record, offset) };
  }

  /** `length` bytes at `offset` (inside the file), from the window, read again when they are not in it. */
  async #bytes(offset: number, length: number): Promise<Uint8Array> {
    const start = offset - this.#windowOffset;
    if (start < 0 || start + length > this.#window.length) {
      this.#windowOffset = offset;
      this.#window = await this.#file.read(offset, Math.min(Math.max(length, LOG_READ_WINDOW_BYTES), this.#sizeBytes - offset));
      return this.#window.subarray(0, length);
    }
    return this.#window.subarray(start, start + length);
  }
}

/**
 * The batches of several commit logs after version `afterVersion`, in version order, and the
 * highest version any whole record read in them holds (see `readCommitLog`). A store with two logs (see KvStoreOptions.secondLog) writes one while a
 * checkpoint merges the commits of the other, so either may hold the older commits: each log is
 * read after the versions the others gave until none continues them (at most one pass per log,
 * since each log's commits are one run of versions). Reading a log twice finds the same batches,
 * so replay is idempotent.
 *
 * A log whose first record is whole and above the versions replayed, but does not continue them,
 * is CorruptionError: the engine syncs a log before it writes the other, so the other's first
 * record is never there without the commits before it.
 */
export async function readCommitLogs(files: readonly StorageFile[], afterVersion: number): Promise<ReadCommitLogs> {
  assert(files.length >= 1 && files.length <= COMMIT_LOGS_MAX, `a store has 1 to ${COMMIT_LOGS_MAX} commit logs`);
  const batches: ReadBatch[] = [];
  const replayedLogs: number[] = [];
  const read = new Set<number>();
  let lastVersion = afterVersion;
  let versionMax = afterVersion;
  for (let pass = 0; pass < files.length; pass++) {
    let progressed = false;
    for (let index = 0; index < files.length; index++) {
      if (read.has(index)) continue;
      const logged = await readCommitLog(files[index]!, lastVersion);
      versionMax = Math.max(versionMax, logged.versionMax);
      if (logged.batches.length === 0) continue;
      read.add(index);
      replayedLogs.push(index);
      for (const batch of logged.batches) batches.push(batch);
      lastVersion = logged.batches.at(-1)!.version;
      progressed = true;
    }
    if (!progressed) break;
  }
  for (let index = 0; index < files.length; index++) {
    if (read.has(index)) continue;
    const file = files[index]!;
    const first = await new LogReader(file, await file.size()).wholeRecord(0);
    const firstVersion = first?.batches[0]!.version;
    if (firstVersion !== undefined && firstVersion > lastVersion + 1) {
      throw new CorruptionError(`commit log ${index} starts at version ${firstVersion}, but the commits before it end at ${lastVersion}`);
    }
  }
  return { batches, versionMax, replayedLogs };
}

/**
 * Appends records to the log file and syncs it. One writer (the engine's commit loop); records
 * go one after another from offset 0 (opening replays and checkpoints whatever the log held, so a
 * new log always starts there), and `restart()` starts over at offset 0 once a checkpoint
 * made everything logged durable in the tree. The file is extended (truncate, zeros that are
 * not written) ahead of the records in steps of COMMIT_LOG_GROWTH_BYTES and never shrunk, so most
 * appends write inside the file, and their sync has no file size to record.
 */
export class CommitLog {
  readonly file: StorageFile;
  /**
   * Where `appendRecord` encodes: one buffer for the log's life, not one per commit. Why: a new
   * buffer per record (memory outside the JavaScript heap, allocated and freed per commit) cost a
   * lone durable commit about 5 us (measured in 4 interleaved runs: the JavaScript between two
   * commits' syncs took 33-36 us with a new buffer per record, 28-32 us with this one).
   */
  readonly #scratch = new Uint8Array(COMMIT_LOG_SCRATCH_BYTES);
  #tailBytes = 0;
  #sizeBytes: number;
  /** Whether records were appended since the last sync. */
  #unsynced = false;

  /** `sizeBytes`: the file's size, which the log grows ahead of its records but never shrinks. */
  constructor(file: StorageFile, options: { sizeBytes: number }) {
    this.file = file;
    this.#sizeBytes = options.sizeBytes;
  }

  get tailBytes(): number {
    return this.#tailBytes;
  }

  get unsynced(): boolean {
    return this.#unsynced;
  }

  /**
   * Appends the record of `batches`, encoded into the log's own buffer: the file copies or is
   * done with a write's bytes when it resolves (StorageFile), and the one writer awaits each append
   * before it encodes the next. `recordBytes`: logRecordBytes(batches), which the writer counted to
   * decide whether the group is logged at all (encoding checks that it fills exactly that many).
   */
  appendRecord(batches: readonly LoggedBatch[], recordBytes: number): Promise<void> {
    return this.#append(encodeLogRecord(batches, this.#scratch, recordBytes));
  }

  /**
   * Not async itself: the file's write promise is handed back as it is, one promise and one turn
   * less per commit. The tail moves before the write lands, which is safe because nothing appends
   * after a failed write: the store stops at its first I/O error.
   */
  #append(record: Uint8Array): Promise<void> {
    assert(record.length <= COMMIT_LOG_RECORD_BYTES_MAX, 'a log record fits the record limit');
    const end = this.#tailBytes + record.length;
    if (end > this.#sizeBytes) return this.#grow(end).then(() => this.#append(record));
    const writing = this.file.write(this.#tailBytes, record);
    this.#tailBytes = end;
    this.#unsynced = true;
    return writing;
  }

  /**
   * Extends the file past `end`, with zeros that are not written: a record never ends where a
   * stale one's header could be read as whole. Extended, not written: a sync then records a new
   * size instead of flushing the zeros (a MiB of written zeros made the next sync 1.2-1.6 ms
   * instead of 0.2 ms), and appends after land inside the file, whose syncs cost no more than
   * inside written zeros.
   */
  async #grow(end: number): Promise<void> {
    const grownBytes = end + COMMIT_LOG_GROWTH_BYTES;
    await this.file.truncate(grownBytes);
    this.#sizeBytes = grownBytes;
  }

  sync(): Promise<void> {
    this.#unsynced = false;
    return this.file.sync();
  }

  /**
   * Starts the log over: call only once everything logged is durable in the tree. The header at
   * offset 0 is zeroed, so a reopen reads nothing until a new record is written there.
   */
  async restart(): Promise<void> {
    this.#tailBytes = 0;
    this.#unsynced = false;
    if (this.#sizeBytes >= RECORD_HEADER_BYTES) await this.file.write(0, new Uint8Array(RECORD_HEADER_BYTES));
  }

  /**
   * Empties the log file (truncated to 0 bytes), so no record stays behind, whole or not, for a
   * later replay to read after new ones; `sync`: made durable before it returns. Call only once
   * everything logged is durable in the tree. An empty file is left alone, unsynced.
   */
  async discard(options: { sync: boolean }): Promise<void> {
    this.#tailBytes = 0;
    if (this.#sizeBytes === 0) return;
    await this.file.truncate(0);
    this.#sizeBytes = 0;
    this.#unsynced = true;
    if (options.sync) await this.sync();
  }
}
