import type { MetastoreOperation, MetastorePrecondition } from '../contracts/metastore.ts';
import { GROUP_COMMIT_BATCHES_MAX, GROUP_COMMIT_OPERATIONS_MAX } from './constants.ts';
import type { KvDurability } from './kv-store-types.ts';

/** A commit waiting for the writer. Its keys and values are private copies. */
export interface QueuedBatch {
  kind: 'batch';
  operations: MetastoreOperation[];
  preconditions: MetastorePrecondition[];
  durability: KvDurability;
  resolve(version: number): void;
  reject(error: unknown): void;
}

/** A request to make everything committed so far durable. */
export interface QueuedSync {
  kind: 'sync';
  resolve(): void;
  reject(error: unknown): void;
}

export type QueuedWork = QueuedBatch | QueuedSync;

/**
 * Takes the next group from the front of `queue`: as many items as arrived, up to
 * GROUP_COMMIT_BATCHES_MAX batches and GROUP_COMMIT_OPERATIONS_MAX operations (the first batch is
 * always taken, whatever its size, so every batch makes progress).
 */
export function takeGroup(queue: QueuedWork[]): QueuedWork[] {
  let batches = 0;
  let operations = 0;
  let count = 0;
  for (const item of queue) {
    if (item.kind === 'batch') {
      const size = item.operations.length + item.preconditions.length;
      if (batches > 0 && (batches >= GROUP_COMMIT_BATCHES_MAX || operations + size > GROUP_COMMIT_OPERATIONS_MAX)) break;
      batches++;
      operations += size;
    }
    count++;
  }
  return queue.splice(0, count);
}

/**
 * Private copies of a batch's operations, every key and value a view of one new buffer: one
 * allocation per batch instead of two per operation (the bulk of a large batch's garbage). The
 * views live as long as the write buffer or a write transaction holds them; a leaf written to a
 * page points at the page's bytes instead (node-codec.ts), so the copy is not kept by the cache.
 */
export function copyOperations(operations: readonly MetastoreOperation[]): MetastoreOperation[] {
  const copy = new ArrayBuffer(operationBytes(operations));
  const copied: MetastoreOperation[] = [];
  let offset = 0;
  // Views made directly, not through closures (one per call) or `subarray` (a species lookup each).
  for (const operation of operations) {
    const key = new Uint8Array(copy, offset, operation.key.length);
    key.set(operation.key);
    offset += key.length;
    if (operation.type === 'delete') {
      copied.push({ type: 'delete', key });
      continue;
    }
    const value = new Uint8Array(copy, offset, operation.value.length);
    value.set(operation.value);
    offset += value.length;
    copied.push({ type: 'put', key, value });
  }
  return copied;
}

/**
 * Bytes of the keys and values of `operations`. A function that ends with its loop: see
 * assertMetastoreOperations on what a large batch's compiled loop does to the code after it.
 */
function operationBytes(operations: readonly MetastoreOperation[]): number {
  let totalBytes = 0;
  for (const operation of operations) totalBytes += operation.key.length + (operation.type === 'put' ? operation.value.length : 0);
  return totalBytes;
}

export function copyPrecondition(precondition: MetastorePrecondition): MetastorePrecondition {
  return { key: new Uint8Array(precondition.key), version: precondition.version };
}
