import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { concatChunks } from '../../kernel/contracts/bytes.ts';
import type { StorageFile } from '../../kernel/contracts/storage-file.ts';
import { bytesDifference, patternBytes, utf8 } from './test-bytes.ts';

/**
 * The StorageFile conformance suite: every StorageFile implementation's test calls
 * `runStorageFileSuite` with a factory that opens a fresh, empty file, in every runtime where the
 * implementation exists. Each test checks one sentence of the contract in
 * kernel/contracts/storage-file.ts. Durability under crashes is not checked here (a test cannot
 * pull the plug); the crash-simulating file in test/crash/ is where that is modelled.
 */
export interface StorageFileSuiteCapabilities {
  /**
   * Opens the medium behind `closed` (already closed) again, to check that synced bytes survive a
   * restart. Omit for files that keep nothing once closed; those tests then skip with that reason.
   */
  reopen?: (closed: StorageFile) => Promise<StorageFile>;
}

interface StorageFileSuiteContext {
  file(): StorageFile;
  capabilities: StorageFileSuiteCapabilities;
}

const NO_REOPEN = 'the implementation declares no reopen capability: it keeps nothing once closed';

/** Larger than any read or write chunk we know of, and not a multiple of a power of two. */
const LARGE_WRITE_BYTES = 1024 * 1024 + 12_345;
/** A chunk size that is prime, so chunk and page boundaries never line up. */
const ODD_CHUNK_BYTES = 65_521;
/** A page size such as the KV engine's, for the concurrent-write tests. */
const PAGE_BYTES = 4096;
/** How many writes the concurrency tests keep in flight at once. */
const CONCURRENT_WRITES = 64;

/** Offsets and lengths the contract rejects, each for a different reason. */
const BAD_COUNTS: unknown[] = [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1, '1', null];

export function runStorageFileSuite(
  name: string,
  factory: () => Promise<StorageFile>,
  capabilities: StorageFileSuiteCapabilities = {},
): void {
  describe(`StorageFile conformance: ${name}`, () => {
    let current: StorageFile | undefined;
    const context: StorageFileSuiteContext = { file: () => current!, capabilities };
    beforeEach(async () => {
      current = await factory();
    });
    afterEach(async () => {
      await current?.close();
      current = undefined;
    });

    describe('reads and writes', () => describeReadsAndWrites(context));
    describe('size and truncate', () => describeTruncate(context));
    describe('concurrent calls', () => describeConcurrency(context));
    describe('buffer ownership', () => describeBufferOwnership(context));
    describe('bad arguments', () => describeBadArguments(context));
    describe('close and reopen', () => describeLifecycle(context));
  });
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code });
}

function expectSame(actual: Uint8Array, expected: Uint8Array): void {
  expect(bytesDifference(actual, expected)).toBeUndefined();
}

// ---------------------------------------------------------------------------------------------
// reads and writes

function describeReadsAndWrites(context: StorageFileSuiteContext): void {
  it('starts empty: size zero, and every read returns zero bytes', async () => {
    const file = context.file();
    expect(await file.size()).toBe(0);
    expect((await file.read(0, 100)).length).toBe(0);
    expect((await file.read(4096, 1)).length).toBe(0);
  });

  it('reads back exactly the bytes written, at any offset inside them', async () => {
    const file = context.file();
    await file.write(0, utf8('hello, storage'));
    expectSame(await file.read(0, 14), utf8('hello, storage'));
    expectSame(await file.read(7, 7), utf8('storage'));
    expectSame(await file.read(3, 0), new Uint8Array(0));
  });

  it('cuts a read that runs past the end at the end, and returns nothing at or past the end', async () => {
    const file = context.file();
    await file.write(0, utf8('abcdef'));
    expectSame(await file.read(4, 100), utf8('ef'));
    expectSame(await file.read(6, 10), new Uint8Array(0));
    expectSame(await file.read(1_000_000, 10), new Uint8Array(0));
  });

  it('grows the file to the end of a write past the end, and reads the hole before it as zeros', async () => {
    const file = context.file();
    await file.write(0, utf8('ab'));
    await file.write(10_000, utf8('cd'));
    expect(await file.size()).toBe(10_002);
    expectSame(await file.read(0, 10_002), concatChunks([utf8('ab'), new Uint8Array(9_998), utf8('cd')]));
  });

  it('overwrites in place without changing the size', async () => {
    const file = context.file();
    await file.write(0, utf8('0123456789'));
    await file.write(3, utf8('xyz'));
    expect(await file.size()).toBe(10);
    expectSame(await file.read(0, 10), utf8('012xyz6789'));
  });

  it('extends a file by a write that starts inside it and ends past it', async () => {
    const file = context.file();
    await file.write(0, utf8('abcd'));
    await file.write(2, utf8('XYZW'));
    expect(await file.size()).toBe(6);
    expectSame(await file.read(0, 6), utf8('abXYZW'));
  });

  it('writes and reads a large buffer whole and in odd chunks', async () => {
    const file = context.file();
    const data = patternBytes(LARGE_WRITE_BYTES);
    await file.write(PAGE_BYTES, data);
    expect(await file.size()).toBe(PAGE_BYTES + LARGE_WRITE_BYTES);
    expectSame(await file.read(PAGE_BYTES, LARGE_WRITE_BYTES), data);
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < data.length; offset += ODD_CHUNK_BYTES) {
      chunks.push(await file.read(PAGE_BYTES + offset, ODD_CHUNK_BYTES));
    }
    expect(bytesDifference(concatChunks(chunks), data)).toBeUndefined();
  });

  it('keeps bytes readable after sync', async () => {
    const file = context.file();
    await file.write(0, utf8('synced'));
    await file.sync();
    await file.sync();
    expect(await file.size()).toBe(6);
    expectSame(await file.read(0, 6), utf8('synced'));
  });
}

