import { assert } from '../assert.ts';
import { compareBytes } from '../contracts/bytes.ts';
import type { ResolvedMetastoreScan } from '../contracts/metastore-validation.ts';
import type { BatchTarget } from './commit-group.ts';
import { WRITE_BUFFER_CHUNK_KEYS_MAX, WRITE_BUFFER_ENTRY_OVERHEAD_BYTES } from './constants.ts';

/**
 * The write buffer of a store with a commit log: the commits since the last checkpoint, in key
 * order, every version of every key kept, deletes as tombstones.
 *
 * Why: a commit that changed the tree copied and re-encoded a 4 KiB leaf for every key it touched,
 * so 1,000 random inserts cost 1,000 leaves. A commit now only appends its record to the log and
 * adds its entries here; a checkpoint merges the whole buffer into the tree in key order, so each
 * leaf is rewritten once per checkpoint instead of once per commit (an LSM's memtable over a
 * copy-on-write B+tree).
 *
 * Versions: a reader reads the buffer at the version of the state it pinned and sees, per key, the
 * newest entry at or below it, so entries added by later commits are invisible to it. Older
 * entries stay until the checkpoint, bounded with the rest by the buffer's size limit. Entries of a
 * commit group are added before the group is published (earlier batches' writes are what later
 * batches' preconditions check), at versions above every published one; `discardUnpublished`
 * takes them out again when the group fails, and `publish` makes them final.
 *
 * A buffer is written only by the engine's commit loop and only until its checkpoint; then the
 * engine starts a new one and the old one, which readers pinned before the checkpoint may still
 * read, never changes again.
 *
 * Layout: sorted chunks of at most WRITE_BUFFER_CHUNK_KEYS_MAX keys, so an insert moves at most a
 * chunk's worth of references and a lookup is two binary searches. Each key's entries are a chain,
 * newest first. Beside each chunk, its keys' first KEY_PREFIX_BYTES bytes as numbers (abbreviated
 * keys): a search compares those, inline in one array, and reads a key's bytes only on a tie. A
 * comparison of bytes takes three dependent loads (record, key view, bytes), each a likely cache
 * miss in a large buffer: with 70,000 keys an insert took 2.6 us, most of it waiting on memory.
 */

/** A key's entry as of some version: `value` null when the key was deleted then. */
export interface BufferedEntry {
  readonly key: Uint8Array;
  readonly version: number;
  readonly value: Uint8Array | null;
}

/**
 * Entries a state reads below its live WriteBuffer until a checkpoint merges them into the tree: a
 * frozen WriteBuffer, or the commits opening replayed from a log (ReplayedRun). Never changed.
 */
export interface FrozenEntries {
  readonly entryCount: number;
  /** Unchanged while a merge reads the entries (a frozen buffer's, a run's never change). */
  readonly layoutChanges: number;
  /** The newest entry of `key` at or below `version`; undefined when there is none. */
  lookup(key: Uint8Array, version: number): BufferedEntry | undefined;
  /** The entries in `scan`'s range as of `version`, in its direction (deletes included). */
  cursor(scan: ResolvedMetastoreScan, version: number): { next(): BufferedEntry | undefined };
  /** Every key's newest entry, in key order. */
  newestEntries(): Iterable<BufferedEntry>;
  /** keyPrefix of every key, in key order (as newestEntries yields them). */
  keyPrefixes(): Float64Array;
}

/**
 * One entry of a key, linked to the key's older entries since the last checkpoint. The chunks
 * hold each key's newest entry: a new version replaces it there and links to it, one object per
 * entry and no change to the chunk layout.
 */
interface BufferedKey extends BufferedEntry {
  readonly older: BufferedKey | undefined;
}

