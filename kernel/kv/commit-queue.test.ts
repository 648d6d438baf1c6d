import { describe, expect, it } from 'vitest';
import type { MetastoreOperation } from '../contracts/metastore.ts';
import { copyOperations, copyPreconditions, queuedBatch, queuedSync, takeGroup } from './commit-queue.ts';

const ignore = (): void => {};

// The writer's code is compiled for the shapes it sees: these check that the queue's items and the
// copies it holds each have one (the same fields in the same order), which is what gives V8 one
// hidden class per kind of object (see queuedBatch).
describe('commit queue items', () => {
  it('makes batches and sync requests with the same fields in the same order', () => {
    const batch = queuedBatch([{ type: 'put', key: new Uint8Array(1), value: new Uint8Array(1) }], [], 'durable', ignore, ignore);
    const sync = queuedSync(ignore, ignore);
    expect(Object.keys(sync)).toEqual(Object.keys(batch));
    expect(sync.operations).toHaveLength(0);
    expect(sync.preconditions).toHaveLength(0);
  });

  it('copies puts and deletes with the same fields in the same order, into buffers of their own', () => {
    const key = Uint8Array.of(1, 2);
    const value = Uint8Array.of(3);
    const operations: MetastoreOperation[] = [
      { type: 'put', key, value },
      { type: 'delete', key },
    ];
    const [put, deleted] = copyOperations(operations) as [MetastoreOperation & { type: 'put' }, MetastoreOperation];
    expect(Object.keys(deleted)).toEqual(Object.keys(put));
    expect(deleted).toMatchObject({ type: 'delete', key: Uint8Array.of(1, 2) });
    key[0] = 9;
    value[0] = 9;
    expect(put).toMatchObject({ type: 'put', key: Uint8Array.of(1, 2), value: Uint8Array.of(3) });
    expect(deleted.key).toEqual(Uint8Array.of(1, 2));
  });

  it('shares one empty list for batches without preconditions and copies the others', () => {
    expect(copyPreconditions([])).toBe(copyPreconditions([]));
    expect(copyPreconditions([])).toHaveLength(0);
    const key = Uint8Array.of(7);
    const [copied] = copyPreconditions([{ key, version: 3 }]);
    key[0] = 8;
    expect(copied).toEqual({ key: Uint8Array.of(7), version: 3 });
  });

  it('takes batches and sync requests that arrived together into one group', () => {
    const queue = [queuedSync(ignore, ignore), queuedBatch([], [], 'relaxed', ignore, ignore), queuedSync(ignore, ignore)];
    expect(takeGroup(queue)).toHaveLength(3);
    expect(queue).toHaveLength(0);
  });
});
