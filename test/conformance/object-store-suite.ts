import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contentIdOf } from '../../kernel/content-id.ts';
import { concatChunks } from '../../kernel/contracts/bytes.ts';
import { OBJECT_STORE_LIST_LIMIT_MAX, type ObjectStore } from '../../kernel/contracts/object-store.ts';
import { bytesDifference, patternBytes, utf8 } from './test-bytes.ts';
import { chunksOf, failingStream, readStream, streamOfChunks } from './test-streams.ts';

/**
 * The ObjectStore conformance suite: every ObjectStore driver's test calls `runObjectStoreSuite`
 * with a factory that opens a fresh, empty store, in every runtime where the driver exists. Each
 * test checks one sentence of the contract in kernel/contracts/object-store.ts.
 */
export interface ObjectStoreSuiteCapabilities {
  /**
   * Opens the storage behind `closed` (already closed) again, to check that blobs survive a
   * restart. Omit for stores that keep nothing once closed; those tests then skip with that reason.
   */
  reopen?: (closed: ObjectStore) => Promise<ObjectStore>;
}

interface ObjectStoreSuiteContext {
  store(): ObjectStore;
  capabilities: ObjectStoreSuiteCapabilities;
}

/** The id of zero bytes: SHA-256 of the empty string. */
const EMPTY_ID = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Larger than any driver's read or write chunk we know of, and not a multiple of a power of two. */
const LARGE_BLOB_BYTES = 1024 * 1024 + 12_345;
/** A chunk size that is prime, so chunk and block boundaries never line up. */
const ODD_CHUNK_BYTES = 65_521;

/** How many blobs the listing tests store: enough for several pages at small limits. */
const LISTED_BLOBS = 23;

/** Strings that are not content ids, each for a different reason. */
const MALFORMED_IDS = [
  '',
  'abc',
  EMPTY_ID.toUpperCase(),
  `${EMPTY_ID}0`,
  EMPTY_ID.slice(1),
  `${EMPTY_ID.slice(0, 63)}g`,
  '../../../../etc/passwd',
  `${EMPTY_ID.slice(0, 2)}/${EMPTY_ID.slice(3)}`,
  42 as unknown as string,
];

export function runObjectStoreSuite(
  name: string,
  factory: () => Promise<ObjectStore>,
  capabilities: ObjectStoreSuiteCapabilities = {},
): void {
  describe(`ObjectStore conformance: ${name}`, () => {
    let current: ObjectStore | undefined;
    const context: ObjectStoreSuiteContext = { store: () => current!, capabilities };
    beforeEach(async () => {
      current = await factory();
    });
    afterEach(async () => {
      await current?.close();
      current = undefined;
    });

    describe('put', () => describePut(context));
    describe('get and getRange', () => describeReads(context));
    describe('stream', () => describeStreams(context));
    describe('stat, has, delete', () => describeStatHasDelete(context));
    describe('list', () => describeList(context));
    describe('malformed ids', () => describeMalformedIds(context));
    describe('buffer ownership', () => describeBufferOwnership(context));
    describe('close and reopen', () => describeLifecycle(context));
  });
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code });
}

/** Stores `count` distinct small blobs; returns their ids in ascending order. */
async function putDistinct(store: ObjectStore, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index++) ids.push((await store.put(utf8(`blob ${index}`))).id);
  return ids.sort();
}

/** The most pages `listAll` follows before it calls the listing endless. */
const LIST_PAGES_MAX = 1_000;

/** Follows cursors to the end, checking that pages keep to the limit and short pages end it. */
async function listAll(store: ObjectStore, limit: number, cursor?: string): Promise<string[]> {
  const ids: string[] = [];
  for (let page = 0; page < LIST_PAGES_MAX; page++) {
    const result = await store.list(cursor === undefined ? { limit } : { limit, cursor });
    expect(result.ids.length).toBeLessThanOrEqual(limit);
    if (result.ids.length < limit) expect(result.cursor).toBeUndefined();
    ids.push(...result.ids);
    if (result.cursor === undefined) return ids;
    cursor = result.cursor;
  }
  throw new Error(`list did not end after ${LIST_PAGES_MAX} pages`);
}

// ---------------------------------------------------------------------------------------------
// put

