import { assert } from '../../kernel/assert.ts';
import { copyBytes, compareBytes, describeBytes } from '../../kernel/contracts/bytes.ts';
import type {
  Metastore,
  MetastoreEntry,
  MetastoreOperation,
  MetastorePrecondition,
  MetastoreScanOptions,
  MetastoreScanPage,
} from '../../kernel/contracts/metastore.ts';
import { encodeScanCursor } from '../../kernel/contracts/metastore-cursor.ts';
import {
  assertMetastoreBatch,
  assertMetastoreKey,
  assertMetastoreKeys,
  assertMetastoreValue,
  isEmptyMetastoreScan,
  resolveMetastoreScan,
  type ResolvedMetastoreScan,
} from '../../kernel/contracts/metastore-validation.ts';
import { ClosedError, ConflictError, InvalidArgumentError } from '../../kernel/errors.ts';

/**
 * What a MemoryMetastore holds: its entries in key order and the version of its last commit. A
 * store hands out its image (`image()`, also once closed) and starts from one (the constructor):
 * that is its close and reopen, as a file-backed store's is its file.
 */
export interface MemoryMetastoreImage {
  readonly entries: readonly MetastoreEntry[];
  readonly lastVersion: number;
}

/**
 * The reference Metastore: entries in one array sorted by key, found by binary search. It is the
 * oracle the other drivers are compared with, so it is written to be obviously right first.
 *
 * Atomicity comes for free: each method does all of its work synchronously, between its first line
 * and its return, so no other call can run between a batch's checks and its writes.
 */
export class MemoryMetastore implements Metastore {
  /** Sorted by `compareBytes` of the keys, no duplicates. Stored buffers are never handed out. */
  readonly #entries: MetastoreEntry[] = [];
  #lastVersion = 0;
  #closed = false;

  /**
   * An empty store, or one holding a copy of `image`. Throws InvalidArgumentError (EINVAL) for an
   * image no store could have handed out: keys out of order or repeated, a value or key the
   * Metastore contract refuses, or a version that is not a whole number from 1 to `lastVersion`.
   */
  constructor(image?: MemoryMetastoreImage) {
    if (image === undefined) return;
    const { entries, lastVersion } = image;
    if (!Number.isSafeInteger(lastVersion) || lastVersion < 0) {
      throw new InvalidArgumentError(`invalid memory metastore image: lastVersion ${String(lastVersion)} is not a non-negative integer`);
    }
    for (const [index, entry] of entries.entries()) {
      assertMetastoreKey(entry.key);
      assertMetastoreValue(entry.value, entry.key);
      if (!Number.isSafeInteger(entry.version) || entry.version < 1 || entry.version > lastVersion) {
        throw new InvalidArgumentError(`invalid memory metastore image: entry ${index} has version ${String(entry.version)}, not one from 1 to ${lastVersion}`);
      }
      if (index > 0 && compareBytes(entries[index - 1]!.key, entry.key) >= 0) {
        throw new InvalidArgumentError(`invalid memory metastore image: entry ${index} (key ${describeBytes(entry.key)}) is not after the one before it`);
      }
      this.#entries.push(copyEntry(entry));
    }
    this.#lastVersion = lastVersion;
  }

