import { expect, it } from 'vitest';
import { METASTORE_BATCH_OPERATIONS_MAX, type Metastore, type MetastoreOperation } from '../../../kernel/contracts/metastore.ts';
import { fromUtf8, toHex, utf8 } from '../test-bytes.ts';
import { expectCode, keyTexts, type MetastoreSuiteContext, putOperation, textKeys } from './context.ts';

/** How many batches race for one precondition in the concurrency tests. */
const RACING_BATCHES = 8;

export function describeBatch(context: MetastoreSuiteContext): void {
  it('applies every operation as one commit with one version', async () => {
    const store = context.store();
    await store.put(utf8('gone'), utf8('v'));
    const version = await store.batch([
      putOperation(utf8('a'), utf8('1')),
      putOperation(utf8('b'), utf8('2')),
      { type: 'delete', key: utf8('gone') },
    ]);
    const entries = (await store.scan({})).entries;
    expect(keyTexts(entries)).toEqual(['a', 'b']);
    expect(entries.map((entry) => entry.version)).toEqual([version, version]);
  });

  it('lets a later operation on the same key win', async () => {
    const store = context.store();
    await store.put(utf8('deleted-after-put'), utf8('old'));
    await store.batch([
      putOperation(utf8('put-twice'), utf8('first')),
      putOperation(utf8('put-twice'), utf8('second')),
      putOperation(utf8('deleted-after-put'), utf8('new')),
      { type: 'delete', key: utf8('deleted-after-put') },
      { type: 'delete', key: utf8('put-after-delete') },
      putOperation(utf8('put-after-delete'), utf8('back')),
    ]);
    const [twice, deleted, back] = await store.getMany(textKeys(['put-twice', 'deleted-after-put', 'put-after-delete']));
    expect(fromUtf8(twice!.value)).toBe('second');
    expect(deleted).toBeUndefined();
    expect(fromUtf8(back!.value)).toBe('back');
  });

  it('applies a batch whose version precondition holds', async () => {
    const store = context.store();
    const version = await store.put(utf8('k'), utf8('1'));
    await store.batch([putOperation(utf8('k'), utf8('2'))], [{ key: utf8('k'), version }]);
    expect(fromUtf8((await store.get(utf8('k')))!.value)).toBe('2');
  });

  it('applies a batch whose must-not-exist precondition holds, also for a deleted key', async () => {
    const store = context.store();
    await store.put(utf8('deleted'), utf8('v'));
    await store.delete(utf8('deleted'));
    await store.batch(
      [putOperation(utf8('new'), utf8('1')), putOperation(utf8('deleted'), utf8('1'))],
      [
        { key: utf8('new'), version: null },
        { key: utf8('deleted'), version: null },
      ],
    );
    expect(keyTexts((await store.scan({})).entries)).toEqual(['deleted', 'new']);
  });

  it('rejects with ECONFLICT and applies nothing when a version precondition fails', async () => {
    const store = context.store();
    const stale = await store.put(utf8('k'), utf8('1'));
    await store.put(utf8('k'), utf8('2'));
    const before = await store.scan({});
    const failing = store.batch(
      [putOperation(utf8('a'), utf8('x')), putOperation(utf8('k'), utf8('3')), { type: 'delete', key: utf8('k') }],
      [{ key: utf8('k'), version: stale }],
    );
    await expectCode(failing, 'ECONFLICT');
    expect(await store.scan({})).toEqual(before);
  });

  it('rejects with ECONFLICT when a key that must not exist does', async () => {
    const store = context.store();
    await store.put(utf8('k'), utf8('1'));
    await expectCode(store.batch([putOperation(utf8('k'), utf8('2'))], [{ key: utf8('k'), version: null }]), 'ECONFLICT');
    expect(fromUtf8((await store.get(utf8('k')))!.value)).toBe('1');
  });

  it('rejects with ECONFLICT when a key that must have a version is absent', async () => {
    const store = context.store();
    const version = await store.put(utf8('k'), utf8('1'));
    await store.delete(utf8('k'));
    await expectCode(store.batch([putOperation(utf8('k'), utf8('2'))], [{ key: utf8('k'), version }]), 'ECONFLICT');
    expect(await store.get(utf8('k'))).toBeUndefined();
  });

  it('fails the whole batch when any one of several preconditions fails', async () => {
    const store = context.store();
    const a = await store.put(utf8('a'), utf8('1'));
    const b = await store.put(utf8('b'), utf8('1'));
    const failing = store.batch(
      [putOperation(utf8('a'), utf8('2')), putOperation(utf8('b'), utf8('2'))],
      [
        { key: utf8('a'), version: a },
        { key: utf8('b'), version: b },
        { key: utf8('conflict-key'), version: a },
      ],
    );
    await expect(failing).rejects.toMatchObject({ code: 'ECONFLICT' });
    const message = await failing.catch((error: Error) => error.message);
    const namesKey = String(message).includes('conflict-key') || String(message).includes(toHex(utf8('conflict-key')));
    expect(namesKey, `the conflict message names the failing key: ${String(message)}`).toBe(true);
    expect((await store.getMany(textKeys(['a', 'b']))).map((entry) => fromUtf8(entry!.value))).toEqual(['1', '1']);
  });

  it('checks preconditions against the state before the batch, not its own operations', async () => {
    const store = context.store();
    const create = (): Promise<number> =>
      store.batch([putOperation(utf8('k'), utf8('v'))], [{ key: utf8('k'), version: null }]);
    await create();
    await expectCode(create(), 'ECONFLICT');
  });

  it('commits a batch with no operations, which checks its preconditions and changes nothing', async () => {
    const store = context.store();
    const version = await store.put(utf8('k'), utf8('v'));
    const checked = await store.batch([], [{ key: utf8('k'), version }]);
    expect(checked).toBeGreaterThan(version);
    expect((await store.get(utf8('k')))!.version).toBe(version);
    await expectCode(store.batch([], [{ key: utf8('k'), version: null }]), 'ECONFLICT');
  });

  it('lets exactly one of several racing batches with the same version precondition win', async () => {
    const store = context.store();
    const version = await store.put(utf8('counter'), utf8('start'));
    const attempts = Array.from({ length: RACING_BATCHES }, (_, index) =>
      store.batch([putOperation(utf8('counter'), utf8(`writer-${index}`))], [{ key: utf8('counter'), version }]),
    );
    await expectOneWinner(store, attempts, utf8('counter'));
  });

  it('lets exactly one of several racing create-if-absent batches win', async () => {
    const store = context.store();
    const attempts = Array.from({ length: RACING_BATCHES }, (_, index) =>
      store.batch([putOperation(utf8('lock'), utf8(`writer-${index}`))], [{ key: utf8('lock'), version: null }]),
    );
    await expectOneWinner(store, attempts, utf8('lock'));
  });

  it('accepts a batch of exactly the maximum number of operations', async () => {
    const store = context.store();
    const operations = new Array<MetastoreOperation>(METASTORE_BATCH_OPERATIONS_MAX).fill({ type: 'delete', key: utf8('absent') });
    expect(await store.batch(operations)).toBeGreaterThan(0);
  });
}

async function expectOneWinner(store: Metastore, attempts: Promise<number>[], key: Uint8Array): Promise<void> {
  const results = await Promise.allSettled(attempts);
  const winners = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
  expect(winners.length).toBe(1);
  for (const result of results) {
    if (result.status === 'rejected') expect(result.reason).toMatchObject({ code: 'ECONFLICT' });
  }
  const entry = (await store.get(key))!;
  expect(fromUtf8(entry.value)).toBe(`writer-${winners[0]}`);
  expect(entry.version).toBe((results[winners[0]!] as PromiseFulfilledResult<number>).value);
}