function describePut(context: ObjectStoreSuiteContext): void {
  it('names a buffer by the SHA-256 of its bytes and reports its size', async () => {
    const data = utf8('hello, blob');
    expect(await context.store().put(data)).toEqual({ id: await contentIdOf(data), sizeBytes: data.length });
  });

  it('stores zero bytes under the id of the empty string', async () => {
    const store = context.store();
    expect(await store.put(new Uint8Array(0))).toEqual({ id: EMPTY_ID, sizeBytes: 0 });
    expect((await store.get(EMPTY_ID)).length).toBe(0);
  });

  it('stores a multi-chunk stream under the same id as the same bytes in one buffer', async () => {
    const store = context.store();
    const data = patternBytes(LARGE_BLOB_BYTES);
    const info = await store.put(streamOfChunks(chunksOf(data, ODD_CHUNK_BYTES)));
    expect(info).toEqual({ id: await contentIdOf(data), sizeBytes: data.length });
    expect(bytesDifference(await store.get(info.id), data)).toBeUndefined();
  });

  it('stores an empty stream, and a stream with empty chunks, as the bytes they carry', async () => {
    const store = context.store();
    expect(await store.put(streamOfChunks([]))).toEqual({ id: EMPTY_ID, sizeBytes: 0 });
    const chunks = [new Uint8Array(0), utf8('ab'), new Uint8Array(0), utf8('c'), new Uint8Array(0)];
    const info = await store.put(streamOfChunks(chunks));
    expect(info).toEqual({ id: await contentIdOf(utf8('abc')), sizeBytes: 3 });
  });

  it('hashes only the visible bytes of a Uint8Array view', async () => {
    const store = context.store();
    const backing = utf8('xxpayloadxx');
    const info = await store.put(backing.subarray(2, 9));
    expect(info).toEqual({ id: await contentIdOf(utf8('payload')), sizeBytes: 7 });
    expect(bytesDifference(await store.get(info.id), utf8('payload'))).toBeUndefined();
  });

  it('stores identical content once, whether given as a buffer or a stream', async () => {
    const store = context.store();
    const first = await store.put(utf8('same'));
    const second = await store.put(utf8('same'));
    const streamed = await store.put(streamOfChunks([utf8('sa'), utf8('me')]));
    expect(second).toEqual(first);
    expect(streamed).toEqual(first);
    expect((await store.list()).ids).toEqual([first.id]);
  });

  it('stores identical content put concurrently once', async () => {
    const store = context.store();
    const data = patternBytes(200_000, 7);
    const results = await Promise.all([
      store.put(data),
      store.put(streamOfChunks(chunksOf(data, ODD_CHUNK_BYTES))),
      store.put(data),
    ]);
    const id = await contentIdOf(data);
    for (const result of results) expect(result).toEqual({ id, sizeBytes: data.length });
    expect((await store.list()).ids).toEqual([id]);
    expect(bytesDifference(await store.get(id), data)).toBeUndefined();
  });

  it('rejects a put whose stream errors with that error, and leaves nothing visible', async () => {
    const store = context.store();
    const chunks = chunksOf(patternBytes(300_000, 3), ODD_CHUNK_BYTES);
    const error = new Error('the network went away');
    await expect(store.put(failingStream(chunks, error))).rejects.toBe(error);
    expect(await store.has(await contentIdOf(concatChunks(chunks)))).toBe(false);
    expect(await store.has(await contentIdOf(chunks[0]!))).toBe(false);
    expect(await store.list()).toEqual({ ids: [] });
  });

  it('stores the content of a failed put when it is put again', async () => {
    const store = context.store();
    const chunks = chunksOf(patternBytes(100_000, 4), ODD_CHUNK_BYTES);
    await expect(store.put(failingStream(chunks, new Error('interrupted')))).rejects.toThrow('interrupted');
    const info = await store.put(streamOfChunks(chunks));
    expect(bytesDifference(await store.get(info.id), concatChunks(chunks))).toBeUndefined();
    expect((await store.list()).ids).toEqual([info.id]);
  });

  it('rejects data that is neither a Uint8Array nor a stream with EINVAL', async () => {
    const store = context.store();
    for (const data of ['text', 42, null, undefined, [1, 2, 3], new ArrayBuffer(3)]) {
      await expectCode(store.put(data as unknown as Uint8Array), 'EINVAL');
    }
    expect(await store.list()).toEqual({ ids: [] });
  });

  it('rejects a stream chunk that is not a Uint8Array with EINVAL, and leaves nothing visible', async () => {
    const store = context.store();
    const stream = streamOfChunks([utf8('good'), 'bad' as unknown as Uint8Array, utf8('never read')]);
    await expectCode(store.put(stream), 'EINVAL');
    expect(await store.list()).toEqual({ ids: [] });
  });
}

// ---------------------------------------------------------------------------------------------
// get and getRange

