import { describe, expect, it } from 'vitest';
import { encodeLogRecord, logRecordBytes } from './commit-log.ts';
import { META_SLOT_COUNT, PAGE_BYTES } from './constants.ts';
import type { KvStore } from './kv-store-types.ts';
import { openKvStore } from './kv-store.ts';
import { CountingStorageFile, RecordingStorageFile, type StorageEvent, type WriteFate, crashImage } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, numberedKey } from './test-workload.ts';

/**
 * Replay after a crash that broke a commit log's run of records in the middle: an unsynced record
 * lost, a later one kept (unsynced writes reach the disk in any order). Replay stops at the gap, so
 * the later record is a stale whole record behind the point where the log goes on. Whatever the
 * store commits next, that record must never be read as following those commits: it holds commits
 * recovery said do not exist, at versions the new commits take again.
 */

/** The small relaxed commits of these tests: one record each, all of one size. */
const VALUE_BYTES = 200;
/** A value that fills the write buffer past LARGE_BUFFER_BYTES alone: the commit checkpoints. */
const LARGE_VALUE_BYTES = 2_000;
const WRITE_BUFFER_BYTES = 1_000;

const put = (index: number, bytes = VALUE_BYTES) => ({ type: 'put' as const, key: numberedKey(index), value: new Uint8Array(bytes).fill(index) });
/** Bytes of the log record of one small commit. */
const RECORD_BYTES = logRecordBytes([{ version: 1, operations: [put(0)] }]);

async function commit(store: KvStore, index: number, options: { durable?: boolean; valueBytes?: number } = {}): Promise<number> {
  return store.commit([put(index, options.valueBytes)], [], { durability: options.durable === true ? 'durable' : 'relaxed' });
}

/**
 * A crash image of the first `eventCount` events of `file`: what was synced, then the unsynced
 * writes in order, those `lost` picks lost and the others kept.
 */
function imageLosing(
  events: readonly StorageEvent[],
  lost: (write: { offset: number; data: Uint8Array }) => boolean,
  eventCount = events.length,
): CountingStorageFile {
  const image = crashImage(events, eventCount, (unsynced) => ({
    order: unsynced.map((_, index) => index),
    fates: unsynced.map((write): WriteFate => (lost(write) ? 'lost' : 'kept')),
    tornBytes: unsynced.map(() => 0),
  }));
  return new CountingStorageFile(image);
}

/** Every entry as `key@version`. */
async function entriesOf(store: KvStore): Promise<string[]> {
  const page = await store.scan({ limit: 100 });
  return page.entries.map((entry) => `${new TextDecoder().decode(entry.key)}@${entry.version}`);
}

/** The files of a store as a crash with every write kept leaves them, opened again. */
async function reopenCrashed(files: { tree: CountingStorageFile; log: CountingStorageFile; secondLog?: CountingStorageFile | undefined }): Promise<KvStore> {
  return openKvStore(new CountingStorageFile(files.tree.image()), {
    log: new CountingStorageFile(files.log.image()),
    secondLog: files.secondLog === undefined ? undefined : new CountingStorageFile(files.secondLog.image()),
  });
}

