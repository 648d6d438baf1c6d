import type { MetastoreOperation, MetastorePrecondition } from '../contracts/metastore.ts';
import { GROUP_COMMIT_BATCHES_MAX, GROUP_COMMIT_OPERATIONS_MAX } from './constants.ts';
import type { KvDurability } from './kv-store-types.ts';

/** A commit waiting for the writer. Its keys and values are private copies. */
export interface QueuedBatch {
  kind: 'batch';
  operations: MetastoreOperation[];
  preconditions: readonly MetastorePrecondition[];
  durability: KvDurability;
  resolve(version: number): void;
  reject(error: unknown): void;
}

/**
 * A request to make everything committed so far durable. It has a batch's fields, empty: see
 * `queuedSync`.
 */
export interface QueuedSync {
  kind: 'sync';
  operations: readonly MetastoreOperation[];
  preconditions: readonly MetastorePrecondition[];
  durability: 'durable';
  resolve(): void;
  reject(error: unknown): void;
}

export type QueuedWork = QueuedBatch | QueuedSync;

/**
 * The operations of a sync request, and the preconditions of every batch without any: one empty
 * array each, shared and never written. Made by emptying an array of objects, not by a literal
 * `[]`: V8 gives an array a hidden class by the kind of its elements, an empty literal's (small
 * integers) is not a copied precondition list's (objects), and code compiled for one deoptimized
 * at the other (seen: the writer's read of `preconditions.length`, at a store's first commits).
 */
const NO_OPERATIONS: readonly MetastoreOperation[] = [{ type: 'delete', key: new Uint8Array(0) } as MetastoreOperation].slice(0, 0);
const NO_PRECONDITIONS: readonly MetastorePrecondition[] = [{ key: new Uint8Array(0), version: null } as MetastorePrecondition].slice(0, 0);

/**
 * The queue's items, batches and syncs, are made here with the same fields in the same order: one
 * hidden class for V8, so the writer's loops compile for one shape. Why: code V8 compiled for the
 * shapes it had seen deoptimizes at the first other one (a close's sync request after commits,
 * say), and the commit path then runs in the interpreter until V8 has compiled it again, on the
 * machine's other core, beside the thread pool's fdatasync. A new shape, a deleted key's copy and
 * an empty precondition list were among what did that to bench:kv's lone durable commits, which
 * ran while V8 compiled 51-58 ms of their path (--trace-opt, --trace-deopt).
 */
export function queuedBatch(
  operations: MetastoreOperation[],
  preconditions: readonly MetastorePrecondition[],
  durability: KvDurability,
  resolve: (version: number) => void,
  reject: (error: unknown) => void,
): QueuedBatch {
  return { kind: 'batch', operations, preconditions, durability, resolve, reject };
}

export function queuedSync(resolve: () => void, reject: (error: unknown) => void): QueuedSync {
  return { kind: 'sync', operations: NO_OPERATIONS, preconditions: NO_PRECONDITIONS, durability: 'durable', resolve, reject };
}

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
    let value: Uint8Array | undefined;
    if (operation.type === 'put') {
      value = new Uint8Array(copy, offset, operation.value.length);
      value.set(operation.value);
      offset += value.length;
    }
    copied.push(copiedOperation(operation.type, key, value));
  }
  return copied;
}

/**
 * A copied operation: puts and deletes made by one object literal, with the same fields (a
 * delete's value undefined), so the code that reads copies (the write buffer, the log's encoder,
 * the write transaction) sees one hidden class; see queuedBatch on what a second one cost.
 */
function copiedOperation(type: MetastoreOperation['type'], key: Uint8Array, value: Uint8Array | undefined): MetastoreOperation {
  return { type, key, value } as MetastoreOperation;
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

/** Private copies of a batch's preconditions (NO_PRECONDITIONS when it has none). */
export function copyPreconditions(preconditions: readonly MetastorePrecondition[]): readonly MetastorePrecondition[] {
  return preconditions.length === 0 ? NO_PRECONDITIONS : preconditions.map(copyPrecondition);
}

function copyPrecondition(precondition: MetastorePrecondition): MetastorePrecondition {
  return { key: new Uint8Array(precondition.key), version: precondition.version };
}
