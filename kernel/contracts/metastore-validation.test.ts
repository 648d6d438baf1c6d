import { describe, expect, it } from 'vitest';
import { METASTORE_KEY_BYTES_MAX, METASTORE_SCAN_LIMIT_MAX } from './metastore.ts';
import { decodeScanCursor, encodeScanCursor } from './metastore-cursor.ts';
import { isEmptyMetastoreScan, isInMetastoreScan, resolveMetastoreScan } from './metastore-validation.ts';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('resolveMetastoreScan', () => {
  it('folds a prefix into a half-open range', () => {
    const scan = resolveMetastoreScan({ prefix: utf8('a/') });
    expect(scan).toEqual({ start: utf8('a/'), end: utf8('a0'), reverse: false, limit: METASTORE_SCAN_LIMIT_MAX });
  });

  it('takes the tighter of prefix and start/end bounds', () => {
    const scan = resolveMetastoreScan({ prefix: utf8('a/'), start: utf8('a/m'), end: utf8('b'), limit: 3 });
    expect(scan).toMatchObject({ start: utf8('a/m'), end: utf8('a0'), limit: 3 });
  });

  it('continues a forward scan strictly after the cursor key, a reverse scan strictly before it', () => {
    const cursor = encodeScanCursor(utf8('k'));
    const forward = resolveMetastoreScan({ cursor });
    expect(isInMetastoreScan(utf8('k'), forward)).toBe(false);
    expect(isInMetastoreScan(utf8('k\u0000'), forward)).toBe(true);
    const reverse = resolveMetastoreScan({ cursor, reverse: true });
    expect(isInMetastoreScan(utf8('k'), reverse)).toBe(false);
    expect(isInMetastoreScan(utf8('j\u00ff'), reverse)).toBe(true);
  });

  it('says when a range cannot hold any key', () => {
    expect(isEmptyMetastoreScan(resolveMetastoreScan({ start: utf8('a'), end: utf8('a') }))).toBe(true);
    expect(isEmptyMetastoreScan(resolveMetastoreScan({ prefix: utf8('a'), start: utf8('b') }))).toBe(true);
    expect(isEmptyMetastoreScan(resolveMetastoreScan({ prefix: utf8('a') }))).toBe(false);
  });

  it('rejects a reverse flag that is not a boolean', () => {
    expect(() => resolveMetastoreScan({ reverse: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
  });
});

describe('scan cursor', () => {
  it('round-trips a key of any byte values up to the maximum length', () => {
    const key = Uint8Array.from({ length: METASTORE_KEY_BYTES_MAX }, (_, index) => index % 256);
    expect(decodeScanCursor(encodeScanCursor(key))).toEqual(key);
  });

  it('rejects an empty or oversized key as not a cursor', () => {
    const tooLong = encodeScanCursor(new Uint8Array(METASTORE_KEY_BYTES_MAX + 1));
    for (const cursor of ['', tooLong]) {
      expect(() => decodeScanCursor(cursor)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });
});
