import { assert } from '../assert.ts';
import { describeBytes } from '../contracts/bytes.ts';
import type { MetastorePrecondition } from '../contracts/metastore.ts';
import { ConflictError } from '../errors.ts';
import type { QueuedBatch } from './commit-queue.ts';
import type { WriteTransaction } from './write-transaction.ts';

/** Every key a group reads or writes, in the order applying it uses them. */
function groupKeys(batches: readonly QueuedBatch[]): Uint8Array[] {
  const keys: Uint8Array[] = [];
  for (const batch of batches) {
    for (const precondition of batch.preconditions) keys.push(precondition.key);
    for (const operation of batch.operations) keys.push(operation.key);
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

  constructor(batches: readonly QueuedBatch[], prefetch: (keys: readonly Uint8Array[]) => Promise<void>, windowKeys: number) {
    assert(windowKeys >= 1, 'a prefetch window holds at least one key');
    this.#keys = groupKeys(batches);
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
  transaction: WriteTransaction,
  batches: readonly QueuedBatch[],
  options: { lastVersion: number; prefetch: (keys: readonly Uint8Array[]) => Promise<void>; prefetchWindowKeys: number },
): Promise<Map<QueuedBatch, number | ConflictError>> {
  const prefetcher = new KeyPrefetcher(batches, options.prefetch, options.prefetchWindowKeys);
  const outcomes = new Map<QueuedBatch, number | ConflictError>();
  let version = options.lastVersion;
  for (const batch of batches) {
    const conflict = await checkPreconditions(transaction, batch, prefetcher);
    if (conflict !== undefined) {
      outcomes.set(batch, conflict);
      continue;
    }
    assert(version < Number.MAX_SAFE_INTEGER, 'metastore versions exhausted');
    version++;
    for (const operation of batch.operations) {
      await prefetcher.next();
      if (operation.type === 'put') await transaction.put(operation.key, operation.value, version);
      else await transaction.delete(operation.key);
    }
    outcomes.set(batch, version);
  }
  return outcomes;
}

/** The first failing precondition of `batch` as a ConflictError; on failure its keys are skipped. */
async function checkPreconditions(
  transaction: WriteTransaction,
  batch: QueuedBatch,
  prefetcher: KeyPrefetcher,
): Promise<ConflictError | undefined> {
  for (const [index, precondition] of batch.preconditions.entries()) {
    await prefetcher.next();
    const actualVersion = await transaction.versionOf(precondition.key);
    if (actualVersion === precondition.version) continue;
    prefetcher.skip(batch.preconditions.length - index - 1 + batch.operations.length);
    return conflictError(precondition, actualVersion);
  }
  return undefined;
}

function conflictError(precondition: MetastorePrecondition, actualVersion: number | null): ConflictError {
  const expected = precondition.version === null ? 'to be absent' : `at version ${precondition.version}`;
  const actual = actualVersion === null ? 'it is absent' : `it is at version ${actualVersion}`;
  return new ConflictError(`batch precondition failed: expected key ${describeBytes(precondition.key)} ${expected}, but ${actual}`);
}
