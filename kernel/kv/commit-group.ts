import { assert } from '../assert.ts';
import { describeBytes } from '../contracts/bytes.ts';
import type { MetastorePrecondition } from '../contracts/metastore.ts';
import { ConflictError } from '../errors.ts';
import type { QueuedBatch } from './commit-queue.ts';
import type { WriteTransaction } from './write-transaction.ts';

/** Every key a group reads or writes, in queue order. */
export function groupKeys(batches: readonly QueuedBatch[]): Uint8Array[] {
  const keys: Uint8Array[] = [];
  for (const batch of batches) {
    for (const precondition of batch.preconditions) keys.push(precondition.key);
    for (const operation of batch.operations) keys.push(operation.key);
  }
  return keys;
}

/**
 * Applies each batch in queue order: its preconditions are checked against the state so far
 * (earlier batches of the group included, never its own operations), then its operations applied
 * under the next version. A batch whose precondition fails gets a ConflictError and changes nothing.
 */
export async function applyBatches(
  transaction: WriteTransaction,
  batches: readonly QueuedBatch[],
  lastVersion: number,
): Promise<Map<QueuedBatch, number | ConflictError>> {
  const outcomes = new Map<QueuedBatch, number | ConflictError>();
  let version = lastVersion;
  for (const batch of batches) {
    const conflict = await checkPreconditions(transaction, batch.preconditions);
    if (conflict !== undefined) {
      outcomes.set(batch, conflict);
      continue;
    }
    assert(version < Number.MAX_SAFE_INTEGER, 'metastore versions exhausted');
    version++;
    for (const operation of batch.operations) {
      if (operation.type === 'put') await transaction.put(operation.key, operation.value, version);
      else await transaction.delete(operation.key);
    }
    outcomes.set(batch, version);
  }
  return outcomes;
}

async function checkPreconditions(
  transaction: WriteTransaction,
  preconditions: readonly MetastorePrecondition[],
): Promise<ConflictError | undefined> {
  for (const precondition of preconditions) {
    const actualVersion = await transaction.versionOf(precondition.key);
    if (actualVersion === precondition.version) continue;
    const expected = precondition.version === null ? 'to be absent' : `at version ${precondition.version}`;
    const actual = actualVersion === null ? 'it is absent' : `it is at version ${actualVersion}`;
    return new ConflictError(`batch precondition failed: expected key ${describeBytes(precondition.key)} ${expected}, but ${actual}`);
  }
  return undefined;
}