export class WriteBuffer implements FrozenEntries {
  readonly #chunks: BufferedKey[][] = [];
  /** `#prefixes[c][i]`: keyPrefix of `#chunks[c][i].key`. */
  readonly #prefixes: number[][] = [];
  /** Keys that got entries since the last `publish`, for `discardUnpublished`. */
  #unpublished: Uint8Array[] = [];
  #publishedVersion: number;
  #sizeBytes = 0;
  #entryCount = 0;
  /** Bumped by every change of the chunk layout, so cursors know to find their place again. */
  #layoutChanges = 0;
  /**
   * The finger: where the last `add` put its key, valid while the layout is as it was then (-1:
   * never). See #seekFromFinger.
   */
  #fingerChunk = 0;
  #fingerIndex = 0;
  #fingerLayoutChanges = -1;

  /** `publishedVersion`: the version of the state the buffer starts on; its entries come after it. */
  constructor(publishedVersion: number) {
    this.#publishedVersion = publishedVersion;
  }

  /** Approximate memory of the buffered keys and values, with a per-entry overhead. */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** Entries (versions of keys) in the buffer. */
  get entryCount(): number {
    return this.#entryCount;
  }

  get layoutChanges(): number {
    return this.#layoutChanges;
  }

  /** The newest entry of `key` at or below `version`; undefined when the buffer has none. */
  lookup(key: Uint8Array, version: number): BufferedEntry | undefined {
    const { chunk, index } = this.seek(key, false);
    const record = this.#recordOf(key, chunk, index);
    return record === undefined ? undefined : entryAt(record, version);
  }

