import { expect, it } from 'vitest';
import { toHex, utf8 } from '../test-bytes.ts';
import { keyHexes, keyTexts, type MetastoreSuiteContext, putKeys, shuffled, textKeys } from './context.ts';
import { HIGH_BYTE_CASES, HIGH_BYTE_KEYS, RANGE_CASES, RANGE_KEYS } from './scan-fixtures.ts';

export function describeScanRanges(context: MetastoreSuiteContext): void {
  for (const { title, options, expected } of RANGE_CASES) {
    it(`selects the keys of a range: ${title}`, async () => {
      const store = context.store();
      await putKeys(store, textKeys(RANGE_KEYS));
      expect(keyTexts((await store.scan(options)).entries)).toEqual(expected);
      expect(keyTexts((await store.scan({ ...options, reverse: true })).entries)).toEqual([...expected].reverse());
    });
  }

  it('selects keys by a prefix that ends in 0xff bytes', async () => {
    const store = context.store();
    await putKeys(store, shuffled(HIGH_BYTE_KEYS));
    for (const { prefix, expected } of HIGH_BYTE_CASES) {
      expect(keyHexes((await store.scan({ prefix })).entries), `prefix ${toHex(prefix)}`).toEqual(expected.map(toHex));
      const reversed = keyHexes((await store.scan({ prefix, reverse: true })).entries);
      expect(reversed, `prefix ${toHex(prefix)} reversed`).toEqual(expected.map(toHex).reverse());
    }
  });

  it('returns values and versions with the keys', async () => {
    const store = context.store();
    const version = await store.put(utf8('k'), utf8('value'));
    expect((await store.scan({})).entries).toEqual([{ key: utf8('k'), value: utf8('value'), version }]);
  });

  it('scans an empty store as an empty page without a cursor', async () => {
    expect(await context.store().scan({})).toEqual({ entries: [] });
  });
}
