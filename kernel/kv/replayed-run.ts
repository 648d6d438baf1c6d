import { assert } from '../assert.ts';
import type { ResolvedMetastoreScan } from '../contracts/metastore-validation.ts';
import {
  KEY_ORDER_BASE,
  OPERATION_HEADER_BYTES,
  OPERATION_SLOTS_MAX,
  type OperationLocations,
  type ReadBatch,
  locateOperations,
  operationAt,
  operationKeyLength,
} from './commit-log.ts';
import { type BufferedEntry, type FrozenEntries, keyPrefixAt } from './write-buffer.ts';

/**
 * The commits a store's opening read back from a commit log, kept as the log's own bytes with an
 * index sorted by key: a frozen write buffer that the first commit group checkpoints (see KvStore's
 * replayLogs). Read like a WriteBuffer: per key, the newest entry at or below a version.
 *
 * Why not a WriteBuffer: filling one costs an object per entry, a key and a value copied out of
 * the record, and an insert at a random place; opening a store whose log held 60,000 entries
 * (bench:kv's) spent 60-100 ms there, a third of it collecting the garbage of objects that all
 * survived. Here an entry is three numbers in typed arrays, sorted once by the platform's native
 * numeric sort, and the records stay as they were read; entries are made only for what a read or
 * the checkpoint asks for. It is built once per open, by code the JIT has not compiled yet (V8
 * compiles it on its other thread, which bench:kv saw finish after the open had): per entry, one
 * loop of a few stores (locateOperations) and one that finds ties (pushTies), and for keys that share
 * their first 4 bytes a few passes more (#sortTies), no call per entry.
 *
 * Layout: entry `e` (in log order) is the operation at offsets[e] in the record of batch
 * batchIndexes[e], written at that batch's version. The index lists the entries in key order, a
 * key's entries oldest first: the entry at position `p` is
 * `order[p * orderStride + orderWord] & orderMask`. Up to OPERATION_SLOTS_MAX entries it is the
 * sorted OperationLocations.keyOrder numbers themselves, read as 32-bit words: the low word of each
 * double holds its entry in its low bits, so no pass unpacks them. Positions (what the methods
 * below take and return) are indexes into the index.
 */
export class ReplayedRun implements FrozenEntries {
  readonly entryCount: number;
  /** A run never changes. */
  readonly layoutChanges = 0;
  /** Per batch: its record and version. */
  readonly #records: Uint8Array[];
  readonly #versions: Float64Array;
  /** Per entry: its batch and where its operation starts in that batch's record. */
  readonly #batchIndexes: Int32Array;
  readonly #offsets: Int32Array;
  readonly #order: Int32Array;
  readonly #orderStride: number;
  readonly #orderWord: number;
  readonly #orderMask: number;

  /**
   * The run of `batches`, in version order as a log holds them. The run keeps their records.
   * `packedEntriesMax` (tests only): above this many entries, the index is sorted by a compare
   * function into an array of its own, as it is above OPERATION_SLOTS_MAX.
   */
  static fromBatches(batches: readonly ReadBatch[], packedEntriesMax = OPERATION_SLOTS_MAX): ReplayedRun {
    let count = 0;
    let previousVersion = 0;
    const records: Uint8Array[] = [];
    const versions = new Float64Array(batches.length);
    for (let index = 0; index < batches.length; index++) {
      const batch = batches[index]!;
      assert(batch.version > previousVersion, 'replayed batches come in version order');
      previousVersion = batch.version;
      records.push(batch.record);
      versions[index] = batch.version;
      count += batch.operationCount;
    }
    const packed = count <= Math.min(packedEntriesMax, OPERATION_SLOTS_MAX);
    const entries: OperationLocations = {
      batchIndexes: new Int32Array(count),
      offsets: new Int32Array(count),
      keyOrder: packed ? new Float64Array(count) : undefined,
    };
    locateOperations(batches, entries);
    return new ReplayedRun(records, versions, entries);
  }

