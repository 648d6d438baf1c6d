import { expect, it } from 'vitest';
import { bytes, toHex } from '../test-bytes.ts';
import { keyHexes, keyTexts, type MetastoreSuiteContext, putKeys, shuffled, textKeys } from './context.ts';

/** Keys in the order the contract defines, chosen where a wrong comparison goes wrong. */
const ORDERED_KEYS = [
  bytes(0x00),
  bytes(0x00, 0x00),
  bytes(0x00, 0xff),
  bytes(0x01),
  bytes(0x61), // a
  bytes(0x61, 0x00), // a\0: a prefix sorts before its extensions, even by a zero byte
  bytes(0x61, 0x01),
  bytes(0x61, 0x62), // ab
  bytes(0x62), // b
  bytes(0x7f),
  bytes(0x80), // signed comparison would put this first
  bytes(0x80, 0x00),
  bytes(0xfe, 0xff, 0xff),
  bytes(0xff),
  bytes(0xff, 0x00),
  bytes(0xff, 0xff),
  bytes(0xff, 0xff, 0xff),
];

export function describeKeyOrder(context: MetastoreSuiteContext): void {
  it('orders keys by unsigned bytes, a prefix before its extensions', async () => {
    const store = context.store();
    for (const key of shuffled(ORDERED_KEYS)) await store.put(key, key);
    expect(keyHexes((await store.scan({})).entries)).toEqual(ORDERED_KEYS.map(toHex));
  });

  it('returns the same order reversed with reverse', async () => {
    const store = context.store();
    await putKeys(store, shuffled(ORDERED_KEYS));
    expect(keyHexes((await store.scan({ reverse: true })).entries)).toEqual(ORDERED_KEYS.map(toHex).reverse());
  });

  it('orders by UTF-8 bytes, not by UTF-16 code units', async () => {
    const store = context.store();
    // UTF-16 puts U+10000 (a surrogate pair, 0xd800...) before U+FFFF; UTF-8 puts it after.
    const inByteOrder = ['z', '\u00e9', '\uffff', '\u{10000}'];
    await putKeys(store, textKeys([...inByteOrder].reverse()));
    expect(keyTexts((await store.scan({})).entries)).toEqual(inByteOrder);
  });
}