  /**
   * Adds an entry for `key` at `version` (null: deleted), above every entry of the buffer. Takes
   * ownership of `key` and `value`: nothing may change them afterwards.
   */
  add(key: Uint8Array, version: number, value: Uint8Array | null): void {
    assert(version > this.#publishedVersion, 'a buffer entry is newer than every published version');
    const { chunk, index } = this.#seekFromFinger(key) ?? this.seek(key, false);
    const existing = this.#recordOf(key, chunk, index);
    if (existing !== undefined) {
      assert(existing.version <= version, 'versions of a key are added in order');
      this.#chunks[chunk]![index] = { key: existing.key, version, value, older: existing };
      this.#setFinger(chunk, index);
    } else {
      const placed = this.#insert({ key, version, value, older: undefined }, chunk, index);
      this.#setFinger(placed.chunk, placed.index);
      this.#sizeBytes += key.length;
    }
    this.#unpublished.push(key);
    this.#sizeBytes += (value?.length ?? 0) + WRITE_BUFFER_ENTRY_OVERHEAD_BYTES;
    this.#entryCount++;
  }

  /**
   * The buffer as where a commit group's batches go: changes are added at once; a key's version is
   * its newest entry here (the group's own included), else its version in the tree.
   */
  batchTarget(versionInTree: (key: Uint8Array) => Promise<number | null>): BatchTarget {
    return new WriteBufferTarget(this, versionInTree);
  }

  /** Makes the entries added so far final: every version up to `version` is published. */
  publish(version: number): void {
    assert(version >= this.#publishedVersion, 'published versions only grow');
    this.#publishedVersion = version;
    this.#unpublished = [];
  }

  /** Takes out every entry added since the last `publish` (a group that did not commit). */
  discardUnpublished(): void {
    for (const key of this.#unpublished) {
      const { chunk, index } = this.seek(key, false);
      let record = this.#recordOf(key, chunk, index);
      if (record === undefined) continue;
      while (record !== undefined && record.version > this.#publishedVersion) {
        this.#sizeBytes -= (record.value?.length ?? 0) + WRITE_BUFFER_ENTRY_OVERHEAD_BYTES;
        this.#entryCount--;
        record = record.older;
      }
      if (record !== undefined) {
        this.#chunks[chunk]![index] = record;
        continue;
      }
      this.#sizeBytes -= key.length;
      this.#remove(chunk, index);
    }
    this.#unpublished = [];
  }

  /** Every key's newest entry, in key order. */
  *newestEntries(): Generator<BufferedEntry> {
    for (const chunk of this.#chunks) yield* chunk;
  }

  /** keyPrefix of every key, in key order (as newestEntries yields them): what a merge compares first. */
  keyPrefixes(): Float64Array {
    let count = 0;
    for (const chunk of this.#prefixes) count += chunk.length;
    const prefixes = new Float64Array(count);
    let index = 0;
    for (const chunk of this.#prefixes) {
      for (const prefix of chunk) prefixes[index++] = prefix;
    }
    return prefixes;
  }

  /** A cursor over the entries in `scan`'s range as of `version`, in its direction. */
  cursor(scan: ResolvedMetastoreScan, version: number): WriteBufferCursor {
    return new WriteBufferCursor(this, scan, version);
  }

  /**
   * The position of the first key at or after `key` (`after`: strictly after), as chunk and index;
   * chunk === chunk count when there is none.
   */
  seek(key: Uint8Array | undefined, after: boolean): { chunk: number; index: number } {
    if (key === undefined) return { chunk: 0, index: 0 };
    const chunks = this.#chunks;
    const prefixes = this.#prefixes;
    const prefix = keyPrefix(key);
    let low = 0;
    let high = chunks.length;
    // The first chunk whose last key is at or after (after: strictly after) `key`.
    while (low < high) {
      const middle = (low + high) >>> 1;
      const chunkPrefixes = prefixes[middle]!;
      const last = chunkPrefixes.length - 1;
      const comparison = compareKeys(chunkPrefixes[last]!, prefix, chunks[middle]!, last, key);
      if (comparison < 0 || (after && comparison === 0)) low = middle + 1;
      else high = middle;
    }
    if (low === chunks.length) return { chunk: low, index: 0 };
    return { chunk: low, index: keyIndex(chunks[low]!, prefixes[low]!, { key, prefix }, after) };
  }

  /** The position past the last key. */
  end(): { chunk: number; index: number } {
    return { chunk: this.#chunks.length, index: 0 };
  }

  /** The record at a position, undefined past the end. @internal */
  recordAt(chunk: number, index: number): BufferedKey | undefined {
    return this.#chunks[chunk]?.[index];
  }

  /** The position before `position` (chunk -1 before the first key). @internal */
  previous(position: { chunk: number; index: number }): { chunk: number; index: number } {
    if (position.index > 0) return { chunk: position.chunk, index: position.index - 1 };
    const chunk = position.chunk - 1;
    return { chunk, index: chunk < 0 ? 0 : this.#chunks[chunk]!.length - 1 };
  }

  /** The position after `position`. @internal */
  next(position: { chunk: number; index: number }): { chunk: number; index: number } {
    if (position.index + 1 < this.#chunks[position.chunk]!.length) return { chunk: position.chunk, index: position.index + 1 };
    return { chunk: position.chunk + 1, index: 0 };
  }

  /** The record of `key` at a position `seek` found for it, undefined when the key is not there. */
  #recordOf(key: Uint8Array, chunk: number, index: number): BufferedKey | undefined {
    const record = this.#chunks[chunk]?.[index];
    // The prefix first: a new key is told apart without loading the record's key.
    if (record === undefined || this.#prefixes[chunk]![index] !== keyPrefix(key) || compareBytes(record.key, key) !== 0) return undefined;
    return record;
  }

  /**
   * Where `key` goes (as `seek` would say) when that is at or just after the finger, the key the
   * last `add` went to; undefined when it is elsewhere, or the layout changed since. Two key
   * comparisons instead of a search: keys are often added in order (a Raft log's entries, one
   * index after another, and their removal), or the same key again (an applied index). Such keys
   * tend to share long prefixes, where the abbreviated keys tie and every step of a search
   * compared bytes: a zone follower spent a tenth of its CPU in `add`.
   */
  #seekFromFinger(key: Uint8Array): { chunk: number; index: number } | undefined {
    if (this.#fingerLayoutChanges !== this.#layoutChanges) return undefined;
    const finger = { chunk: this.#fingerChunk, index: this.#fingerIndex };
    const record = this.#chunks[finger.chunk]?.[finger.index];
    if (record === undefined) return undefined;
    const comparison = compareBytes(record.key, key);
    if (comparison === 0) return finger;
    if (comparison > 0) return undefined;
    const next = this.next(finger);
    const nextRecord = this.#chunks[next.chunk]?.[next.index];
    return nextRecord === undefined || compareBytes(key, nextRecord.key) <= 0 ? next : undefined;
  }

  #setFinger(chunk: number, index: number): void {
    this.#fingerChunk = chunk;
    this.#fingerIndex = index;
    this.#fingerLayoutChanges = this.#layoutChanges;
  }

  /** Inserts a new key's record at its place (as `seek` found it); returns where it went. */
  #insert(record: BufferedKey, chunk: number, index: number): { chunk: number; index: number } {
    this.#layoutChanges++;
    const chunks = this.#chunks;
    const prefixes = this.#prefixes;
    const prefix = keyPrefix(record.key);
    if (chunks.length === 0) {
      chunks.push([record]);
      prefixes.push([prefix]);
      return { chunk: 0, index: 0 };
    }
    // Past every key: append to the last chunk.
    if (chunk === chunks.length) {
      chunk = chunks.length - 1;
      index = chunks[chunk]!.length;
    }
    const target = chunks[chunk]!;
    const targetPrefixes = prefixes[chunk]!;
    target.splice(index, 0, record);
    targetPrefixes.splice(index, 0, prefix);
    if (target.length > WRITE_BUFFER_CHUNK_KEYS_MAX) {
      const half = target.length >>> 1;
      chunks.splice(chunk + 1, 0, target.splice(half));
      prefixes.splice(chunk + 1, 0, targetPrefixes.splice(half));
      if (index >= half) return { chunk: chunk + 1, index: index - half };
    }
    return { chunk, index };
  }

  #remove(chunk: number, index: number): void {
    this.#layoutChanges++;
    const target = this.#chunks[chunk]!;
    target.splice(index, 1);
    this.#prefixes[chunk]!.splice(index, 1);
    if (target.length > 0) return;
    this.#chunks.splice(chunk, 1);
    this.#prefixes.splice(chunk, 1);
  }
}

/**
 * A WriteBuffer as the BatchTarget of one commit group (see `WriteBuffer.batchTarget`). A class
 * rather than an object of arrow functions, since one is made for every group: under tsx, which
 * names each such function with a defineProperty, those cost about 5 us per commit.
 */
class WriteBufferTarget implements BatchTarget {
  readonly #buffer: WriteBuffer;
  readonly #versionInTree: (key: Uint8Array) => Promise<number | null>;

  constructor(buffer: WriteBuffer, versionInTree: (key: Uint8Array) => Promise<number | null>) {
    this.#buffer = buffer;
    this.#versionInTree = versionInTree;
  }

  async versionOf(key: Uint8Array): Promise<number | null> {
    const entry = this.#buffer.lookup(key, Number.MAX_SAFE_INTEGER);
    if (entry === undefined) return this.#versionInTree(key);
    return entry.value === null ? null : entry.version;
  }

  put(key: Uint8Array, value: Uint8Array, version: number): void {
    this.#buffer.add(key, version, value);
  }

  delete(key: Uint8Array, version: number): void {
    this.#buffer.add(key, version, null);
  }
}

/**
 * Walks a buffer's entries in a scan's range at one version. The buffer may change between calls
 * (commits add keys while a reader awaits the tree): the cursor then finds its place again after
 * the last key it returned, and entries newer than its version stay invisible.
 */
export class WriteBufferCursor {
  readonly #buffer: WriteBuffer;
  readonly #scan: ResolvedMetastoreScan;
  readonly #version: number;
  #position: { chunk: number; index: number };
  #layoutChanges: number;
  #lastKey: Uint8Array | undefined;
  #done = false;

  constructor(buffer: WriteBuffer, scan: ResolvedMetastoreScan, version: number) {
    this.#buffer = buffer;
    this.#scan = scan;
    this.#version = version;
    this.#layoutChanges = buffer.layoutChanges;
    this.#position = this.#startPosition();
  }

  /** The next entry in the range at the cursor's version (deletes included), or undefined at the end. */
  next(): BufferedEntry | undefined {
    if (this.#done) return undefined;
    if (this.#layoutChanges !== this.#buffer.layoutChanges) {
      this.#layoutChanges = this.#buffer.layoutChanges;
      this.#position = this.#resumePosition();
    }
    for (;;) {
      const record = this.#position.chunk < 0 ? undefined : this.#buffer.recordAt(this.#position.chunk, this.#position.index);
      if (record === undefined || !this.#inRange(record.key)) {
        this.#done = true;
        return undefined;
      }
      this.#position = this.#scan.reverse ? this.#buffer.previous(this.#position) : this.#buffer.next(this.#position);
      this.#lastKey = record.key;
      const entry = entryAt(record, this.#version);
      if (entry !== undefined) return entry;
    }
  }

  #startPosition(): { chunk: number; index: number } {
    if (!this.#scan.reverse) return this.#buffer.seek(this.#scan.start, false);
    // Reverse: the last key below the end.
    return this.#buffer.previous(this.#endPosition(this.#scan.end));
  }

  #resumePosition(): { chunk: number; index: number } {
    if (this.#lastKey === undefined) return this.#startPosition();
    if (!this.#scan.reverse) return this.#buffer.seek(this.#lastKey, true);
    return this.#buffer.previous(this.#endPosition(this.#lastKey));
  }

  /** The position of the first key at or after `end`, or past the last key when there is no end. */
  #endPosition(end: Uint8Array | undefined): { chunk: number; index: number } {
    return end === undefined ? this.#buffer.end() : this.#buffer.seek(end, false);
  }

  #inRange(key: Uint8Array): boolean {
    if (this.#scan.reverse) return this.#scan.start === undefined || compareBytes(key, this.#scan.start) >= 0;
    return this.#scan.end === undefined || compareBytes(key, this.#scan.end) < 0;
  }
}

/** The newest entry of a key at or below `version`, from its newest entry `record`. */
function entryAt(record: BufferedKey, version: number): BufferedEntry | undefined {
  let entry: BufferedKey | undefined = record;
  // Older entries are rare to need (a reader pinned before the key changed) and short to walk.
  while (entry !== undefined && entry.version > version) entry = entry.older;
  return entry;
}

/** The index of the first key in `chunk` at or after `sought.key` (`after`: strictly after). */
function keyIndex(chunk: readonly BufferedKey[], prefixes: readonly number[], sought: { key: Uint8Array; prefix: number }, after: boolean): number {
  let low = 0;
  let high = chunk.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const comparison = compareKeys(prefixes[middle]!, sought.prefix, chunk, middle, sought.key);
    if (comparison < 0 || (after && comparison === 0)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Bytes of a key that `keyPrefix` keeps: 6, the most a double holds exactly (48 bits). */
const KEY_PREFIX_BYTES = 6;

/**
 * The first KEY_PREFIX_BYTES bytes of `key` as an integer, big-endian, a short key padded with
 * zeros. Ordered like the keys where they differ: `keyPrefix(a) < keyPrefix(b)` implies `a < b` in
 * compareBytes's order; equal prefixes say nothing (the keys may still differ after them, or in
 * length).
 */
export function keyPrefix(key: Uint8Array): number {
  return keyPrefixAt(key, 0, key.length);
}

/** keyPrefix of the key `bytes`[start, +length). */
export function keyPrefixAt(bytes: Uint8Array, start: number, length: number): number {
  let prefix = 0;
  const kept = Math.min(length, KEY_PREFIX_BYTES);
  for (let index = 0; index < KEY_PREFIX_BYTES; index++) prefix = prefix * 256 + (index < kept ? bytes[start + index]! : 0);
  return prefix;
}

/** compareBytes(chunk[index].key, key), by their prefixes when those differ. */
function compareKeys(prefix: number, soughtPrefix: number, chunk: readonly BufferedKey[], index: number, key: Uint8Array): number {
  if (prefix !== soughtPrefix) return prefix - soughtPrefix;
  return compareBytes(chunk[index]!.key, key);
}