function describeReads(context: ObjectStoreSuiteContext): void {
  it('gets a whole blob', async () => {
    const store = context.store();
    const data = patternBytes(10_000);
    const { id } = await store.put(data);
    expect(bytesDifference(await store.get(id), data)).toBeUndefined();
  });

  it('rejects get of an absent id with ENOENT', async () => {
    await expectCode(context.store().get(EMPTY_ID), 'ENOENT');
  });

  it('reads half-open ranges, cut at the end of the blob', async () => {
    const store = context.store();
    const data = patternBytes(1000, 2);
    const { id } = await store.put(data);
    expect(bytesDifference(await store.getRange(id, 0, 10), data.slice(0, 10))).toBeUndefined();
    expect(bytesDifference(await store.getRange(id, 100, 250), data.slice(100, 350))).toBeUndefined();
    expect(bytesDifference(await store.getRange(id, 990, 10), data.slice(990))).toBeUndefined();
    expect(bytesDifference(await store.getRange(id, 990, 500), data.slice(990))).toBeUndefined();
    expect(bytesDifference(await store.getRange(id, 0, Number.MAX_SAFE_INTEGER), data)).toBeUndefined();
    expect((await store.getRange(id, 500, 0)).length).toBe(0);
  });

  it('reads zero bytes at an offset equal to the size', async () => {
    const store = context.store();
    const { id } = await store.put(utf8('four'));
    expect((await store.getRange(id, 4, 10)).length).toBe(0);
    await store.put(new Uint8Array(0));
    expect((await store.getRange(EMPTY_ID, 0, 10)).length).toBe(0);
  });

  it('reads a range across the chunks a large blob was written in', async () => {
    const store = context.store();
    const data = patternBytes(LARGE_BLOB_BYTES, 5);
    const { id } = await store.put(streamOfChunks(chunksOf(data, ODD_CHUNK_BYTES)));
    const start = ODD_CHUNK_BYTES - 7;
    expect(bytesDifference(await store.getRange(id, start, 3 * ODD_CHUNK_BYTES), data.slice(start, start + 3 * ODD_CHUNK_BYTES))).toBeUndefined();
  });

  it('rejects an offset past the end, and negative or fractional numbers, with EINVAL', async () => {
    const store = context.store();
    const { id } = await store.put(utf8('four'));
    await expectCode(store.getRange(id, 5, 1), 'EINVAL');
    await expectCode(store.getRange(id, -1, 2), 'EINVAL');
    await expectCode(store.getRange(id, 0, -1), 'EINVAL');
    await expectCode(store.getRange(id, 1.5, 1), 'EINVAL');
    await expectCode(store.getRange(id, 0, 0.5), 'EINVAL');
    await expectCode(store.getRange(id, Number.NaN, 1), 'EINVAL');
    await expectCode(store.getRange(id, '1' as unknown as number, 1), 'EINVAL');
  });

  it('rejects getRange of an absent id with ENOENT', async () => {
    await expectCode(context.store().getRange(EMPTY_ID, 0, 1), 'ENOENT');
  });
}

// ---------------------------------------------------------------------------------------------
// stream

function describeStreams(context: ObjectStoreSuiteContext): void {
  it('streams a whole large blob', async () => {
    const store = context.store();
    const data = patternBytes(LARGE_BLOB_BYTES, 6);
    const { id } = await store.put(data);
    expect(bytesDifference((await readStream(await store.stream(id))).bytes, data)).toBeUndefined();
  });

  it('streams a range, cut at the end of the blob', async () => {
    const store = context.store();
    const data = patternBytes(LARGE_BLOB_BYTES, 8);
    const { id } = await store.put(data);
    const middle = await store.stream(id, { offset: 70_000, length: 300_000 });
    expect(bytesDifference((await readStream(middle)).bytes, data.slice(70_000, 370_000))).toBeUndefined();
    const tail = await store.stream(id, { offset: data.length - 10, length: 1000 });
    expect(bytesDifference((await readStream(tail)).bytes, data.slice(-10))).toBeUndefined();
  });

  it('streams zero bytes for an empty blob, an empty range, and a range at the end', async () => {
    const store = context.store();
    await store.put(new Uint8Array(0));
    const { id } = await store.put(utf8('four'));
    expect((await readStream(await store.stream(EMPTY_ID))).bytes.length).toBe(0);
    expect((await readStream(await store.stream(id, { offset: 1, length: 0 }))).bytes.length).toBe(0);
    expect((await readStream(await store.stream(id, { offset: 4, length: 1 }))).bytes.length).toBe(0);
  });

  it('rejects stream of an absent id with ENOENT before returning a stream', async () => {
    const store = context.store();
    await expectCode(store.stream(EMPTY_ID), 'ENOENT');
    await expectCode(store.stream(EMPTY_ID, { offset: 0, length: 1 }), 'ENOENT');
  });

  it('rejects a bad stream range with EINVAL before returning a stream', async () => {
    const store = context.store();
    const { id } = await store.put(utf8('four'));
    await expectCode(store.stream(id, { offset: 5, length: 1 }), 'EINVAL');
    await expectCode(store.stream(id, { offset: -1, length: 1 }), 'EINVAL');
    await expectCode(store.stream(id, { offset: 0, length: -1 }), 'EINVAL');
    await expectCode(store.stream(id, { offset: 0.5, length: 1 }), 'EINVAL');
  });

  it('keeps working when a reader cancels a stream halfway', async () => {
    const store = context.store();
    const data = patternBytes(LARGE_BLOB_BYTES, 9);
    const { id } = await store.put(data);
    const reader = (await store.stream(id)).getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    await reader.cancel();
    expect(bytesDifference(await store.get(id), data)).toBeUndefined();
  });
}