  private constructor(records: Uint8Array[], versions: Float64Array, entries: OperationLocations) {
    this.#records = records;
    this.#versions = versions;
    this.#batchIndexes = entries.batchIndexes;
    this.#offsets = entries.offsets;
    this.entryCount = entries.offsets.length;
    const { keyOrder } = entries;
    if (keyOrder === undefined) {
      const order = Int32Array.from({ length: this.entryCount }, (_, entry) => entry);
      this.#order = order.sort((left, right) => this.#compareEntries(left, right) || left - right);
      this.#orderStride = 1;
      this.#orderWord = 0;
      this.#orderMask = -1;
    } else {
      // Sorted as the 64-bit unsigned integers their bits are: for doubles of one sign, the same
      // order, and the native integer sort takes 2.8 ms for bench:kv's 60,000 where the double
      // sort (which orders NaN and -0) takes 4.3.
      new BigUint64Array(keyOrder.buffer, keyOrder.byteOffset, keyOrder.length).sort();
      this.#order = new Int32Array(keyOrder.buffer, keyOrder.byteOffset, keyOrder.length * 2);
      this.#orderStride = 2;
      this.#orderWord = LOW_WORD;
      this.#orderMask = OPERATION_SLOTS_MAX - 1;
      // The numeric sort put the entries of keys that share their first 4 bytes in log order.
      const ties: number[] = [];
      pushTies(keyOrder, 0, 4, ties);
      this.#sortTies(keyOrder, ties);
    }
  }

  lookup(key: Uint8Array, version: number): BufferedEntry | undefined {
    const first = this.lowerBound(key);
    if (first === this.entryCount || this.compareKey(first, key) !== 0) return undefined;
    const newest = this.newestAtOrBelow(first, this.groupEnd(first), version);
    return newest < 0 ? undefined : this.entryAt(newest);
  }

  cursor(scan: ResolvedMetastoreScan, version: number): ReplayedRunCursor {
    return new ReplayedRunCursor(this, scan, version);
  }

  /** Every key's newest entry, in key order. */
  *newestEntries(): Generator<BufferedEntry> {
    for (let first = 0; first < this.entryCount; ) {
      const end = this.groupEnd(first);
      yield this.entryAt(end - 1);
      first = end;
    }
  }

  /** keyPrefix of every key, in key order (as newestEntries yields them): for a checkpoint, not at open. */
  keyPrefixes(): Float64Array {
    const prefixes: number[] = [];
    for (let first = 0; first < this.entryCount; first = this.groupEnd(first)) {
      const entry = this.#entryAt(first);
      const record = this.#records[this.#batchIndexes[entry]!]!;
      const offset = this.#offsets[entry]!;
      prefixes.push(keyPrefixAt(record, offset + OPERATION_HEADER_BYTES, operationKeyLength(record, offset)));
    }
    return Float64Array.from(prefixes);
  }

