import { expect, it } from 'vitest';
import { utf8 } from '../test-bytes.ts';
import { expectCode, keyTexts, type MetastoreSuiteContext, putKeys, putOperation, textKeys } from './context.ts';

const NO_REOPEN = 'the driver declares no reopen capability: it keeps nothing once closed';

export function describeLifecycle(context: MetastoreSuiteContext): void {
  it('rejects every call after close with ECLOSED, and closes idempotently', async () => {
    const store = context.store();
    await store.put(utf8('k'), utf8('v'));
    await store.close();
    await store.close();
    await expectCode(store.get(utf8('k')), 'ECLOSED');
    await expectCode(store.getMany([utf8('k')]), 'ECLOSED');
    await expectCode(store.put(utf8('k'), utf8('v')), 'ECLOSED');
    await expectCode(store.delete(utf8('k')), 'ECLOSED');
    await expectCode(store.batch([putOperation(utf8('k'), utf8('v'))]), 'ECLOSED');
    await expectCode(store.scan({}), 'ECLOSED');
  });

  it('keeps entries and versions across close and reopen', async (test) => {
    const { reopen } = context.capabilities;
    test.skip(reopen === undefined, NO_REOPEN);
    const store = context.store();
    await putKeys(store, textKeys(['a', 'b']));
    const last = await store.put(utf8('c'), utf8('c'));
    await store.delete(utf8('b'));
    const before = await store.scan({});
    await store.close();
    const reopened = await reopen!(store);
    try {
      expect(await reopened.scan({})).toEqual(before);
      expect(await reopened.put(utf8('d'), utf8('d'))).toBeGreaterThan(last);
    } finally {
      await reopened.close();
    }
  });

  it('keeps nothing of a failed batch across close and reopen', async (test) => {
    const { reopen } = context.capabilities;
    test.skip(reopen === undefined, NO_REOPEN);
    const store = context.store();
    await store.put(utf8('k'), utf8('v'));
    await expectCode(store.batch([putOperation(utf8('x'), utf8('x'))], [{ key: utf8('k'), version: null }]), 'ECONFLICT');
    await store.close();
    const reopened = await reopen!(store);
    try {
      expect(keyTexts((await reopened.scan({})).entries)).toEqual(['k']);
    } finally {
      await reopened.close();
    }
  });
}