// ---------------------------------------------------------------------------------------------
// stat, has, delete

function describeStatHasDelete(context: ObjectStoreSuiteContext): void {
  it('stats a stored blob, and answers undefined for an absent one', async () => {
    const store = context.store();
    const { id } = await store.put(utf8('twelve bytes'));
    expect(await store.stat(id)).toEqual({ id, sizeBytes: 12 });
    expect(await store.stat(EMPTY_ID)).toBeUndefined();
  });

  it('says whether a blob is there', async () => {
    const store = context.store();
    const { id } = await store.put(utf8('here'));
    expect(await store.has(id)).toBe(true);
    expect(await store.has(EMPTY_ID)).toBe(false);
  });

  it('deletes a blob, so that reads find nothing', async () => {
    const store = context.store();
    const { id } = await store.put(utf8('doomed'));
    const { id: kept } = await store.put(utf8('kept'));
    await store.delete(id);
    expect(await store.has(id)).toBe(false);
    expect(await store.stat(id)).toBeUndefined();
    await expectCode(store.get(id), 'ENOENT');
    await expectCode(store.getRange(id, 0, 1), 'ENOENT');
    await expectCode(store.stream(id), 'ENOENT');
    expect((await store.list()).ids).toEqual([kept]);
  });

  it('deletes idempotently: an absent id is a no-op', async () => {
    const store = context.store();
    const { id } = await store.put(utf8('once'));
    await store.delete(id);
    await store.delete(id);
    await store.delete(EMPTY_ID);
    expect(await store.list()).toEqual({ ids: [] });
  });

  it('stores content again after it was deleted', async () => {
    const store = context.store();
    const { id } = await store.put(utf8('phoenix'));
    await store.delete(id);
    expect((await store.put(utf8('phoenix'))).id).toBe(id);
    expect(bytesDifference(await store.get(id), utf8('phoenix'))).toBeUndefined();
  });
}

// ---------------------------------------------------------------------------------------------
// list

const LIST_LIMITS = [1, 2, 5, LISTED_BLOBS - 1, LISTED_BLOBS, LISTED_BLOBS + 1];

function describeList(context: ObjectStoreSuiteContext): void {
  it('lists an empty store as no ids and no cursor', async () => {
    expect(await context.store().list()).toEqual({ ids: [] });
  });

  it('lists every id in ascending order', async () => {
    const store = context.store();
    const ids = await putDistinct(store, LISTED_BLOBS);
    expect(await store.list()).toEqual({ ids });
    expect(await store.list({})).toEqual({ ids });
  });

  it('pages through every id with a cursor, at any limit', async () => {
    const store = context.store();
    const ids = await putDistinct(store, LISTED_BLOBS);
    for (const limit of LIST_LIMITS) expect(await listAll(store, limit), `limit ${limit}`).toEqual(ids);
  });

  it('returns at most `limit` ids and a cursor when more follow', async () => {
    const store = context.store();
    const ids = await putDistinct(store, LISTED_BLOBS);
    const page = await store.list({ limit: 5 });
    expect(page.ids).toEqual(ids.slice(0, 5));
    expect(typeof page.cursor).toBe('string');
  });

  it('continues after the cursor: blobs added behind it are not seen, ahead of it are', async () => {
    const store = context.store();
    const ids = await putDistinct(store, LISTED_BLOBS);
    const first = await store.list({ limit: 10 });
    const cursorId = first.ids.at(-1)!;
    const added = (await putDistinct(store, 60)).filter((id) => !ids.includes(id));
    await store.delete(ids[10]!);
    const rest = await listAll(store, 10, first.cursor!);
    const expected = [...ids.slice(11), ...added.filter((id) => id > cursorId)].sort();
    expect(rest).toEqual(expected);
  });

  it('clamps a limit above the maximum instead of rejecting it', async () => {
    const store = context.store();
    const ids = await putDistinct(store, 3);
    expect(await store.list({ limit: OBJECT_STORE_LIST_LIMIT_MAX + 1 })).toEqual({ ids });
  });

  it('rejects limits that are not positive integers with EINVAL', async () => {
    const store = context.store();
    for (const limit of [0, -1, 2.5, Number.NaN, '3' as unknown as number]) {
      await expectCode(store.list({ limit }), 'EINVAL');
    }
  });

  it('rejects cursors that no listing handed out with EINVAL', async () => {
    const store = context.store();
    await putDistinct(store, 3);
    for (const cursor of ['', 'not a cursor', '../', EMPTY_ID.toUpperCase(), 7 as unknown as string]) {
      await expectCode(store.list({ cursor }), 'EINVAL');
    }
  });
}

