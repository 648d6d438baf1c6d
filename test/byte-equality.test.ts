import { describe, expect, it } from 'vitest';
import { uint8ArraysEqual } from './byte-equality.ts';

/** The setup file's Uint8Array equality: the verdicts vitest's own equality reaches, sooner. */

class Bytes extends Uint8Array {}

function verdict(actual: unknown, expected: unknown): boolean {
  try {
    expect(actual).toEqual(expected);
    return true;
  } catch {
    return false;
  }
}

describe('Uint8Array equality', () => {
  it('decides equal bytes of one class, and leaves the rest to vitest', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    expect(uint8ArraysEqual(new Uint8Array([0, 1, 2, 3]).subarray(1), bytes)).toBe(true);
    expect(uint8ArraysEqual(new Uint8Array([1, 2, 4]), bytes)).toBe(false);
    expect(uint8ArraysEqual(new Uint8Array([1, 2]), bytes)).toBe(false);
    expect(uint8ArraysEqual(new Bytes(bytes), bytes), 'another class').toBeUndefined();
    expect(uint8ArraysEqual(new Uint16Array([1, 2, 3]), bytes)).toBeUndefined();
    expect(uint8ArraysEqual([1, 2, 3], bytes)).toBeUndefined();
    const withProperty = Object.assign(new Uint8Array(bytes), { extra: 1 });
    expect(uint8ArraysEqual(withProperty, bytes), 'a property of its own').toBeUndefined();
  });

  it('toEqual keeps vitest\'s verdicts', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    expect(verdict(new Uint8Array([1, 2, 3]), bytes)).toBe(true);
    expect(verdict({ nested: [new Uint8Array([1, 2, 3])] }, { nested: [bytes] })).toBe(true);
    expect(verdict(new Uint8Array([1, 2, 4]), bytes)).toBe(false);
    expect(verdict({ nested: new Uint8Array([1, 2]) }, { nested: bytes })).toBe(false);
    expect(verdict(new Bytes(bytes), bytes)).toBe(false);
    expect(verdict(Object.assign(new Uint8Array(bytes), { extra: 1 }), bytes)).toBe(false);
    expect(verdict(new Uint8Array(bytes), [1, 2, 3])).toBe(false);
  });

  it('compares 1 MiB that differ in their last byte, and that do not', () => {
    const large = new Uint8Array(1024 * 1024).map((_, index) => index % 251);
    const copy = new Uint8Array(large);
    expect(uint8ArraysEqual(copy, large)).toBe(true);
    expect(copy).toEqual(large);
    copy[copy.length - 1] = copy.at(-1)! ^ 1;
    expect(uint8ArraysEqual(copy, large)).toBe(false);
  });
});
