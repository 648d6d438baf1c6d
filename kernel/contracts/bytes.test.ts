import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { POOLED_COPY_BYTES_MAX, bytesSuccessor, compareBytes, concatChunks, copyBytes, copyBytesPooled, describeBytes, hasPrefix, prefixEnd } from './bytes.ts';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const hex = (value: Uint8Array): string => Array.from(value, (byte) => byte.toString(16).padStart(2, '0')).join('');
const byteStrings = fc.uint8Array({ maxLength: 4 }).map((value) => Uint8Array.from(value));

describe('compareBytes', () => {
  it('compares unsigned, and puts a prefix first', () => {
    expect(compareBytes(bytes(0x7f), bytes(0x80))).toBeLessThan(0);
    expect(compareBytes(bytes(0x61), bytes(0x61, 0x00))).toBeLessThan(0);
    expect(compareBytes(bytes(), bytes(0x00))).toBeLessThan(0);
    expect(compareBytes(bytes(0xff, 0x00), bytes(0xff))).toBeGreaterThan(0);
    expect(compareBytes(bytes(1, 2), bytes(1, 2))).toBe(0);
  });

  it('agrees with comparing hex strings, which sort like the bytes they spell', () => {
    fc.assert(
      fc.property(byteStrings, byteStrings, (a, b) => {
        expect(Math.sign(compareBytes(a, b))).toBe(Math.sign(hex(a) < hex(b) ? -1 : hex(a) > hex(b) ? 1 : 0));
      }),
    );
  });
});

describe('prefixEnd', () => {
  it('increments the last byte that can be, dropping trailing 0xff', () => {
    expect(prefixEnd(bytes(0x61, 0x62))).toEqual(bytes(0x61, 0x63));
    expect(prefixEnd(bytes(0x61, 0xff, 0xff))).toEqual(bytes(0x62));
    expect(prefixEnd(bytes(0xff, 0xff))).toBeUndefined();
    expect(prefixEnd(bytes())).toBeUndefined();
  });

  it('bounds exactly the byte strings that start with the prefix', () => {
    fc.assert(
      fc.property(byteStrings, byteStrings, (prefix, key) => {
        const end = prefixEnd(prefix);
        const inRange = compareBytes(key, prefix) >= 0 && (end === undefined || compareBytes(key, end) < 0);
        expect(inRange).toBe(hasPrefix(key, prefix));
      }),
    );
  });

  it('does not change its argument', () => {
    const prefix = bytes(0x61);
    prefixEnd(prefix);
    expect(prefix).toEqual(bytes(0x61));
  });
});

describe('bytesSuccessor', () => {
  it('is the smallest byte string greater than its argument', () => {
    fc.assert(
      fc.property(byteStrings, byteStrings, (value, other) => {
        const successor = bytesSuccessor(value);
        expect(compareBytes(successor, value)).toBeGreaterThan(0);
        // Nothing lies strictly between a value and its successor.
        expect(compareBytes(other, value) > 0 && compareBytes(other, successor) < 0).toBe(false);
      }),
    );
  });
});

describe('copyBytes', () => {
  it('copies the visible bytes of a view into memory of its own', () => {
    const backing = bytes(1, 2, 3, 4);
    const copy = copyBytes(backing.subarray(1, 3));
    backing.fill(0);
    expect(copy).toEqual(bytes(2, 3));
    expect(copy.buffer.byteLength).toBe(2);
  });
});

describe('copyBytesPooled', () => {
  it('copies small views into one slab, each apart, aligned, and unchanged by the source or the next copies', () => {
    const sources = Array.from({ length: 300 }, (_, index) => Uint8Array.from({ length: index % 40 }, (_, byte) => (index * 7 + byte) & 0xff));
    const copies = sources.map((source) => copyBytesPooled(source));
    const expected = sources.map((source) => [...source]);
    for (const source of sources) source.fill(0xee);
    for (const [index, copy] of copies.entries()) {
      expect([...copy], `copy ${index}`).toEqual(expected[index]);
      expect(copy.byteOffset % 8).toBe(0);
    }
    // 300 copies of at most 39 bytes share a few slabs rather than owning 300 buffers.
    expect(new Set(copies.map((copy) => copy.buffer)).size).toBeLessThan(10);
    copies[0]!.fill(1);
    expect([...copies[1]!]).toEqual(expected[1]);
  });

  it('gives a copy above POOLED_COPY_BYTES_MAX memory of its own, and pools one of that size', () => {
    const large = new Uint8Array(POOLED_COPY_BYTES_MAX + 1).fill(5);
    const pooled = copyBytesPooled(large.subarray(1));
    const own = copyBytesPooled(large);
    expect(pooled.buffer.byteLength).toBeGreaterThan(POOLED_COPY_BYTES_MAX);
    expect(own.buffer.byteLength).toBe(POOLED_COPY_BYTES_MAX + 1);
    large.fill(0);
    expect(pooled.every((byte) => byte === 5) && own.every((byte) => byte === 5)).toBe(true);
  });
});

describe('concatChunks', () => {
  it('joins views in order into a buffer of its own, even from one chunk or none', () => {
    const backing = bytes(9, 1, 2, 3, 9);
    const joined = concatChunks([backing.subarray(1, 3), new Uint8Array(0), backing.subarray(3, 4)]);
    const single = concatChunks([backing.subarray(1, 4)]);
    backing.fill(0);
    expect(joined).toEqual(bytes(1, 2, 3));
    expect(joined.buffer.byteLength).toBe(3);
    expect(single).toEqual(bytes(1, 2, 3));
    expect(concatChunks([])).toEqual(new Uint8Array(0));
  });
});

describe('describeBytes', () => {
  it('shows printable ASCII as text and anything else as hex, cut when long', () => {
    expect(describeBytes(new TextEncoder().encode('a/b'))).toBe('"a/b"');
    expect(describeBytes(bytes(0x61, 0x00))).toBe('0x6100');
    expect(describeBytes(new Uint8Array(100).fill(0x61))).toBe(`"${'a'.repeat(64)}"... (36 more bytes)`);
  });
});
