import { describe, expect, it } from 'vitest';
import { CommitLog, encodeLogRecord, logRecordBytes, readCommitLog } from './commit-log.ts';
import { COMMIT_LOG_SCRATCH_BYTES } from './constants.ts';
import { openKvStore } from './kv-store.ts';
import { checkStoreFile } from './store-check.ts';
import { CountingStorageFile } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, SeededRandom, numberedKey } from './test-workload.ts';

const KEYS = 500;

describe('KV store with a commit log', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  it('makes a durable commit one log append and one log sync, leaving the tree file alone until a checkpoint', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log, writeBufferBytes: 1_000_000 });
    await store.put(numberedKey(0), new Uint8Array(10));
    const treeWrites = tree.writeCount;
    const treeSyncs = tree.syncCount;
    const logSyncs = log.syncCount;
    for (let index = 1; index <= 50; index++) await store.put(numberedKey(index), new Uint8Array(10));
    expect(tree.writeCount).toBe(treeWrites);
    expect(tree.syncCount).toBe(treeSyncs);
    expect(log.syncCount).toBe(logSyncs + 50);
    // Relaxed commits are logged without a sync; `sync()` syncs the log once.
    for (let index = 51; index <= 60; index++) await store.commit([{ type: 'put', key: numberedKey(index), value: new Uint8Array(1) }], [], { durability: 'relaxed' });
    expect(log.syncCount).toBe(logSyncs + 50);
    await store.sync();
    expect(log.syncCount).toBe(logSyncs + 51);
    await store.close();
    expect(tree.syncCount).toBeGreaterThan(treeSyncs);
    const report = await checkStoreFile(new CountingStorageFile(tree.image()));
    expect(report.entryCount).toBe(61);
  });

  it('keeps commits in the write buffer until a checkpoint merges them, writing each changed leaf once', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log, cachePages: 64, writeBufferBytes: 1_000_000 });
    const random = new SeededRandom(1);
    const values = Array.from({ length: KEYS }, () => random.bytes(100));
    await store.batch(values.map((value, index) => ({ type: 'put' as const, key: numberedKey(index), value })));
    const pagesAfterLoad = (await store.stats()).pageCount;
    const treeWrites = tree.writeCount;
    // Thousands of single-key commits: none touches the tree file; reads see them at once.
    for (let index = 0; index < 2000; index++) {
      const key = random.below(KEYS);
      values[key] = random.bytes(100);
      await store.put(numberedKey(key), values[key]!);
      if (index % 97 === 0) await store.delete(numberedKey(random.below(KEYS)));
    }
    expect(tree.writeCount).toBe(treeWrites);
    const writesBeforeClose = tree.writeCount;
    const expected = new Map<number, Uint8Array>();
    for (let index = 0; index < KEYS; index++) {
      const entry = await store.get(numberedKey(index));
      if (entry !== undefined) expect(entry.value).toEqual(values[index]);
      if (entry !== undefined) expected.set(index, entry.value);
    }
    await store.close();
    // One merge: at most every page of the tree rewritten once (plus the meta slots and freelist).
    expect(tree.writeCount - writesBeforeClose).toBeLessThan(pagesAfterLoad + 10);
    const report = await checkStoreFile(new CountingStorageFile(tree.image()));
    expect(report.entryCount).toBe(expected.size);
    const reopened = await openKvStore(new CountingStorageFile(tree.image()), { log: new CountingStorageFile(log.image()) });
    for (const [index, value] of expected) expect((await reopened.get(numberedKey(index)))?.value).toEqual(value);
    await reopened.close();
  });

  it('keeps the version of a commit without operations across a checkpoint and a reopen', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log });
    const empty = await store.commit([], [], { durability: 'durable' });
    await store.close();
    const reopened = await openKvStore(new CountingStorageFile(tree.image()), { log: new CountingStorageFile(log.image()) });
    expect((await reopened.stats()).lastVersion).toBe(empty);
    expect(await reopened.put(numberedKey(1), new Uint8Array([1]))).toBeGreaterThan(empty);
    await reopened.close();
  });

  it('keeps what a snapshot sees while later commits free and reuse the pages it reads, across a checkpoint', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log, cachePages: 16, writeBufferBytes: 20_000 });
    const random = new SeededRandom(2);
    const values = Array.from({ length: KEYS }, () => random.bytes(100));
    await store.batch(values.map((value, index) => ({ type: 'put' as const, key: numberedKey(index), value })));
    const snapshot = store.snapshot();
    for (let index = 0; index < 600; index++) await store.put(numberedKey(random.below(KEYS)), random.bytes(100));
    // Several checkpoints merged the buffer since, and the small cache evicted what the snapshot reads.
    expect(tree.syncCount).toBeGreaterThan(3);
    for (let index = 0; index < KEYS; index += 7) expect((await snapshot.get(numberedKey(index)))?.value).toEqual(values[index]);
    expect((await snapshot.scan({ limit: KEYS })).entries.map((entry) => entry.value)).toEqual(values);
    snapshot.release();
    await store.close();
    await checkStoreFile(new CountingStorageFile(tree.image()));
  });

  it('replays only the batches a tree lacks, and stops at the first record that is not whole', async () => {
    const put = (index: number) => ({ type: 'put' as const, key: numberedKey(index), value: new Uint8Array([index]) });
    const first = encodeLogRecord([{ version: 5, operations: [put(5)] }, { version: 6, operations: [put(6)] }]);
    const second = encodeLogRecord([{ version: 7, operations: [put(7)] }]);
    const third = encodeLogRecord([{ version: 8, operations: [put(8)] }]);
    const image = new Uint8Array(first.length + second.length + third.length);
    image.set(first, 0);
    image.set(second, first.length);
    image.set(third, first.length + second.length);
    const read = async (bytes: Uint8Array, afterVersion: number) => (await readCommitLog(new CountingStorageFile(bytes), afterVersion)).batches.map((batch) => batch.version);
    expect(await read(image, 4)).toEqual([5, 6, 7, 8]);
    // A tree at version 5 straddles the first record: replay resumes at 6.
    expect(await read(image, 5)).toEqual([6, 7, 8]);
    expect(await read(image, 8)).toEqual([]);
    // A gap (the tree is older than the log's first record) replays nothing: those commits are lost
    // from the log, and replaying later ones would skip them.
    expect(await read(image, 2)).toEqual([]);
    // A torn second record ends the log there.
    const torn = image.slice();
    torn[first.length + 20] = torn[first.length + 20]! ^ 0xff;
    expect(await read(torn, 4)).toEqual([5, 6]);
    expect(await readCommitLog(new CountingStorageFile(new Uint8Array(64)), 0)).toEqual({ batches: [], versionMax: 0 });
  });

  it('appends records encoded in the log\'s own buffer byte for byte as encoded alone, also one too large for it', async () => {
    const random = new SeededRandom(7);
    const batch = (version: number, valueBytes: number) => ({ version, operations: [{ type: 'put' as const, key: numberedKey(version), value: random.bytes(valueBytes) }] });
    // Small, too large for the buffer, then small again: the buffer is reused after a record that
    // did not use it, and a shorter record after a longer one leaves none of the longer one behind.
    const groups = [[batch(1, 300)], [batch(2, 40)], [batch(3, COMMIT_LOG_SCRATCH_BYTES)], [batch(4, 10), batch(5, 2000)], [batch(6, 1)]];
    const file = new CountingStorageFile();
    const written: Uint8Array[] = [];
    const write = file.write.bind(file);
    file.write = (offset, data) => {
      // Growing the log is a truncate, which this file makes an empty write: not a record.
      if (data.length > 0) written.push(data);
      return write(offset, data);
    };
    const log = new CommitLog(file, { sizeBytes: 0 });
    for (const group of groups) await log.appendRecord(group, logRecordBytes(group));
    // Every record that fits went out of one buffer, the log's own; the large one out of its own.
    expect(written).toHaveLength(groups.length);
    const small = written.filter((_, index) => index !== 2);
    expect(small.every((data) => data.buffer === small[0]!.buffer && data.byteOffset === 0)).toBe(true);
    expect(small[0]!.buffer.byteLength).toBe(COMMIT_LOG_SCRATCH_BYTES);
    expect(written[2]!.buffer).not.toBe(small[0]!.buffer);
    const expected = groups.map((group) => encodeLogRecord(group));
    let offset = 0;
    for (const record of expected) {
      expect(await file.read(offset, record.length)).toEqual(record);
      offset += record.length;
    }
    expect(log.tailBytes).toBe(offset);
    expect((await readCommitLog(file, 0)).batches.map((read) => read.version)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
