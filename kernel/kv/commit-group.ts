import { assert } from '../assert.ts';
import { describeBytes } from '../contracts/bytes.ts';
import type { MetastorePrecondition } from '../contracts/metastore.ts';
import { ConflictError } from '../errors.ts';
import type { LoggedBatch } from './commit-log.ts';
import type { QueuedBatch } from './commit-queue.ts';

/**
 * Where a group's batches are applied: a WriteTransaction on the tree, or the write buffer of a
 * store with a commit log. A change may finish without waiting (it returns nothing then).
 */
export interface BatchTarget {
  /** The version of `key` in the state so far (earlier batches of this group included), or null. */
  versionOf(key: Uint8Array): Promise<number | null>;
  put(key: Uint8Array, value: Uint8Array, version: number): Promise<void> | void;
  delete(key: Uint8Array, version: number): Promise<void> | void;
}

/**
 * Every key a group reads, in the order applying it uses them: the keys of preconditions, and
 * those of operations when applying them reads the tree (`operationsRead`).
 */
function groupKeys(batches: readonly QueuedBatch[], operationsRead: boolean): Uint8Array[] {
  const keys: Uint8Array[] = [];
  for (const batch of batches) {
    for (const precondition of batch.preconditions) keys.push(precondition.key);
    if (operationsRead) for (const operation of batch.operations) keys.push(operation.key);
  }
  return keys;
}

/**
 * Walks the keys of a group in order and prefetches ahead of it, one window at a time, so the
 * pages the next keys need are read in parallel rather than one by one as they are reached.
 */
class KeyPrefetcher {
  readonly #keys: Uint8Array[];
  readonly #prefetch: (keys: readonly Uint8Array[]) => Promise<void>;
  readonly #windowKeys: number;
  #index = 0;
  #prefetchedUntil = 0;

  readonly operationsRead: boolean;

  constructor(
    batches: readonly QueuedBatch[],
    options: { prefetch: (keys: readonly Uint8Array[]) => Promise<void>; windowKeys: number; operationsRead: boolean },
  ) {
    const { prefetch, windowKeys, operationsRead } = options;
    assert(windowKeys >= 1, 'a prefetch window holds at least one key');
    this.operationsRead = operationsRead;
    this.#keys = groupKeys(batches, operationsRead);
    this.#prefetch = prefetch;
    this.#windowKeys = windowKeys;
  }

  /** Call before using the next key. */
  async next(): Promise<void> {
    if (this.#index >= this.#prefetchedUntil) {
      this.#prefetchedUntil = this.#index + this.#windowKeys;
      await this.#prefetch(this.#keys.slice(this.#index, this.#prefetchedUntil));
    }
    this.#index++;
  }

  /** Passes over keys that will not be used (the rest of a batch that failed a precondition). */
  skip(count: number): void {
    this.#index += count;
  }
}

/**
 * Applies each batch in queue order: its preconditions are checked against the state so far
 * (earlier batches of the group included, never its own operations), then its operations applied
 * under the next version. A batch whose precondition fails gets a ConflictError and changes nothing.
 */
export async function applyBatches(
  transaction: BatchTarget,
  batches: readonly QueuedBatch[],
  options: {
    lastVersion: number;
    prefetch: (keys: readonly Uint8Array[]) => Promise<void>;
    prefetchWindowKeys: number;
    /** Whether applying an operation reads the tree (a WriteTransaction does; the buffer does not). */
    operationsRead: boolean;
  },
): Promise<Map<QueuedBatch, number | ConflictError>> {
  const prefetcher = new KeyPrefetcher(batches, {
    prefetch: options.prefetch,
    windowKeys: options.prefetchWindowKeys,
    operationsRead: options.operationsRead,
  });
  const outcomes = new Map<QueuedBatch, number | ConflictError>();
  let version = options.lastVersion;
  for (const batch of batches) {
    // Most batches have no precondition: they cost no call and no microtask for it.
    const conflict = batch.preconditions.length === 0 ? undefined : await checkPreconditions(transaction, batch, prefetcher);
    if (conflict !== undefined) {
      outcomes.set(batch, conflict);
      continue;
    }
    assert(version < Number.MAX_SAFE_INTEGER, 'metastore versions exhausted');
    version++;
    for (const operation of batch.operations) {
      if (prefetcher.operationsRead) await prefetcher.next();
      const applying = operation.type === 'put' ? transaction.put(operation.key, operation.value, version) : transaction.delete(operation.key, version);
      // A change that finished at once costs no microtask.
      if (applying !== undefined) await applying;
    }
    outcomes.set(batch, version);
  }
  return outcomes;
}

/** Whether no batch of a group has a precondition: applying it then reads nothing. */
export function unconditional(batches: readonly QueuedBatch[]): boolean {
  for (const batch of batches) if (batch.preconditions.length > 0) return false;
  return true;
}

/**
 * The versions of a group of batches without preconditions, which cannot fail: one each, in queue
 * order after `lastVersion`. Nothing is applied: the writer logs the group first and puts it into
 * the write buffer while the log syncs (see `bufferBatches`).
 */
export function numberBatches(batches: readonly QueuedBatch[], lastVersion: number): Map<QueuedBatch, number> {
  const outcomes = new Map<QueuedBatch, number>();
  let version = lastVersion;
  for (const batch of batches) {
    assert(version < Number.MAX_SAFE_INTEGER, 'metastore versions exhausted');
    version++;
    outcomes.set(batch, version);
  }
  return outcomes;
}

/**
 * Puts logged batches into a write buffer, in one synchronous call. Why beside `applyBatches`: a
 * group without preconditions reads nothing, so the writer puts it into the buffer after its log
 * record is written and its sync started, while the disk works, rather than before, on the path
 * from one sync to the next (see KvStore's #logGroup); and the general path's prefetch window,
 * closures and awaits cost a few microseconds a commit.
 */
export function bufferBatches(
  buffer: { add(key: Uint8Array, version: number, value: Uint8Array | null): void },
  logged: readonly LoggedBatch[],
): void {
  for (const { version, operations } of logged) {
    for (const operation of operations) buffer.add(operation.key, version, operation.type === 'put' ? operation.value : null);
  }
}

/** The first failing precondition of `batch` as a ConflictError; on failure its keys are skipped. */
async function checkPreconditions(
  transaction: BatchTarget,
  batch: QueuedBatch,
  prefetcher: KeyPrefetcher,
): Promise<ConflictError | undefined> {
  for (const [index, precondition] of batch.preconditions.entries()) {
    await prefetcher.next();
    const actualVersion = await transaction.versionOf(precondition.key);
    if (actualVersion === precondition.version) continue;
    prefetcher.skip(batch.preconditions.length - index - 1 + (prefetcher.operationsRead ? batch.operations.length : 0));
    return conflictError(precondition, actualVersion);
  }
  return undefined;
}

function conflictError(precondition: MetastorePrecondition, actualVersion: number | null): ConflictError {
  const expected = precondition.version === null ? 'to be absent' : `at version ${precondition.version}`;
  const actual = actualVersion === null ? 'it is absent' : `it is at version ${actualVersion}`;
  return new ConflictError(`batch precondition failed: expected key ${describeBytes(precondition.key)} ${expected}, but ${actual}`);
}
