import { assert } from '../assert.ts';
import type { ResolvedMetastoreScan } from '../contracts/metastore-validation.ts';
import { type OperationLocations, type ReadBatch, keyTopAt, locateOperations } from './commit-log.ts';
import { type BufferedEntry, type FrozenEntries, keyPrefixAt } from './write-buffer.ts';

/**
 * The commits a store's opening read back from a commit log, kept as the log's own bytes with an
 * index sorted by key: a frozen write buffer that the first commit group checkpoints (see KvStore's
 * replayLogs). Read like a WriteBuffer: per key, the newest entry at or below a version.
 *
 * Why not a WriteBuffer: filling one costs an object per entry, a key and a value copied out of
 * the record, and an insert at a random place; opening a store whose log held 60,000 entries
 * (bench:kv's) spent 60-100 ms there, a third of it collecting the garbage of objects that all
 * survived. Here an entry is a few numbers in typed arrays, sorted once, and the records stay as
 * they were read; entries are made only for what a read or the checkpoint asks for. It is built
 * once per open, by code the JIT has not compiled yet: a few plain loops, no call per entry.
 *
 * Layout: entry `e` (in log order) is the key at `records[e]`[keyStarts[e], +keyLengths[e]) and
 * its value at valueStarts[e] (-1: deleted), written at versions[e]; keyTops[e] is its key's first
 * 4 bytes as a number, which searches compare first. `order` lists the entries in key order, a key's entries
 * oldest first. Positions (what the methods below take and return) are indexes into `order`.
 */
export class ReplayedRun implements FrozenEntries {
  readonly entryCount: number;
  /** A run never changes. */
  readonly layoutChanges = 0;
  readonly #entries: OperationLocations;
  readonly #order: Int32Array;

  /** The run of `batches`, in version order as a log holds them. The run keeps their records. */
  static fromBatches(batches: readonly ReadBatch[]): ReplayedRun {
    let count = 0;
    let previousVersion = 0;
    for (const batch of batches) {
      assert(batch.version > previousVersion, 'replayed batches come in version order');
      previousVersion = batch.version;
      count += batch.operationCount;
    }
    const entries: OperationLocations = {
      records: new Array<Uint8Array>(count),
      keyStarts: new Int32Array(count),
      keyLengths: new Int32Array(count),
      keyTops: new Uint32Array(count),
      valueStarts: new Int32Array(count),
      valueLengths: new Int32Array(count),
      versions: new Float64Array(count),
    };
    locateOperations(batches, entries);
    return new ReplayedRun(entries, sortedByKey(entries));
  }

  private constructor(entries: OperationLocations, order: Int32Array) {
    this.entryCount = order.length;
    this.#entries = entries;
    this.#order = order;
  }