// ---------------------------------------------------------------------------------------------
// malformed ids

function describeMalformedIds(context: ObjectStoreSuiteContext): void {
  it('rejects malformed ids with EINVAL in every operation that takes an id', async () => {
    const store = context.store();
    for (const id of MALFORMED_IDS) {
      const label = `id ${JSON.stringify(id)}`;
      await expect(store.get(id), label).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(store.getRange(id, 0, 1), label).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(store.stream(id), label).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(store.stat(id), label).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(store.has(id), label).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(store.delete(id), label).rejects.toMatchObject({ code: 'EINVAL' });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// buffer ownership

function describeBufferOwnership(context: ObjectStoreSuiteContext): void {
  it('keeps what put stored when the caller changes its buffer afterwards', async () => {
    const store = context.store();
    const data = utf8('original');
    const { id } = await store.put(data);
    data.fill(0);
    expect(bytesDifference(await store.get(id), utf8('original'))).toBeUndefined();
  });

  it('keeps what a streamed put stored when the caller changes its chunks afterwards', async () => {
    const store = context.store();
    const chunks = [utf8('orig'), utf8('inal')];
    const { id } = await store.put(streamOfChunks(chunks));
    for (const chunk of chunks) chunk.fill(0);
    expect(bytesDifference(await store.get(id), utf8('original'))).toBeUndefined();
  });

  it('is not changed when the caller changes buffers it returned', async () => {
    const store = context.store();
    const { id } = await store.put(utf8('original'));
    (await store.get(id)).fill(0);
    (await store.getRange(id, 2, 4)).fill(0);
    const reader = (await store.stream(id)).getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) read.value.fill(0);
    expect(bytesDifference(await store.get(id), utf8('original'))).toBeUndefined();
  });
}

// ---------------------------------------------------------------------------------------------
// close and reopen

const NO_REOPEN = 'the driver declares no reopen capability: it keeps nothing once closed';

function describeLifecycle(context: ObjectStoreSuiteContext): void {
  it('rejects every call after close with ECLOSED, and closes idempotently', async () => {
    const store = context.store();
    const { id } = await store.put(utf8('v'));
    await store.close();
    await store.close();
    await expectCode(store.put(utf8('v')), 'ECLOSED');
    await expectCode(store.get(id), 'ECLOSED');
    await expectCode(store.getRange(id, 0, 1), 'ECLOSED');
    await expectCode(store.stream(id), 'ECLOSED');
    await expectCode(store.stat(id), 'ECLOSED');
    await expectCode(store.has(id), 'ECLOSED');
    await expectCode(store.delete(id), 'ECLOSED');
    await expectCode(store.list(), 'ECLOSED');
  });

  it('keeps blobs across close and reopen, and nothing of a failed put', async (test) => {
    const { reopen } = context.capabilities;
    test.skip(reopen === undefined, NO_REOPEN);
    const store = context.store();
    const data = patternBytes(100_000, 11);
    const { id } = await store.put(data);
    const { id: deleted } = await store.put(utf8('deleted'));
    await store.delete(deleted);
    await expect(store.put(failingStream([utf8('partial')], new Error('cut')))).rejects.toThrow('cut');
    await store.close();
    const reopened = await reopen!(store);
    try {
      expect(await reopened.list()).toEqual({ ids: [id] });
      expect(bytesDifference(await reopened.get(id), data)).toBeUndefined();
    } finally {
      await reopened.close();
    }
  });
}
