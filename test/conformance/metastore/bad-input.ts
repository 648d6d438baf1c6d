import { expect, it } from 'vitest';
import {
  METASTORE_BATCH_OPERATIONS_MAX,
  METASTORE_KEY_BYTES_MAX,
  METASTORE_VALUE_BYTES_MAX,
  type MetastoreOperation,
} from '../../../kernel/contracts/metastore.ts';
import { utf8 } from '../test-bytes.ts';
import { expectCode, type MetastoreSuiteContext, putKeys, putOperation, textKeys } from './context.ts';

const EMPTY = new Uint8Array(0);
const TOO_LONG_KEY = new Uint8Array(METASTORE_KEY_BYTES_MAX + 1).fill(0x6b);
/** Not a Uint8Array: what a caller that bypasses the types might pass. */
const NOT_BYTES = 'key' as unknown as Uint8Array;

export function describeBadInput(context: MetastoreSuiteContext): void {
  it('rejects empty, oversized and non-byte keys with EINVAL in every operation', async () => {
    const store = context.store();
    for (const key of [EMPTY, TOO_LONG_KEY, NOT_BYTES]) {
      await expectCode(store.get(key), 'EINVAL');
      await expectCode(store.getMany([utf8('fine'), key]), 'EINVAL');
      await expectCode(store.put(key, utf8('v')), 'EINVAL');
      await expectCode(store.delete(key), 'EINVAL');
      await expectCode(store.batch([putOperation(key, utf8('v'))]), 'EINVAL');
      await expectCode(store.batch([{ type: 'delete', key }]), 'EINVAL');
      await expectCode(store.batch([], [{ key, version: null }]), 'EINVAL');
    }
    expect((await store.scan({})).entries).toEqual([]);
  });

  it('rejects oversized and non-byte values with EINVAL', async () => {
    const store = context.store();
    const tooBig = new Uint8Array(METASTORE_VALUE_BYTES_MAX + 1);
    for (const value of [tooBig, NOT_BYTES]) {
      await expectCode(store.put(utf8('k'), value), 'EINVAL');
      await expectCode(store.batch([putOperation(utf8('k'), value)]), 'EINVAL');
    }
    expect(await store.get(utf8('k'))).toBeUndefined();
  });

  it('applies nothing of a batch with one bad operation', async () => {
    const store = context.store();
    const failing = store.batch([putOperation(utf8('a'), utf8('1')), putOperation(EMPTY, utf8('2')), putOperation(utf8('b'), utf8('3'))]);
    await expectCode(failing, 'EINVAL');
    const unknownType = { type: 'merge', key: utf8('c') } as unknown as MetastoreOperation;
    await expectCode(store.batch([putOperation(utf8('a'), utf8('1')), unknownType]), 'EINVAL');
    expect((await store.scan({})).entries).toEqual([]);
  });

  it('rejects precondition versions that are not positive integers or null with EINVAL', async () => {
    const store = context.store();
    for (const version of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1' as unknown as number, undefined as unknown as number]) {
      await expectCode(store.batch([putOperation(utf8('k'), utf8('v'))], [{ key: utf8('k'), version }]), 'EINVAL');
    }
    expect(await store.get(utf8('k'))).toBeUndefined();
  });

  it('rejects a batch with more operations and preconditions than the maximum with EINVAL', async () => {
    const store = context.store();
    const half = Math.ceil((METASTORE_BATCH_OPERATIONS_MAX + 1) / 2);
    const operations = new Array<MetastoreOperation>(half).fill(putOperation(utf8('k'), EMPTY));
    const preconditions = new Array(METASTORE_BATCH_OPERATIONS_MAX + 1 - half).fill({ key: utf8('p'), version: null });
    await expectCode(store.batch(operations, preconditions), 'EINVAL');
    const tooMany = new Array<MetastoreOperation>(METASTORE_BATCH_OPERATIONS_MAX + 1).fill(putOperation(utf8('k'), EMPTY));
    await expectCode(store.batch(tooMany), 'EINVAL');
    expect((await store.scan({ limit: 1 })).entries).toEqual([]);
  });

  it('rejects getMany of more keys than the maximum with EINVAL', async () => {
    const keys = new Array<Uint8Array>(METASTORE_BATCH_OPERATIONS_MAX + 1).fill(utf8('k'));
    await expectCode(context.store().getMany(keys), 'EINVAL');
  });

  it('rejects limits that are not positive integers with EINVAL', async () => {
    const store = context.store();
    await store.put(utf8('k'), utf8('v'));
    for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '2' as unknown as number]) {
      await expectCode(store.scan({ limit }), 'EINVAL');
    }
  });

  it('rejects a range whose start is after its end with EINVAL', async () => {
    const store = context.store();
    await expectCode(store.scan({ start: utf8('b'), end: utf8('a') }), 'EINVAL');
    await expectCode(store.scan({ start: utf8('a'), end: EMPTY }), 'EINVAL');
    await expectCode(store.scan({ start: utf8('b'), end: utf8('a'), reverse: true }), 'EINVAL');
  });

  it('rejects oversized or non-byte bounds with EINVAL', async () => {
    const store = context.store();
    for (const bound of [TOO_LONG_KEY, NOT_BYTES]) {
      await expectCode(store.scan({ prefix: bound }), 'EINVAL');
      await expectCode(store.scan({ start: bound }), 'EINVAL');
      await expectCode(store.scan({ end: bound }), 'EINVAL');
    }
  });

  it('rejects cursors that no scan handed out with EINVAL', async () => {
    const store = context.store();
    await putKeys(store, textKeys(['a', 'b', 'c']));
    for (const cursor of ['', 'not a cursor!', '%%%', '\u00e9t\u00e9', 'A', 123 as unknown as string]) {
      await expectCode(store.scan({ cursor }), 'EINVAL');
      await expectCode(store.scan({ cursor, reverse: true }), 'EINVAL');
    }
  });
}