// ---------------------------------------------------------------------------------------------
// size and truncate

function describeTruncate(context: StorageFileSuiteContext): void {
  it('cuts the file, so the bytes past the new size are gone', async () => {
    const file = context.file();
    await file.write(0, utf8('0123456789'));
    await file.truncate(4);
    expect(await file.size()).toBe(4);
    expectSame(await file.read(0, 100), utf8('0123'));
  });

  it('extends the file with zeros', async () => {
    const file = context.file();
    await file.write(0, utf8('ab'));
    await file.truncate(PAGE_BYTES);
    expect(await file.size()).toBe(PAGE_BYTES);
    expectSame(await file.read(0, PAGE_BYTES), concatChunks([utf8('ab'), new Uint8Array(PAGE_BYTES - 2)]));
  });

  it('reads zeros, not the old bytes, where a cut file is extended again', async () => {
    const file = context.file();
    await file.write(0, patternBytes(PAGE_BYTES));
    await file.truncate(10);
    await file.truncate(PAGE_BYTES);
    expectSame(await file.read(10, PAGE_BYTES), new Uint8Array(PAGE_BYTES - 10));
    await file.truncate(0);
    await file.write(20, utf8('z'));
    expectSame(await file.read(0, 21), concatChunks([new Uint8Array(20), utf8('z')]));
  });

  it('truncates to the current size as a no-op', async () => {
    const file = context.file();
    await file.write(0, utf8('same'));
    await file.truncate(4);
    expect(await file.size()).toBe(4);
    expectSame(await file.read(0, 4), utf8('same'));
  });
}

// ---------------------------------------------------------------------------------------------
// concurrent calls

function describeConcurrency(context: StorageFileSuiteContext): void {
  it('lands every one of many overlapping calls that write disjoint pages, in any order', async () => {
    const file = context.file();
    const pages = Array.from({ length: CONCURRENT_WRITES }, (_, index) => patternBytes(PAGE_BYTES, index + 1));
    // Issued from the last page down, so that most writes land past the end of the file so far.
    await Promise.all(pages.map((_, index) => CONCURRENT_WRITES - 1 - index).map((index) => file.write(index * PAGE_BYTES, pages[index]!)));
    expect(await file.size()).toBe(CONCURRENT_WRITES * PAGE_BYTES);
    expectSame(await file.read(0, CONCURRENT_WRITES * PAGE_BYTES), concatChunks(pages));
  });

  it('answers reads of settled bytes while writes elsewhere are in flight', async () => {
    const file = context.file();
    const first = patternBytes(PAGE_BYTES, 7);
    await file.write(0, first);
    const calls: Promise<unknown>[] = [];
    const reads: Promise<Uint8Array>[] = [];
    for (let index = 1; index <= CONCURRENT_WRITES; index++) {
      calls.push(file.write(index * PAGE_BYTES, patternBytes(PAGE_BYTES, index)));
      reads.push(file.read(0, PAGE_BYTES));
    }
    calls.push(file.sync());
    await Promise.all(calls);
    for (const read of await Promise.all(reads)) expect(bytesDifference(read, first)).toBeUndefined();
    expect(await file.size()).toBe((CONCURRENT_WRITES + 1) * PAGE_BYTES);
  });
}

// ---------------------------------------------------------------------------------------------
// buffer ownership

