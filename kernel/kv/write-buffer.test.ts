import { describe, expect, it } from 'vitest';
import { compareBytes } from '../contracts/bytes.ts';
import type { ResolvedMetastoreScan } from '../contracts/metastore-validation.ts';
import { WRITE_BUFFER_CHUNK_KEYS_MAX } from './constants.ts';
import { SeededRandom, numberedKey } from './test-workload.ts';
import { type BufferedEntry, WriteBuffer, keyPrefix } from './write-buffer.ts';

const value = (byte: number): Uint8Array => Uint8Array.of(byte);

function describeEntries(entries: readonly (BufferedEntry | undefined)[]): string[] {
  return entries.map((entry) => (entry === undefined ? '-' : `${entry.key.join('.')}@${entry.version}=${entry.value?.join('.') ?? 'deleted'}`));
}

function drain(buffer: WriteBuffer, scan: ResolvedMetastoreScan, version: number): BufferedEntry[] {
  const cursor = buffer.cursor(scan, version);
  const entries: BufferedEntry[] = [];
  for (let entry = cursor.next(); entry !== undefined; entry = cursor.next()) entries.push(entry);
  return entries;
}

const whole = (reverse = false): ResolvedMetastoreScan => ({ start: undefined, end: undefined, reverse, limit: 1_000_000 });

