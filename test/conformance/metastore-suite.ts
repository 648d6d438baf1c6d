import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  METASTORE_BATCH_OPERATIONS_MAX,
  METASTORE_KEY_BYTES_MAX,
  METASTORE_SCAN_LIMIT_MAX,
  METASTORE_VALUE_BYTES_MAX,
  type Metastore,
  type MetastoreEntry,
  type MetastoreOperation,
  type MetastoreScanOptions,
} from '../../kernel/contracts/metastore.ts';
import { runMetastoreDifferentialTest } from './metastore-differential.ts';
import {
  expectCode,
  type MetastoreSuiteCapabilities,
  type MetastoreSuiteContext,
  scanAll,
} from './metastore-suite-context.ts';
import { bytes, fromUtf8, toHex, utf8 } from './test-bytes.ts';

export type { MetastoreSuiteCapabilities };

/**
 * The Metastore conformance suite: every Metastore driver's test calls `runMetastoreSuite` with a
 * factory that opens a fresh, empty store, in every runtime where the driver exists. Each test
 * checks one sentence of the contract in kernel/contracts/metastore.ts.
 */

/** How many batches race for one precondition in the concurrency tests. */
const RACING_BATCHES = 8;

export function runMetastoreSuite(
  name: string,
  factory: () => Promise<Metastore>,
  capabilities: MetastoreSuiteCapabilities = {},
): void {
  describe(`Metastore conformance: ${name}`, () => {
    const opened: Metastore[] = [];
    let current: Metastore | undefined;
    const context: MetastoreSuiteContext = {
      store: () => current!,
      open: async () => {
        const store = await factory();
        opened.push(store);
        return store;
      },
      capabilities,
    };
    beforeEach(async () => {
      current = await context.open();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
      current = undefined;
    });

    describe('get, getMany, put, delete', () => describeReadsAndWrites(context));
    describe('versions', () => describeVersions(context));
    describe('key order', () => describeKeyOrder(context));
    describe('batch', () => describeBatch(context));
    describe('scan ranges', () => describeScanRanges(context));
    describe('scan pages and cursors', () => describeScanPages(context));
    describe('limits and bad input', () => describeBadInput(context));
    describe('buffer ownership', () => describeBufferOwnership(context));
    describe('close and reopen', () => describeLifecycle(context));
    describe('differential test against a sorted-array model', () => runMetastoreDifferentialTest(context));
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

function putOperation(key: Uint8Array, value: Uint8Array): MetastoreOperation {
  return { type: 'put', key, value };
}

/** Stores every key with its own text as the value, in one batch; returns the commit version. */
async function putKeys(store: Metastore, keys: readonly Uint8Array[]): Promise<number> {
  return store.batch(keys.map((key) => putOperation(key, key)));
}

function textKeys(texts: readonly string[]): Uint8Array[] {
  return texts.map(utf8);
}

/** Keys as text, for readable assertions on scans. */
function keyTexts(entries: readonly MetastoreEntry[]): string[] {
  return entries.map((entry) => fromUtf8(entry.key));
}

/** Keys as hex, for keys that are not text. */
function keyHexes(entries: readonly MetastoreEntry[]): string[] {
  return entries.map((entry) => toHex(entry.key));
}

// ---------------------------------------------------------------------------------------------
// get, getMany, put, delete

function describeReadsAndWrites(context: MetastoreSuiteContext): void {
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
    const value = new Uint8Array(METASTORE_VALUE_BYTES_MAX);
    value[0] = 1;
    value[value.length - 1] = 2;
    await store.put(utf8('big'), value);
    const stored = (await store.get(utf8('big')))!.value;
    expect(stored.length).toBe(METASTORE_VALUE_BYTES_MAX);
    expect([stored[0], stored[stored.length - 1]]).toEqual([1, 2]);
  });
}

// ---------------------------------------------------------------------------------------------
// versions

function describeVersions(context: MetastoreSuiteContext): void {
  it('hands out positive integer versions that increase strictly with every commit', async () => {
    const store = context.store();
    const versions = [
      await store.put(utf8('a'), utf8('1')),
      await store.put(utf8('a'), utf8('2')),
      await store.delete(utf8('a')),
      await store.delete(utf8('a')),
      await store.batch([putOperation(utf8('b'), utf8('1'))]),
      await store.batch([]),
      await store.batch([], [{ key: utf8('c'), version: null }]),
      await store.put(utf8('c'), utf8('1')),
    ];
    for (const version of versions) expect(Number.isSafeInteger(version) && version > 0).toBe(true);
    for (let index = 1; index < versions.length; index++) expect(versions[index]!).toBeGreaterThan(versions[index - 1]!);
  });

  it('gives each key the version of the commit that last wrote it', async () => {
    const store = context.store();
    const first = await store.put(utf8('a'), utf8('1'));
    const batched = await store.batch([putOperation(utf8('b'), utf8('1')), putOperation(utf8('c'), utf8('1'))]);
    const last = await store.put(utf8('a'), utf8('2'));
    expect(last).toBeGreaterThan(first);
    const [a, b, c] = await store.getMany(textKeys(['a', 'b', 'c']));
    expect([a!.version, b!.version, c!.version]).toEqual([last, batched, batched]);
    const scanned = (await store.scan({})).entries.map((entry) => entry.version);
    expect(scanned).toEqual([last, batched, batched]);
  });

  it('keeps the version of a key that later commits do not touch', async () => {
    const store = context.store();
    const written = await store.put(utf8('still'), utf8('v'));
    await store.put(utf8('other'), utf8('v'));
    await store.delete(utf8('another'));
    expect((await store.get(utf8('still')))!.version).toBe(written);
  });

  it('gives a key deleted and written again a new, larger version', async () => {
    const store = context.store();
    const first = await store.put(utf8('k'), utf8('1'));
    await store.delete(utf8('k'));
    const again = await store.put(utf8('k'), utf8('1'));
    expect(again).toBeGreaterThan(first);
    expect((await store.get(utf8('k')))!.version).toBe(again);
  });
}

// ---------------------------------------------------------------------------------------------
// key order

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

/** Interleaves from both ends, so no driver gets its keys already sorted. */
function shuffled<T>(items: readonly T[]): T[] {
  const result: T[] = [];
  for (let low = 0, high = items.length - 1; low <= high; low++, high--) {
    result.push(items[high]!);
    if (low !== high) result.push(items[low]!);
  }
  return result;
}

function describeKeyOrder(context: MetastoreSuiteContext): void {
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

// ---------------------------------------------------------------------------------------------
// batch

function describeBatch(context: MetastoreSuiteContext): void {
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

// ---------------------------------------------------------------------------------------------
// scan ranges

const RANGE_KEYS = ['a', 'a/', 'a/1', 'a/2', 'a/2/x', 'a/3', 'a0', 'b', 'b/1', 'c'];

/** Scan options and the keys they select from RANGE_KEYS, in forward order. */
const RANGE_CASES: { title: string; options: MetastoreScanOptions; expected: string[] }[] = [
  { title: 'no bounds', options: {}, expected: RANGE_KEYS },
  { title: 'prefix', options: { prefix: utf8('a/') }, expected: ['a/', 'a/1', 'a/2', 'a/2/x', 'a/3'] },
  { title: 'prefix equal to a whole key', options: { prefix: utf8('a/2') }, expected: ['a/2', 'a/2/x'] },
  { title: 'empty prefix', options: { prefix: new Uint8Array(0) }, expected: RANGE_KEYS },
  { title: 'prefix matching nothing', options: { prefix: utf8('zz') }, expected: [] },
  { title: 'start inclusive, end exclusive', options: { start: utf8('a/2'), end: utf8('b') }, expected: ['a/2', 'a/2/x', 'a/3', 'a0'] },
  { title: 'start only', options: { start: utf8('b') }, expected: ['b', 'b/1', 'c'] },
  { title: 'start between keys', options: { start: utf8('a/25') }, expected: ['a/3', 'a0', 'b', 'b/1', 'c'] },
  { title: 'end only', options: { end: utf8('a/') }, expected: ['a'] },
  { title: 'empty start', options: { start: new Uint8Array(0), end: utf8('a/') }, expected: ['a'] },
  { title: 'start equal to end', options: { start: utf8('a/2'), end: utf8('a/2') }, expected: [] },
  { title: 'start after the last key', options: { start: utf8('d') }, expected: [] },
  { title: 'prefix narrowed by start', options: { prefix: utf8('a/'), start: utf8('a/2') }, expected: ['a/2', 'a/2/x', 'a/3'] },
  { title: 'prefix narrowed by end', options: { prefix: utf8('a/'), end: utf8('a/3') }, expected: ['a/', 'a/1', 'a/2', 'a/2/x'] },
  {
    title: 'prefix with bounds outside it',
    options: { prefix: utf8('a/'), start: utf8('a'), end: utf8('z') },
    expected: ['a/', 'a/1', 'a/2', 'a/2/x', 'a/3'],
  },
  { title: 'prefix with start beyond it', options: { prefix: utf8('a/'), start: utf8('b') }, expected: [] },
  { title: 'prefix with end before it', options: { prefix: utf8('a/'), end: utf8('a') }, expected: [] },
];

/** Keys that end in 0xff bytes, where "the first key after this prefix" has to carry. */
const HIGH_BYTE_KEYS = [
  bytes(0xfe),
  bytes(0xfe, 0xff),
  bytes(0xfe, 0xff, 0x00),
  bytes(0xfe, 0xff, 0xff),
  bytes(0xff),
  bytes(0xff, 0x00),
  bytes(0xff, 0xff),
  bytes(0xff, 0xff, 0x01),
];

const HIGH_BYTE_CASES: { prefix: Uint8Array; expected: Uint8Array[] }[] = [
  { prefix: bytes(0xfe, 0xff), expected: [bytes(0xfe, 0xff), bytes(0xfe, 0xff, 0x00), bytes(0xfe, 0xff, 0xff)] },
  { prefix: bytes(0xff), expected: [bytes(0xff), bytes(0xff, 0x00), bytes(0xff, 0xff), bytes(0xff, 0xff, 0x01)] },
  { prefix: bytes(0xff, 0xff), expected: [bytes(0xff, 0xff), bytes(0xff, 0xff, 0x01)] },
  { prefix: bytes(0xfe), expected: [bytes(0xfe), bytes(0xfe, 0xff), bytes(0xfe, 0xff, 0x00), bytes(0xfe, 0xff, 0xff)] },
];

function describeScanRanges(context: MetastoreSuiteContext): void {
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

// ---------------------------------------------------------------------------------------------
// scan pages and cursors

const PAGE_LIMITS = [1, 2, 3, 4, 9, 10, 11];

function describeScanPages(context: MetastoreSuiteContext): void {
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

// ---------------------------------------------------------------------------------------------
// limits and bad input

const EMPTY = new Uint8Array(0);
const TOO_LONG_KEY = new Uint8Array(METASTORE_KEY_BYTES_MAX + 1).fill(0x6b);
/** Not a Uint8Array: what a caller that bypasses the types might pass. */
const NOT_BYTES = 'key' as unknown as Uint8Array;

function describeBadInput(context: MetastoreSuiteContext): void {
  it('rejects empty, oversized and non-byte keys with EINVAL in every operation', async () => {
    const store = context.store();
    for (const key of [EMPTY, TOO_LONG_KEY, NOT_BYTES]) {
      await expectCode(store.get(key), 'EINVAL');
      await expectCode(store.getMany([utf8('fine'), key]), 'EINVAL');
      await expectCode(store.put(key, utf8('v')), 'EINVAL');
      await expectCode(store.delete(key), 'EINVAL');
      await expectCode(store.batch([putOperation(key, utf8('v'))]), 'EINVAL');
      await expectCode(store.batch([{ type: 'delete', key }]), 'EINVAL');
      await expectCode(store.batch([], [{ key, version: null }]), 'EINVAL');
    }
    expect((await store.scan({})).entries).toEqual([]);
  });

  it('rejects oversized and non-byte values with EINVAL', async () => {
    const store = context.store();
    const tooBig = new Uint8Array(METASTORE_VALUE_BYTES_MAX + 1);
    for (const value of [tooBig, NOT_BYTES]) {
      await expectCode(store.put(utf8('k'), value), 'EINVAL');
      await expectCode(store.batch([putOperation(utf8('k'), value)]), 'EINVAL');
    }
    expect(await store.get(utf8('k'))).toBeUndefined();
  });

  it('applies nothing of a batch with one bad operation', async () => {
    const store = context.store();
    const failing = store.batch([putOperation(utf8('a'), utf8('1')), putOperation(EMPTY, utf8('2')), putOperation(utf8('b'), utf8('3'))]);
    await expectCode(failing, 'EINVAL');
    const unknownType = { type: 'merge', key: utf8('c') } as unknown as MetastoreOperation;
    await expectCode(store.batch([putOperation(utf8('a'), utf8('1')), unknownType]), 'EINVAL');
    expect((await store.scan({})).entries).toEqual([]);
  });

  it('rejects precondition versions that are not positive integers or null with EINVAL', async () => {
    const store = context.store();
    for (const version of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1' as unknown as number, undefined as unknown as number]) {
      await expectCode(store.batch([putOperation(utf8('k'), utf8('v'))], [{ key: utf8('k'), version }]), 'EINVAL');
    }
    expect(await store.get(utf8('k'))).toBeUndefined();
  });

  it('rejects a batch with more operations and preconditions than the maximum with EINVAL', async () => {
    const store = context.store();
    const half = Math.ceil((METASTORE_BATCH_OPERATIONS_MAX + 1) / 2);
    const operations = new Array<MetastoreOperation>(half).fill(putOperation(utf8('k'), EMPTY));
    const preconditions = new Array(METASTORE_BATCH_OPERATIONS_MAX + 1 - half).fill({ key: utf8('p'), version: null });
    await expectCode(store.batch(operations, preconditions), 'EINVAL');
    const tooMany = new Array<MetastoreOperation>(METASTORE_BATCH_OPERATIONS_MAX + 1).fill(putOperation(utf8('k'), EMPTY));
    await expectCode(store.batch(tooMany), 'EINVAL');
    expect((await store.scan({ limit: 1 })).entries).toEqual([]);
  });

  it('rejects getMany of more keys than the maximum with EINVAL', async () => {
    const keys = new Array<Uint8Array>(METASTORE_BATCH_OPERATIONS_MAX + 1).fill(utf8('k'));
    await expectCode(context.store().getMany(keys), 'EINVAL');
  });

  it('rejects limits that are not positive integers with EINVAL', async () => {
    const store = context.store();
    await store.put(utf8('k'), utf8('v'));
    for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '2' as unknown as number]) {
      await expectCode(store.scan({ limit }), 'EINVAL');
    }
  });

  it('rejects a range whose start is after its end with EINVAL', async () => {
    const store = context.store();
    await expectCode(store.scan({ start: utf8('b'), end: utf8('a') }), 'EINVAL');
    await expectCode(store.scan({ start: utf8('a'), end: EMPTY }), 'EINVAL');
    await expectCode(store.scan({ start: utf8('b'), end: utf8('a'), reverse: true }), 'EINVAL');
  });

  it('rejects oversized or non-byte bounds with EINVAL', async () => {
    const store = context.store();
    for (const bound of [TOO_LONG_KEY, NOT_BYTES]) {
      await expectCode(store.scan({ prefix: bound }), 'EINVAL');
      await expectCode(store.scan({ start: bound }), 'EINVAL');
      await expectCode(store.scan({ end: bound }), 'EINVAL');
    }
  });

  it('rejects cursors that no scan handed out with EINVAL', async () => {
    const store = context.store();
    await putKeys(store, textKeys(['a', 'b', 'c']));
    for (const cursor of ['', 'not a cursor!', '%%%', '\u00e9t\u00e9', 'A', 123 as unknown as string]) {
      await expectCode(store.scan({ cursor }), 'EINVAL');
      await expectCode(store.scan({ cursor, reverse: true }), 'EINVAL');
    }
  });
}

// ---------------------------------------------------------------------------------------------
// buffer ownership

function describeBufferOwnership(context: MetastoreSuiteContext): void {
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

// ---------------------------------------------------------------------------------------------
// close and reopen

const NO_REOPEN = 'the driver declares no reopen capability: it keeps nothing once closed';

function describeLifecycle(context: MetastoreSuiteContext): void {
  it('rejects every call after close with ECLOSED, and closes idempotently', async () => {
    const store = context.store();
    await store.put(utf8('k'), utf8('v'));
    await store.close();
    await store.close();
    await expectCode(store.get(utf8('k')), 'ECLOSED');
    await expectCode(store.getMany([utf8('k')]), 'ECLOSED');
    await expectCode(store.put(utf8('k'), utf8('v')), 'ECLOSED');
    await expectCode(store.delete(utf8('k')), 'ECLOSED');
    await expectCode(store.batch([putOperation(utf8('k'), utf8('v'))]), 'ECLOSED');
    await expectCode(store.scan({}), 'ECLOSED');
  });

  it('keeps entries and versions across close and reopen', async (test) => {
    const { reopen } = context.capabilities;
    test.skip(reopen === undefined, NO_REOPEN);
    const store = context.store();
    await putKeys(store, textKeys(['a', 'b']));
    const last = await store.put(utf8('c'), utf8('c'));
    await store.delete(utf8('b'));
    const before = await store.scan({});
    await store.close();
    const reopened = await reopen!(store);
    try {
      expect(await reopened.scan({})).toEqual(before);
      expect(await reopened.put(utf8('d'), utf8('d'))).toBeGreaterThan(last);
    } finally {
      await reopened.close();
    }
  });

  it('keeps nothing of a failed batch across close and reopen', async (test) => {
    const { reopen } = context.capabilities;
    test.skip(reopen === undefined, NO_REOPEN);
    const store = context.store();
    await store.put(utf8('k'), utf8('v'));
    await expectCode(store.batch([putOperation(utf8('x'), utf8('x'))], [{ key: utf8('k'), version: null }]), 'ECONFLICT');
    await store.close();
    const reopened = await reopen!(store);
    try {
      expect(keyTexts((await reopened.scan({})).entries)).toEqual(['k']);
    } finally {
      await reopened.close();
    }
  });
}