  /** The entry at `position` as a BufferedEntry: views of its record, which nothing changes. @internal */
  entryAt(position: number): BufferedEntry {
    const entry = this.#entryAt(position);
    const batchIndex = this.#batchIndexes[entry]!;
    const record = this.#records[batchIndex]!;
    const { keyStart, keyLength, valueStart, valueLength } = operationAt(record, this.#offsets[entry]!);
    return {
      key: record.subarray(keyStart, keyStart + keyLength),
      version: this.#versions[batchIndex]!,
      value: valueStart < 0 ? null : record.subarray(valueStart, valueStart + valueLength),
    };
  }

  /** The first position whose key is at or after `key`; entryCount when none is. @internal */
  lowerBound(key: Uint8Array): number {
    let low = 0;
    let high = this.entryCount;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compareKey(middle, key) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The position past the last of the key at `first` (its first position). @internal */
  groupEnd(first: number): number {
    let end = first + 1;
    while (end < this.entryCount && this.#compareEntries(this.#entryAt(end), this.#entryAt(first)) === 0) end++;
    return end;
  }

  /** The first position of the key at `last` (its last position). @internal */
  groupStart(last: number): number {
    let first = last;
    while (first > 0 && this.#compareEntries(this.#entryAt(first - 1), this.#entryAt(last)) === 0) first--;
    return first;
  }

  /** The newest of positions `first` to `end` (one key's) at or below `version`, -1 when none is. @internal */
  newestAtOrBelow(first: number, end: number, version: number): number {
    for (let position = end - 1; position >= first; position--) {
      if (this.#versions[this.#batchIndexes[this.#entryAt(position)]!]! <= version) return position;
    }
    return -1;
  }

  /** compareBytes(key at `position`, key). @internal */
  compareKey(position: number, key: Uint8Array): number {
    const entry = this.#entryAt(position);
    const record = this.#records[this.#batchIndexes[entry]!]!;
    const offset = this.#offsets[entry]!;
    return compareRanges(record, offset + OPERATION_HEADER_BYTES, operationKeyLength(record, offset), key, 0, key.length);
  }

  #entryAt(position: number): number {
    return this.#order[position * this.#orderStride + this.#orderWord]! & this.#orderMask;
  }

  /** compareBytes of the keys of entries `left` and `right`. */
  #compareEntries(left: number, right: number): number {
    const leftRecord = this.#records[this.#batchIndexes[left]!]!;
    const rightRecord = this.#records[this.#batchIndexes[right]!]!;
    const leftOffset = this.#offsets[left]!;
    const rightOffset = this.#offsets[right]!;
    return compareRanges(
      leftRecord,
      leftOffset + OPERATION_HEADER_BYTES,
      operationKeyLength(leftRecord, leftOffset),
      rightRecord,
      rightOffset + OPERATION_HEADER_BYTES,
      operationKeyLength(rightRecord, rightOffset),
    );
  }

  /**
   * Sorts each run of positions `runs` lists (start, end, and `sharedAtLeast`: its keys share their
   * first that many bytes, zero-padded; see pushTies) by key, a key's entries in log order. A run's keys are sorted by
   * their 4 bytes after all the bytes they share, the way the whole index was by the first 4 (one
   * native numeric sort), and the runs that tie again go on to the 4 after those: keys that share
   * long prefixes, as a file system's paths do ('E\0home\0agent\0...'), would otherwise leave most
   * of a log in one run for a compare function (bench: 60,000 such keys took 72-119 ms to index,
   * against 6-39 ms for random ones). Runs of few entries, or whose keys are all used up, take the
   * compare function, which also tells apart keys that differ only by trailing zeros.
   */
  #sortTies(keyOrder: Float64Array, runs: number[]): void {
    // Plain loops over typed arrays, no call per entry: like locateOperations, this runs at open,
    // before the JIT has compiled it (a call per entry per pass cost 60-90 ms on 60,000 paths).
    const order = this.#order;
    const orderMask = this.#orderMask;
    const records = this.#records;
    const batchIndexes = this.#batchIndexes;
    const offsets = this.#offsets;
    while (runs.length > 0) {
      const sharedAtLeast = runs.pop()!;
      const end = runs.pop()!;
      const start = runs.pop()!;
      const length = end - start;
      const entries = new Int32Array(length);
      const keyStarts = new Int32Array(length);
      const keyLengths = new Int32Array(length);
      const runRecords = new Array<Uint8Array>(length);
      let longest = 0;
      for (let index = 0; index < length; index++) {
        const entry = order[(start + index) * 2 + LOW_WORD]! & orderMask;
        const record = records[batchIndexes[entry]!]!;
        const offset = offsets[entry]!;
        const keyLength = (record[offset + 1]! | (record[offset + 2]! << 8) | (record[offset + 3]! << 16) | (record[offset + 4]! << 24)) >>> 0;
        entries[index] = entry;
        runRecords[index] = record;
        keyStarts[index] = offset + OPERATION_HEADER_BYTES;
        keyLengths[index] = keyLength;
        if (keyLength > longest) longest = keyLength;
      }
      // The bytes all the run's keys share (beyond the zeros past a key's end), so no pass sorts by them.
      const firstRecord = runRecords[0]!;
      const firstKeyStart = keyStarts[0]!;
      let shared = keyLengths[0]!;
      for (let index = 1; index < length; index++) {
        const record = runRecords[index]!;
        const keyStart = keyStarts[index]!;
        if (keyLengths[index]! < shared) shared = keyLengths[index]!;
        let byte = sharedAtLeast;
        while (byte < shared && record[keyStart + byte] === firstRecord[firstKeyStart + byte]) byte++;
        shared = byte;
      }
      if (length <= COMPARE_SORT_RUN_MAX || shared >= longest) {
        const run = Array.from(entries).sort((left, right) => this.#compareEntries(left, right) || left - right);
        // Only a number's entry bits are read from here on (#entryAt).
        for (let index = 0; index < length; index++) keyOrder[start + index] = KEY_ORDER_BASE + run[index]!;
        continue;
      }
      // Each key's 4 bytes after `shared` (zeros past its end), above its entry, as keyOrder is made.
      const digits = new Float64Array(length);
      for (let index = 0; index < length; index++) {
        const record = runRecords[index]!;
        const from = keyStarts[index]! + shared;
        const left = keyLengths[index]! - shared;
        const digit =
          (left > 0 ? record[from]! * 0x1000000 : 0) + (left > 1 ? record[from + 1]! << 16 : 0) + (left > 2 ? record[from + 2]! << 8 : 0) + (left > 3 ? record[from + 3]! : 0);
        digits[index] = KEY_ORDER_BASE + digit * OPERATION_SLOTS_MAX + entries[index]!;
      }
      new BigUint64Array(digits.buffer).sort();
      // Each number's low bits are its entry, all #entryAt reads of it.
      keyOrder.set(digits, start);
      pushTies(digits, start, shared + 4, runs);
    }
  }
}

/**
 * Pushes onto `runs` the runs of `sorted` (numbers as OperationLocations.keyOrder makes them, of
 * positions from `start` on) whose digits, the bits above the entry, tie: their keys share
 * `sharedAtLeast` bytes, zero-padded (see ReplayedRun's #sortTies).
 */
function pushTies(sorted: Float64Array, start: number, sharedAtLeast: number, runs: number[]): void {
  let tieStart = 0;
  let tieDigit = -1;
  for (let index = 0; index <= sorted.length; index++) {
    const digit = index < sorted.length ? Math.floor(sorted[index]! / OPERATION_SLOTS_MAX) : -1;
    if (digit === tieDigit) continue;
    if (index - tieStart > 1) runs.push(start + tieStart, start + index, sharedAtLeast);
    tieStart = index;
    tieDigit = digit;
  }
}

/** Runs of at most this many entries whose keys share their first bytes are sorted by a compare function (see #sortTies). */
const COMPARE_SORT_RUN_MAX = 8;

/** Which 32-bit word of a double (as its platform stores it) holds its low bits. */
const LOW_WORD = new Uint8Array(Float64Array.of(1).buffer)[7] === 0x3f ? 0 : 1;

/**
 * Walks a run's entries in a scan's range at one version, in its direction: per key, the newest
 * entry at or below the version (deletes included); keys with none are passed over.
 */
export class ReplayedRunCursor {
  readonly #run: ReplayedRun;
  readonly #scan: ResolvedMetastoreScan;
  readonly #version: number;
  /** Forward: the first position of the next key; reverse: its last (-1: none left). */
  #position: number;

  constructor(run: ReplayedRun, scan: ResolvedMetastoreScan, version: number) {
    this.#run = run;
    this.#scan = scan;
    this.#version = version;
    if (!scan.reverse) this.#position = scan.start === undefined ? 0 : run.lowerBound(scan.start);
    else this.#position = (scan.end === undefined ? run.entryCount : run.lowerBound(scan.end)) - 1;
  }

  next(): BufferedEntry | undefined {
    const run = this.#run;
    for (;;) {
      if (this.#position < 0 || this.#position >= run.entryCount) return undefined;
      let first: number;
      let end: number;
      if (this.#scan.reverse) {
        first = run.groupStart(this.#position);
        end = this.#position + 1;
        if (this.#scan.start !== undefined && run.compareKey(first, this.#scan.start) < 0) return this.#finish();
        this.#position = first - 1;
      } else {
        first = this.#position;
        end = run.groupEnd(first);
        if (this.#scan.end !== undefined && run.compareKey(first, this.#scan.end) >= 0) return this.#finish();
        this.#position = end;
      }
      const newest = run.newestAtOrBelow(first, end, this.#version);
      if (newest >= 0) return run.entryAt(newest);
    }
  }

  #finish(): undefined {
    this.#position = -1;
    return undefined;
  }
}

/** compareBytes of `a`[aStart, +aLength) and `b`[bStart, +bLength), without making views of them. */
function compareRanges(a: Uint8Array, aStart: number, aLength: number, b: Uint8Array, bStart: number, bLength: number): number {
  const length = Math.min(aLength, bLength);
  for (let index = 0; index < length; index++) {
    const difference = a[aStart + index]! - b[bStart + index]!;
    if (difference !== 0) return difference;
  }
  return aLength - bLength;
}