describe('WriteBuffer', () => {
  it('answers each version with the newest entry at or below it, deletes included', () => {
    const buffer = new WriteBuffer(0);
    const key = Uint8Array.of(5);
    buffer.add(key, 1, value(1));
    buffer.add(key, 3, null);
    buffer.add(key, 5, value(5));
    buffer.publish(5);
    expect(describeEntries([0, 1, 2, 3, 4, 5, 9].map((version) => buffer.lookup(key, version)))).toEqual([
      '-', '5@1=1', '5@1=1', '5@3=deleted', '5@3=deleted', '5@5=5', '5@5=5',
    ]);
    expect(buffer.lookup(Uint8Array.of(6), 9)).toBeUndefined();
    expect(buffer.entryCount).toBe(3);
  });

  it('walks a range forward and backward like a sorted copy, across many chunks, at a version', () => {
    const random = new SeededRandom(3);
    const buffer = new WriteBuffer(0);
    const newest = new Map<number, number>();
    let version = 0;
    // Keys in random order, some written twice: chunks split many times.
    for (let step = 0; step < WRITE_BUFFER_CHUNK_KEYS_MAX * 8; step++) {
      const key = random.below(WRITE_BUFFER_CHUNK_KEYS_MAX * 6);
      version++;
      buffer.add(numberedKey(key), version, random.below(5) === 0 ? null : value(version % 256));
      newest.set(key, version);
    }
    buffer.publish(version);
    const atVersion = Math.floor(version / 2);
    const start = numberedKey(100);
    const end = numberedKey(1_000);
    const expected = [...buffer.newestEntries()]
      .map((entry) => buffer.lookup(entry.key, atVersion))
      .filter((entry): entry is BufferedEntry => entry !== undefined)
      .filter((entry) => compareBytes(entry.key, start) >= 0 && compareBytes(entry.key, end) < 0);
    const forward = drain(buffer, { start, end, reverse: false, limit: 10 }, atVersion);
    const backward = drain(buffer, { start, end, reverse: true, limit: 10 }, atVersion);
    expect(describeEntries(forward)).toEqual(describeEntries(expected));
    expect(describeEntries(backward)).toEqual(describeEntries(expected).reverse());
    expect(forward.length).toBeGreaterThan(WRITE_BUFFER_CHUNK_KEYS_MAX);
    // The newest entries are every key once, in order.
    const keys = [...buffer.newestEntries()].map((entry) => entry.key);
    expect(keys.length).toBe(newest.size);
    for (let index = 1; index < keys.length; index++) expect(compareBytes(keys[index - 1]!, keys[index]!)).toBeLessThan(0);
  });

  it('keeps a cursor in place while keys are added around it, and hides entries newer than its version', () => {
    for (const reverse of [false, true]) {
      const buffer = new WriteBuffer(0);
      const even = Array.from({ length: WRITE_BUFFER_CHUNK_KEYS_MAX * 2 }, (_, index) => index * 2);
      even.forEach((key, index) => buffer.add(numberedKey(key), index + 1, value(1)));
      let version = even.length;
      buffer.publish(version);
      const cursor = buffer.cursor(whole(reverse), version);
      const seen: BufferedEntry[] = [];
      for (let entry = cursor.next(); entry !== undefined; entry = cursor.next()) {
        seen.push(entry);
        // New keys everywhere (splitting chunks under the cursor) and new versions of seen ones.
        for (let step = 0; step < 3; step++) buffer.add(numberedKey(1 + 2 * ((seen.length * 7 + step * 131) % even.length)), ++version, value(2));
        buffer.add(entry.key, ++version, null);
        buffer.publish(version);
      }
      expect(describeEntries(seen)).toEqual(describeEntries(drain(buffer, whole(reverse), even.length)));
      expect(seen.map((entry) => entry.key)).toEqual((reverse ? [...even].reverse() : even).map((key) => numberedKey(key)));
    }
  });

  it('orders keys that share their first bytes or differ only in length, and finds each (abbreviated keys tie there)', () => {
    const random = new SeededRandom(7);
    const buffer = new WriteBuffer(0);
    const keys = new Map<string, Uint8Array>();
    // Keys of 0 to 9 bytes over three byte values: most share the prefix a search compares first.
    for (let version = 1; version <= WRITE_BUFFER_CHUNK_KEYS_MAX * 4; version++) {
      const key = Uint8Array.from({ length: random.below(10) }, () => [0, 1, 255][random.below(3)]!);
      buffer.add(key, version, value(version % 256));
      keys.set(key.join('.'), key);
    }
    buffer.publish(WRITE_BUFFER_CHUNK_KEYS_MAX * 4);
    const sorted = [...keys.values()].sort(compareBytes);
    expect([...buffer.newestEntries()].map((entry) => entry.key.join('.'))).toEqual(sorted.map((key) => key.join('.')));
    for (const key of sorted) expect(buffer.lookup(key, Number.MAX_SAFE_INTEGER)?.key).toEqual(key);
    expect(buffer.lookup(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), Number.MAX_SAFE_INTEGER)).toBeUndefined();
    // What a merge compares first: the abbreviated key of each newest entry, in the same order.
    expect([...buffer.keyPrefixes()]).toEqual([...buffer.newestEntries()].map((entry) => keyPrefix(entry.key)));
  });

  it('takes out the entries of a group that did not commit, new keys and new versions alike', () => {
    const buffer = new WriteBuffer(10);
    buffer.add(numberedKey(1), 11, value(1));
    buffer.add(numberedKey(2), 11, value(2));
    buffer.publish(11);
    const published = { sizeBytes: buffer.sizeBytes, entryCount: buffer.entryCount, entries: describeEntries([...buffer.newestEntries()]) };
    buffer.add(numberedKey(1), 12, null);
    buffer.add(numberedKey(3), 12, value(3));
    buffer.add(numberedKey(3), 13, value(4));
    buffer.add(numberedKey(0), 13, value(5));
    buffer.discardUnpublished();
    expect({ sizeBytes: buffer.sizeBytes, entryCount: buffer.entryCount, entries: describeEntries([...buffer.newestEntries()]) }).toEqual(published);
    expect(() => buffer.add(numberedKey(4), 11, value(6))).toThrow(/newer than every published version/);
  });

  it('places keys added in order, again, just before or anywhere, as a sorted copy does (the finger of the last add)', () => {
    const random = new SeededRandom(11);
    const buffer = new WriteBuffer(0);
    // A Raft-log-like run: keys sharing a long prefix, then an index; some runs go on where the
    // last stopped, some repeat the last key, some step back one, some jump anywhere.
    const prefix = Array.from({ length: 15 }, (_, index) => 0xf0 + (index % 4));
    const keyOf = (index: number): Uint8Array => Uint8Array.of(...prefix, index >>> 8, index & 0xff);
    const reference = new Map<string, { key: Uint8Array; version: number; value: number | null }>();
    let version = 0;
    let next = 0;
    for (let group = 0; group < 400; group++) {
      const start = [next, Math.max(0, next - 1), random.below(2_000), next + random.below(3)][random.below(4)]!;
      const length = 1 + random.below(24);
      for (let index = start; index < start + length; index++) {
        version++;
        const key = keyOf(index);
        const byte = random.below(5) === 0 ? null : version % 256;
        buffer.add(key, version, byte === null ? null : value(byte));
        reference.set(key.join('.'), { key, version, value: byte });
      }
      next = start + length;
      buffer.publish(version);
    }
    const sorted = [...reference.values()].sort((a, b) => compareBytes(a.key, b.key));
    expect(sorted.length).toBeGreaterThan(WRITE_BUFFER_CHUNK_KEYS_MAX * 4);
    expect(describeEntries([...buffer.newestEntries()])).toEqual(
      describeEntries(sorted.map(({ key, version: at, value: byte }) => ({ key, version: at, value: byte === null ? null : value(byte) }))),
    );
    expect([...buffer.keyPrefixes()]).toEqual(sorted.map(({ key }) => keyPrefix(key)));
  });

  it('finds its place again after a discarded group moved the keys under the finger', () => {
    const buffer = new WriteBuffer(0);
    for (let index = 0; index < WRITE_BUFFER_CHUNK_KEYS_MAX * 2; index += 2) buffer.add(numberedKey(index), 1, value(1));
    buffer.publish(1);
    buffer.add(numberedKey(1), 2, value(2));
    buffer.add(numberedKey(3), 2, value(2));
    buffer.discardUnpublished();
    // The finger pointed at key 3, which is gone; keys 4 and 5 go where a search puts them.
    buffer.add(numberedKey(5), 2, value(5));
    buffer.add(numberedKey(4), 2, value(4));
    buffer.publish(2);
    const keys = [...buffer.newestEntries()].map((entry) => entry.key.join('.'));
    expect(keys).toEqual([...keys].sort((a, b) => compareBytes(Uint8Array.from(a.split('.').map(Number)), Uint8Array.from(b.split('.').map(Number)))));
    expect(describeEntries([numberedKey(3), numberedKey(4), numberedKey(5)].map((key) => buffer.lookup(key, 2)))).toEqual([
      '-', `${numberedKey(4).join('.')}@2=4`, `${numberedKey(5).join('.')}@2=5`,
    ]);
  });
});