function describeBufferOwnership(context: StorageFileSuiteContext): void {
  it('keeps what a write stored when the caller changes its buffer afterwards', async () => {
    const file = context.file();
    const data = utf8('original');
    await file.write(0, data);
    data.fill(0x7a);
    expectSame(await file.read(0, 8), utf8('original'));
  });

  it('writes only the visible bytes of a Uint8Array view', async () => {
    const file = context.file();
    await file.write(0, utf8('xxpayloadxx').subarray(2, 9));
    expect(await file.size()).toBe(7);
    expectSame(await file.read(0, 7), utf8('payload'));
  });

  it('hands out read buffers the caller owns: changing one changes neither the file nor other reads', async () => {
    const file = context.file();
    await file.write(0, utf8('mine'));
    const first = await file.read(0, 4);
    const second = await file.read(0, 4);
    first.fill(0x7a);
    expect(bytesDifference(second, utf8('mine'))).toBeUndefined();
    expectSame(await file.read(0, 4), utf8('mine'));
  });

  it('keeps returned buffers unchanged by later writes and truncates', async () => {
    const file = context.file();
    await file.write(0, utf8('before'));
    const read = await file.read(0, 6);
    await file.write(0, utf8('after!'));
    await file.truncate(0);
    expect(bytesDifference(read, utf8('before'))).toBeUndefined();
  });

  it('returns plain Uint8Arrays', async () => {
    const file = context.file();
    await file.write(0, utf8('plain'));
    const read = await file.read(0, 5);
    expect(read).toBeInstanceOf(Uint8Array);
    expect(read.constructor).toBe(Uint8Array);
  });
}

// ---------------------------------------------------------------------------------------------
// bad arguments

function describeBadArguments(context: StorageFileSuiteContext): void {
  it('rejects a negative, fractional, non-finite, unsafe or non-number read offset or length with EINVAL', async () => {
    const file = context.file();
    for (const bad of BAD_COUNTS) {
      await expectCode(file.read(bad as number, 1), 'EINVAL');
      await expectCode(file.read(0, bad as number), 'EINVAL');
    }
  });

  it('rejects a read whose end lies past Number.MAX_SAFE_INTEGER with EINVAL', async () => {
    await expectCode(context.file().read(Number.MAX_SAFE_INTEGER, 2), 'EINVAL');
  });

  it('rejects a bad write offset, or data that is not a Uint8Array, with EINVAL and writes nothing', async () => {
    const file = context.file();
    for (const bad of BAD_COUNTS) await expectCode(file.write(bad as number, utf8('x')), 'EINVAL');
    for (const bad of [undefined, 'text', [1, 2], new ArrayBuffer(2)] as unknown[]) {
      await expectCode(file.write(0, bad as Uint8Array), 'EINVAL');
    }
    await expectCode(file.write(Number.MAX_SAFE_INTEGER - 1, utf8('xyz')), 'EINVAL');
    expect(await file.size()).toBe(0);
  });

  it('rejects a bad truncate size with EINVAL and keeps the file as it was', async () => {
    const file = context.file();
    await file.write(0, utf8('kept'));
    for (const bad of BAD_COUNTS) await expectCode(file.truncate(bad as number), 'EINVAL');
    expect(await file.size()).toBe(4);
  });
}

// ---------------------------------------------------------------------------------------------
// close and reopen

function describeLifecycle(context: StorageFileSuiteContext): void {
  it('rejects every call after close with ECLOSED, and closes idempotently', async () => {
    const file = context.file();
    await file.write(0, utf8('x'));
    await file.close();
    await file.close();
    await expectCode(file.read(0, 1), 'ECLOSED');
    await expectCode(file.write(0, utf8('y')), 'ECLOSED');
    await expectCode(file.size(), 'ECLOSED');
    await expectCode(file.truncate(0), 'ECLOSED');
    await expectCode(file.sync(), 'ECLOSED');
  });

  it('keeps synced bytes and size across close and reopen', async (test) => {
    const { reopen } = context.capabilities;
    test.skip(reopen === undefined, NO_REOPEN);
    const file = context.file();
    const data = patternBytes(3 * PAGE_BYTES + 5);
    await file.write(PAGE_BYTES, data);
    await file.write(0, utf8('header'));
    await file.sync();
    await file.close();
    const reopened = await reopen!(file);
    try {
      expect(await reopened.size()).toBe(PAGE_BYTES + data.length);
      expectSame(await reopened.read(0, 6), utf8('header'));
      expectSame(await reopened.read(6, PAGE_BYTES - 6), new Uint8Array(PAGE_BYTES - 6));
      expectSame(await reopened.read(PAGE_BYTES, data.length), data);
    } finally {
      await reopened.close();
    }
  });

  it('keeps a synced truncate across close and reopen, and the file stays writable', async (test) => {
    const { reopen } = context.capabilities;
    test.skip(reopen === undefined, NO_REOPEN);
    const file = context.file();
    await file.write(0, patternBytes(2 * PAGE_BYTES));
    await file.sync();
    await file.truncate(PAGE_BYTES);
    await file.sync();
    await file.close();
    const reopened = await reopen!(file);
    try {
      expect(await reopened.size()).toBe(PAGE_BYTES);
      await reopened.write(PAGE_BYTES, utf8('more'));
      await reopened.sync();
      expectSame(await reopened.read(PAGE_BYTES, 10), utf8('more'));
      expectSame(await reopened.read(0, PAGE_BYTES), patternBytes(2 * PAGE_BYTES).subarray(0, PAGE_BYTES));
    } finally {
      await reopened.close();
    }
  });
}