  lookup(key: Uint8Array, version: number): BufferedEntry | undefined {
    const top = keyTop(key);
    const first = this.#lowerBound(key, top);
    if (first === this.entryCount || this.#compareKey(first, key, top) !== 0) return undefined;
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
    const { records, keyStarts, keyLengths } = this.#entries;
    const prefixes: number[] = [];
    for (let first = 0; first < this.entryCount; first = this.groupEnd(first)) {
      const entry = this.#order[first]!;
      prefixes.push(keyPrefixAt(records[entry]!, keyStarts[entry]!, keyLengths[entry]!));
    }
    return Float64Array.from(prefixes);
  }

  /** The entry at `position` as a BufferedEntry: views of its record, which nothing changes. @internal */
  entryAt(position: number): BufferedEntry {
    const entry = this.#order[position]!;
    const { records, keyStarts, keyLengths, valueStarts, valueLengths, versions } = this.#entries;
    const record = records[entry]!;
    const keyStart = keyStarts[entry]!;
    const valueStart = valueStarts[entry]!;
    return {
      key: record.subarray(keyStart, keyStart + keyLengths[entry]!),
      version: versions[entry]!,
      value: valueStart < 0 ? null : record.subarray(valueStart, valueStart + valueLengths[entry]!),
    };
  }

  /** The first position whose key is at or after `key`; entryCount when none is. @internal */
  lowerBound(key: Uint8Array): number {
    return this.#lowerBound(key, keyTop(key));
  }

  /** The position past the last of the key at `first` (its first position). @internal */
  groupEnd(first: number): number {
    let end = first + 1;
    while (end < this.entryCount && this.#sameKey(end, first)) end++;
    return end;
  }

  /** The first position of the key at `last` (its last position). @internal */
  groupStart(last: number): number {
    let first = last;
    while (first > 0 && this.#sameKey(first - 1, last)) first--;
    return first;
  }

  /** The newest of positions `first` to `end` (one key's) at or below `version`, -1 when none is. @internal */
  newestAtOrBelow(first: number, end: number, version: number): number {
    for (let position = end - 1; position >= first; position--) {
      if (this.#entries.versions[this.#order[position]!]! <= version) return position;
    }
    return -1;
  }

  /** compareBytes(key at `position`, key). @internal */
  compareKey(position: number, key: Uint8Array): number {
    return this.#compareKey(position, key, keyTop(key));
  }

  #lowerBound(key: Uint8Array, top: number): number {
    let low = 0;
    let high = this.entryCount;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#compareKey(middle, key, top) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Whether the entries at two positions have the same key. */
  #sameKey(left: number, right: number): boolean {
    const leftEntry = this.#order[left]!;
    const rightEntry = this.#order[right]!;
    return this.#entries.keyTops[leftEntry] === this.#entries.keyTops[rightEntry] && compareEntryKeys(this.#entries, leftEntry, rightEntry) === 0;
  }

  /** compareBytes(key at `position`, key), by their first 4 bytes when those differ (`top`: keyTop(key)). */
  #compareKey(position: number, key: Uint8Array, top: number): number {
    const entry = this.#order[position]!;
    const { records, keyStarts, keyLengths, keyTops } = this.#entries;
    const entryTop = keyTops[entry]!;
    if (entryTop !== top) return entryTop - top;
    return compareRanges(records[entry]!, keyStarts[entry]!, keyLengths[entry]!, key, 0, key.length);
  }
}

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

/** Entries `sortedByKey` orders by one numeric sort: their index takes a double's low 21 bits. */
const SORT_INDEX_BITS = 21;
const SORT_INDEX_SPAN = 2 ** SORT_INDEX_BITS;

/**
 * The entries in key order, a key's entries in log order (which is version order: a batch that
 * writes a key twice keeps its later write as the newer, as WriteBuffer.add does). Each entry is
 * one double, its key's first 4 bytes above its index, sorted by the typed array's own numeric
 * sort (native, no comparator calls: a comparator sort of 60,000 keys took 40-50 ms); only runs
 * whose first 4 bytes tie (keys with a common prefix, a key's versions) are sorted again by bytes.
 */
function sortedByKey(entries: OperationLocations): Int32Array {
  const { keyTops } = entries;
  const count = keyTops.length;
  const byKey = (left: number, right: number): number => keyTops[left]! - keyTops[right]! || compareEntryKeys(entries, left, right) || left - right;
  if (count >= SORT_INDEX_SPAN) return Int32Array.from(Array.from({ length: count }, (_, entry) => entry).sort(byKey));
  const packed = new Float64Array(count);
  for (let entry = 0; entry < count; entry++) packed[entry] = keyTops[entry]! * SORT_INDEX_SPAN + entry;
  packed.sort();
  const order = new Int32Array(count);
  // Runs of a tied first 4 bytes, as start and end pairs, found in the same pass.
  const ties: number[] = [];
  let runStart = 0;
  let runTop = -1;
  for (let position = 0; position < count; position++) {
    const top = Math.floor(packed[position]! / SORT_INDEX_SPAN);
    order[position] = packed[position]! - top * SORT_INDEX_SPAN;
    if (top === runTop) continue;
    if (position - runStart > 1) ties.push(runStart, position);
    runStart = position;
    runTop = top;
  }
  if (count - runStart > 1) ties.push(runStart, count);
  for (let tie = 0; tie < ties.length; tie += 2) order.subarray(ties[tie]!, ties[tie + 1]!).sort(byKey);
  return order;
}

function keyTop(key: Uint8Array): number {
  return keyTopAt(key, 0, key.length);
}

/** compareBytes of the keys of entries `left` and `right`. */
function compareEntryKeys(entries: OperationLocations, left: number, right: number): number {
  const { records, keyStarts, keyLengths } = entries;
  return compareRanges(records[left]!, keyStarts[left]!, keyLengths[left]!, records[right]!, keyStarts[right]!, keyLengths[right]!);
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