describe('KV commit log replay after a crash that left a gap', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  for (const twoLogs of [false, true]) {
    it(`never replays a record left behind a lost one after the commits made since (${twoLogs ? 'two logs' : 'one log'})`, async () => {
      const tree = new CountingStorageFile();
      const log = new RecordingStorageFile();
      const secondLog = twoLogs ? new CountingStorageFile() : undefined;
      const store = await openKvStore(tree, { log, secondLog });
      // Relaxed commits 1 and 2, one record each; the crash loses record 1 and keeps record 2.
      expect(await commit(store, 1)).toBe(1);
      expect(await commit(store, 2)).toBe(2);
      const crashedLog = imageLosing(log.events, (write) => write.offset === 0);
      const treeImage = tree.image();
      await store.close();
      const recoveredFiles = {
        tree: new CountingStorageFile(treeImage),
        log: crashedLog,
        secondLog: secondLog === undefined ? undefined : new CountingStorageFile(),
      };
      const recovered = await openKvStore(recoveredFiles.tree, recoveredFiles);
      // Record 2 does not follow the tree without record 1: recovery finds neither commit.
      expect(await entriesOf(recovered)).toEqual([]);
      // A durable commit of the size of the lost one: its record ends where record 2 begins.
      const version = await commit(recovered, 3, { durable: true });
      expect(await entriesOf(recovered)).toEqual([`key-000003@${version}`]);
      // A second crash keeps everything: the durable commit stays, commit 2 must not come back.
      const reopened = await reopenCrashed(recoveredFiles);
      expect(await entriesOf(reopened)).toEqual([`key-000003@${version}`]);
      await reopened.close();
      await recovered.close();
    });
  }

  it('never replays a record left behind a lost one in the second log after the commits made since', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const secondLog = new RecordingStorageFile();
    const options = { writeBufferBytes: WRITE_BUFFER_BYTES };
    const store = await openKvStore(tree, { ...options, log, secondLog });
    // Commit 1 fills the buffer: a checkpoint freezes the first log, and commits 2 to 4 go to the
    // second one, records of one size from offset 0. The crash loses records 2 and 3, keeps 4.
    expect(await commit(store, 1, { valueBytes: LARGE_VALUE_BYTES })).toBe(1);
    for (let index = 2; index <= 4; index++) expect(await commit(store, index)).toBe(index);
    await store.sync();
    const fourthRecordOffset = 2 * RECORD_BYTES;
    expect(secondLog.events.some((event) => event.kind === 'write' && event.offset === fourthRecordOffset)).toBe(true);
    const crashed = {
      tree: new CountingStorageFile(tree.image()),
      log: new CountingStorageFile(log.image()),
      // Everything up to the sync that made records 2 to 4 durable, record 4 kept.
      secondLog: imageLosing(secondLog.events, (write) => write.offset < fourthRecordOffset, secondLog.events.findLastIndex((event) => event.kind === 'sync')),
    };
    await store.close();
    const recovered = await openKvStore(crashed.tree, { ...options, ...crashed });
    expect(await entriesOf(recovered)).toEqual(['key-000001@1']);
    // Commit 5 (version 2) fills the buffer again, so commit 6 (version 3) goes to the second log at
    // offset 0, one record as long as records 2 and 3: it ends where record 4 (version 4) begins.
    expect(await commit(recovered, 5, { valueBytes: LARGE_VALUE_BYTES, durable: true })).toBe(2);
    const overhead = RECORD_BYTES - VALUE_BYTES;
    expect(await commit(recovered, 6, { valueBytes: 2 * RECORD_BYTES - overhead, durable: true })).toBe(3);
    const expected = ['key-000001@1', 'key-000005@2', 'key-000006@3'];
    expect(await entriesOf(recovered)).toEqual(expected);
    const reopened = await reopenCrashed(crashed);
    expect(await entriesOf(reopened)).toEqual(expected);
    await reopened.close();
    await recovered.close();
  });

  it('numbers new commits above a whole record replay stopped at, so an ifMatch taken from it cannot match them', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log });
    expect(await commit(store, 1, { durable: true })).toBe(1);
    await store.close();
    // Round one's record 1 at offset 0 (the zeroed header of the next round lost with its first
    // record, version 2), and record 3 of that round kept where it was written: whole, but it does
    // not follow version 1. Its commit was acknowledged (relaxed) at version 3 before the crash.
    const recordOne = encodeLogRecord([{ version: 1, operations: [put(1)] }]);
    const recordThree = encodeLogRecord([{ version: 3, operations: [put(3)] }]);
    const image = new Uint8Array(recordOne.length + recordThree.length);
    image.set(recordOne, 0);
    image.set(recordThree, recordOne.length);
    const recovered = await openKvStore(new CountingStorageFile(tree.image()), { log: new CountingStorageFile(image) });
    expect(await entriesOf(recovered)).toEqual(['key-000001@1']);
    // Two commits again; key 3's must not get version 3, or the lost commit's ifMatch would pass.
    await commit(recovered, 2, { durable: true });
    const version = await commit(recovered, 3, { durable: true });
    expect(version).toBeGreaterThan(3);
    await expect(recovered.commit([put(3, 1)], [{ key: numberedKey(3), version: 3 }])).rejects.toMatchObject({ code: 'ECONFLICT' });
    await recovered.close();
  });

  it('keeps a durable commit made after recovery rejected a checkpoint that covered lost relaxed commits', async () => {
    const tree = new RecordingStorageFile();
    const log = new RecordingStorageFile();
    const options = { writeBufferBytes: WRITE_BUFFER_BYTES };
    const store = await openKvStore(tree, { ...options, log });
    const treeSyncsAtOpen = tree.events.filter((event) => event.kind === 'sync').length;
    // Commit 1 durable, 2 and 3 relaxed; commit 3 fills the buffer and checkpoints versions 1 to 3.
    await commit(store, 1, { durable: true });
    await commit(store, 2);
    await commit(store, 3, { valueBytes: LARGE_VALUE_BYTES });
    await store.close();
    // The crash comes before the checkpoint's tree sync: its meta page reached the disk, its other
    // pages did not (so recovery rejects it); relaxed records 2 and 3 were lost.
    const checkpointSync = tree.events.findIndex((event, index) => event.kind === 'sync' && tree.events.slice(0, index).filter((earlier) => earlier.kind === 'sync').length === treeSyncsAtOpen);
    expect(checkpointSync).toBeGreaterThan(0);
    const crashed = {
      tree: imageLosing(tree.events, (write) => write.offset >= META_SLOT_COUNT * PAGE_BYTES, checkpointSync),
      log: imageLosing(log.events, () => true, log.events.findIndex((event) => event.kind === 'sync') + 1),
    };
    const recovered = await openKvStore(crashed.tree, { ...options, ...crashed });
    expect(await entriesOf(recovered)).toEqual(['key-000001@1']);
    const version = await commit(recovered, 4, { durable: true });
    // Above every version the rejected checkpoint held: an ifMatch taken from a lost commit cannot match it.
    expect(version).toBeGreaterThan(3);
    const reopened = await reopenCrashed(crashed);
    expect(await entriesOf(reopened)).toEqual(['key-000001@1', `key-000004@${version}`]);
    await reopened.close();
    await recovered.close();
  });
});