  /** A copy of everything the store holds; a new MemoryMetastore of it is this one reopened. */
  image(): MemoryMetastoreImage {
    return { entries: this.#entries.map(copyEntry), lastVersion: this.#lastVersion };
  }

  async get(key: Uint8Array): Promise<MetastoreEntry | undefined> {
    this.#assertOpen('get');
    assertMetastoreKey(key);
    return this.#read(key);
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(MetastoreEntry | undefined)[]> {
    this.#assertOpen('getMany');
    assertMetastoreKeys(keys);
    return keys.map((key) => this.#read(key));
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<number> {
    this.#assertOpen('put');
    assertMetastoreKey(key);
    assertMetastoreValue(value, key);
    return this.#commit([{ type: 'put', key, value }]);
  }

  async delete(key: Uint8Array): Promise<number> {
    this.#assertOpen('delete');
    assertMetastoreKey(key);
    return this.#commit([{ type: 'delete', key }]);
  }

  async batch(
    operations: readonly MetastoreOperation[],
    preconditions: readonly MetastorePrecondition[] = [],
  ): Promise<number> {
    this.#assertOpen('batch');
    assertMetastoreBatch(operations, preconditions);
    for (const precondition of preconditions) this.#check(precondition);
    return this.#commit(operations);
  }

  async scan(options: MetastoreScanOptions): Promise<MetastoreScanPage> {
    this.#assertOpen('scan');
    const scan = resolveMetastoreScan(options);
    if (isEmptyMetastoreScan(scan)) return { entries: [] };
    const { first, end } = this.#indexRange(scan);
    return scan.reverse ? this.#pageBackward(first, end, scan.limit) : this.#pageForward(first, end, scan.limit);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #read(key: Uint8Array): MetastoreEntry | undefined {
    const { index, found } = this.#search(key);
    return found ? copyEntry(this.#entries[index]!) : undefined;
  }

  #check(precondition: MetastorePrecondition): void {
    const { index, found } = this.#search(precondition.key);
    const actualVersion = found ? this.#entries[index]!.version : null;
    if (actualVersion === precondition.version) return;
    const expected = precondition.version === null ? 'to be absent' : `at version ${precondition.version}`;
    const actual = actualVersion === null ? 'it is absent' : `it is at version ${actualVersion}`;
    throw new ConflictError(`batch precondition failed: expected key ${describeBytes(precondition.key)} ${expected}, but ${actual}`);
  }

  /** Applies validated operations in order as one commit and returns its version. */
  #commit(operations: readonly MetastoreOperation[]): number {
    assert(this.#lastVersion < Number.MAX_SAFE_INTEGER, 'metastore versions exhausted');
    const version = ++this.#lastVersion;
    for (const operation of operations) {
      if (operation.type === 'put') this.#store(operation.key, operation.value, version);
      else this.#remove(operation.key);
    }
    return version;
  }

  #store(key: Uint8Array, value: Uint8Array, version: number): void {
    const entry = { key: copyBytes(key), value: copyBytes(value), version };
    const { index, found } = this.#search(key);
    if (found) this.#entries[index] = entry;
    else this.#entries.splice(index, 0, entry);
  }

  #remove(key: Uint8Array): void {
    const { index, found } = this.#search(key);
    if (found) this.#entries.splice(index, 1);
  }

  /** The index of `key`, or where it would be inserted to keep the order. */
  #search(key: Uint8Array): { index: number; found: boolean } {
    const index = this.#lowerBound(key);
    const found = index < this.#entries.length && compareBytes(this.#entries[index]!.key, key) === 0;
    return { index, found };
  }

  /** The index of the first entry whose key is not less than `bound`. */
  #lowerBound(bound: Uint8Array): number {
    let low = 0;
    let high = this.#entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareBytes(this.#entries[middle]!.key, bound) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The entries of the range are `#entries[first..end)`. */
  #indexRange(scan: ResolvedMetastoreScan): { first: number; end: number } {
    const first = scan.start === undefined ? 0 : this.#lowerBound(scan.start);
    const end = scan.end === undefined ? this.#entries.length : this.#lowerBound(scan.end);
    return { first, end: Math.max(first, end) };
  }

  #pageForward(first: number, end: number, limit: number): MetastoreScanPage {
    const stop = Math.min(end, first + limit);
    const entries = this.#entries.slice(first, stop).map(copyEntry);
    return stop < end ? { entries, cursor: encodeScanCursor(entries.at(-1)!.key) } : { entries };
  }

  #pageBackward(first: number, end: number, limit: number): MetastoreScanPage {
    const stop = Math.max(first, end - limit);
    const entries = this.#entries.slice(stop, end).reverse().map(copyEntry);
    return stop > first ? { entries, cursor: encodeScanCursor(entries.at(-1)!.key) } : { entries };
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new ClosedError(`cannot ${operation}: the memory metastore is closed`);
  }
}

function copyEntry(entry: MetastoreEntry): MetastoreEntry {
  return { key: copyBytes(entry.key), value: copyBytes(entry.value), version: entry.version };
}
