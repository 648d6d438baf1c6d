import { expect, it } from 'vitest';
import { METASTORE_KEY_BYTES_MAX, METASTORE_VALUE_BYTES_MAX } from '../../../kernel/contracts/metastore.ts';
import { bytes, fromUtf8, utf8 } from '../test-bytes.ts';
import { keyTexts, type MetastoreSuiteContext, putKeys, textKeys } from './context.ts';

export function describeReadsAndWrites(context: MetastoreSuiteContext): void {
  it('returns undefined for a key never written', async () => {
    expect(await context.store().get(utf8('absent'))).toBeUndefined();
  });

  it('returns what put stored, with the key and the version put returned', async () => {
    const store = context.store();
    const version = await store.put(utf8('greeting'), utf8('hello'));
    expect(await store.get(utf8('greeting'))).toEqual({ key: utf8('greeting'), value: utf8('hello'), version });
  });

  it('replaces the value on a second put', async () => {
    const store = context.store();
    await store.put(utf8('k'), utf8('first'));
    await store.put(utf8('k'), utf8('second'));
    expect(fromUtf8((await store.get(utf8('k')))!.value)).toBe('second');
  });

  it('stores an empty value, which is not the same as absent', async () => {
    const store = context.store();
    await store.put(utf8('empty'), new Uint8Array(0));
    const entry = await store.get(utf8('empty'));
    expect(entry).toBeDefined();
    expect(entry!.value.length).toBe(0);
  });

  it('round-trips every byte value in keys and values', async () => {
    const store = context.store();
    const everyByte = Uint8Array.from({ length: 256 }, (_, index) => index);
    await store.put(everyByte, everyByte);
    await store.put(bytes(0x00), bytes(0xff));
    await store.put(bytes(0xff), bytes(0x00));
    expect((await store.get(everyByte))!.value).toEqual(everyByte);
    expect((await store.get(bytes(0x00)))!.value).toEqual(bytes(0xff));
    expect((await store.get(bytes(0xff)))!.value).toEqual(bytes(0x00));
  });

  it('reads only the visible bytes of a Uint8Array view into a larger buffer', async () => {
    const store = context.store();
    const backing = utf8('xxkeyxxvaluexx');
    await store.put(backing.subarray(2, 5), backing.subarray(7, 12));
    expect(fromUtf8((await store.get(utf8('key')))!.value)).toBe('value');
    expect(await store.get(backing)).toBeUndefined();
  });

  it('deletes a key', async () => {
    const store = context.store();
    await store.put(utf8('k'), utf8('v'));
    await store.delete(utf8('k'));
    expect(await store.get(utf8('k'))).toBeUndefined();
    expect((await store.scan({})).entries).toEqual([]);
  });

  it('deletes an absent key as a no-op that still commits', async () => {
    const store = context.store();
    const before = await store.put(utf8('other'), utf8('v'));
    const version = await store.delete(utf8('absent'));
    expect(version).toBeGreaterThan(before);
    expect(keyTexts((await store.scan({})).entries)).toEqual(['other']);
  });

  it('answers getMany in the order asked, undefined where absent, repeats included', async () => {
    const store = context.store();
    await putKeys(store, textKeys(['a', 'b']));
    const results = await store.getMany(textKeys(['b', 'missing', 'a', 'b']));
    expect(results.map((entry) => (entry === undefined ? undefined : fromUtf8(entry.value)))).toEqual([
      'b',
      undefined,
      'a',
      'b',
    ]);
  });

  it('answers getMany of no keys with no results', async () => {
    expect(await context.store().getMany([])).toEqual([]);
  });

  it('accepts a key of exactly the maximum length', async () => {
    const store = context.store();
    const key = new Uint8Array(METASTORE_KEY_BYTES_MAX).fill(0x6b);
    await store.put(key, utf8('long'));
    expect(fromUtf8((await store.get(key))!.value)).toBe('long');
  });

  it('accepts a value of exactly the maximum size', async () => {
    const store = context.store();
    const valueBytesMax = context.capabilities.valueBytesMax ?? METASTORE_VALUE_BYTES_MAX;
    const value = new Uint8Array(valueBytesMax);
    value[0] = 1;
    value[value.length - 1] = 2;
    await store.put(utf8('big'), value);
    const stored = (await store.get(utf8('big')))!.value;
    expect(stored.length).toBe(valueBytesMax);
    expect([stored[0], stored[stored.length - 1]]).toEqual([1, 2]);
  });
}
