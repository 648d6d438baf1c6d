import { expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../test-bytes.ts';
import { keyTexts, type MetastoreSuiteContext, putOperation } from './context.ts';

export function describeBufferOwnership(context: MetastoreSuiteContext): void {
  it('keeps what put stored when the caller changes its buffers afterwards', async () => {
    const store = context.store();
    const key = utf8('key');
    const value = utf8('value');
    await store.put(key, value);
    key.fill(0x7a);
    value.fill(0x7a);
    expect(fromUtf8((await store.get(utf8('key')))!.value)).toBe('value');
    expect(await store.get(utf8('zzz'))).toBeUndefined();
  });

  it('keeps what a batch stored when the caller changes its buffers afterwards', async () => {
    const store = context.store();
    const key = utf8('key');
    const value = utf8('value');
    const operations = [putOperation(key, value)];
    await store.batch(operations);
    key.fill(0x7a);
    value.fill(0x7a);
    expect(fromUtf8((await store.get(utf8('key')))!.value)).toBe('value');
  });

  it('is not changed when the caller changes buffers it returned', async () => {
    const store = context.store();
    await store.put(utf8('key'), utf8('value'));
    const read = (await store.get(utf8('key')))!;
    read.value.fill(0x7a);
    read.key.fill(0x7a);
    const [many] = await store.getMany([utf8('key')]);
    many!.value.fill(0x7a);
    const [scanned] = (await store.scan({})).entries;
    scanned!.key.fill(0x7a);
    scanned!.value.fill(0x7a);
    expect(await store.get(utf8('key'))).toMatchObject({ key: utf8('key'), value: utf8('value') });
    expect(keyTexts((await store.scan({})).entries)).toEqual(['key']);
  });

  it('keeps returned buffers unchanged by later writes', async () => {
    const store = context.store();
    await store.put(utf8('key'), utf8('first'));
    const read = (await store.get(utf8('key')))!;
    await store.put(utf8('key'), utf8('later'));
    expect(fromUtf8(read.value)).toBe('first');
  });
}
