import { expect, it } from 'vitest';
import { METASTORE_SCAN_LIMIT_MAX } from '../../../kernel/contracts/metastore.ts';
import { fromUtf8, toHex, utf8 } from '../test-bytes.ts';
import { keyHexes, keyTexts, type MetastoreSuiteContext, putKeys, scanAll, textKeys } from './context.ts';
import { HIGH_BYTE_CASES, HIGH_BYTE_KEYS, RANGE_CASES, RANGE_KEYS } from './scan-fixtures.ts';

const PAGE_LIMITS = [1, 2, 3, 4, 9, 10, 11];

export function describeScanPages(context: MetastoreSuiteContext): void {
  it('returns the first `limit` entries and a cursor when more follow', async () => {
    const store = context.store();
    await putKeys(store, textKeys(RANGE_KEYS));
    const page = await store.scan({ limit: 3 });
    expect(keyTexts(page.entries)).toEqual(RANGE_KEYS.slice(0, 3));
    expect(typeof page.cursor).toBe('string');
    const reversed = await store.scan({ limit: 3, reverse: true });
    expect(keyTexts(reversed.entries)).toEqual([...RANGE_KEYS].reverse().slice(0, 3));
    expect(typeof reversed.cursor).toBe('string');
  });

  it('sets no cursor on a page shorter than the limit', async () => {
    const store = context.store();
    await putKeys(store, textKeys(RANGE_KEYS));
    expect((await store.scan({ limit: RANGE_KEYS.length + 1 })).cursor).toBeUndefined();
    expect((await store.scan({ limit: 4, prefix: utf8('b') })).cursor).toBeUndefined();
  });

  it('pages through every range, forward and reverse, to exactly the entries of one scan', async () => {
    const store = context.store();
    await putKeys(store, textKeys(RANGE_KEYS));
    for (const { title, options, expected } of RANGE_CASES) {
      for (const limit of PAGE_LIMITS) {
        const forward = keyTexts(await scanAll(store, { ...options, limit }));
        expect(forward, `${title}, limit ${limit}`).toEqual(expected);
        const backward = keyTexts(await scanAll(store, { ...options, limit, reverse: true }));
        expect(backward, `${title}, limit ${limit}, reverse`).toEqual([...expected].reverse());
      }
    }
  });

  it('pages through keys that end in 0xff bytes', async () => {
    const store = context.store();
    await putKeys(store, HIGH_BYTE_KEYS);
    for (const { prefix, expected } of HIGH_BYTE_CASES) {
      expect(keyHexes(await scanAll(store, { prefix, limit: 1 }))).toEqual(expected.map(toHex));
      expect(keyHexes(await scanAll(store, { prefix, limit: 1, reverse: true }))).toEqual(expected.map(toHex).reverse());
    }
  });

  it('continues after the cursor: writes behind it are not seen, writes ahead of it are', async () => {
    const store = context.store();
    await putKeys(store, textKeys(['b', 'd', 'f', 'h']));
    const first = await store.scan({ limit: 2 });
    expect(keyTexts(first.entries)).toEqual(['b', 'd']);
    await putKeys(store, textKeys(['a', 'c', 'e', 'i']));
    await store.delete(utf8('f'));
    await store.delete(utf8('d'));
    const rest = await scanAll(store, { limit: 2, cursor: first.cursor! });
    expect(keyTexts(rest)).toEqual(['e', 'h', 'i']);
  });

  it('continues a reverse scan before the cursor: writes behind it are not seen, writes ahead are', async () => {
    const store = context.store();
    await putKeys(store, textKeys(['b', 'd', 'f', 'h']));
    const first = await store.scan({ limit: 2, reverse: true });
    expect(keyTexts(first.entries)).toEqual(['h', 'f']);
    await putKeys(store, textKeys(['a', 'e', 'g', 'i']));
    await store.delete(utf8('d'));
    await store.delete(utf8('f'));
    const rest = await scanAll(store, { limit: 2, reverse: true, cursor: first.cursor! });
    expect(keyTexts(rest)).toEqual(['e', 'b', 'a']);
  });

  it('keeps a cursor within the range it was given with', async () => {
    const store = context.store();
    await putKeys(store, textKeys(RANGE_KEYS));
    const options = { prefix: utf8('a/'), start: utf8('a/1'), end: utf8('a/3') };
    const first = await store.scan({ ...options, limit: 1 });
    const rest = await scanAll(store, { ...options, limit: 1, cursor: first.cursor! });
    expect(keyTexts([...first.entries, ...rest])).toEqual(['a/1', 'a/2', 'a/2/x']);
  });

  it('clamps a limit above the maximum to the maximum', async () => {
    const store = context.store();
    const keys = Array.from({ length: METASTORE_SCAN_LIMIT_MAX + 1 }, (_, index) => utf8(`key-${String(index).padStart(6, '0')}`));
    await putKeys(store, keys);
    const clamped = await store.scan({ limit: METASTORE_SCAN_LIMIT_MAX + 100 });
    expect(clamped.entries.length).toBe(METASTORE_SCAN_LIMIT_MAX);
    expect(typeof clamped.cursor).toBe('string');
    const byDefault = await store.scan({});
    expect(byDefault.entries.length).toBe(METASTORE_SCAN_LIMIT_MAX);
    const last = await store.scan({ cursor: byDefault.cursor! });
    expect(keyTexts(last.entries)).toEqual([fromUtf8(keys.at(-1)!)]);
    expect(last.cursor).toBeUndefined();
  });
}
