import { describe, expect, it } from 'vitest';
import { encodeLogRecord, readCommitLogs } from './commit-log.ts';
import { META_SLOT_COUNT, PAGE_BYTES } from './constants.ts';
import { openKvStore } from './kv-store.ts';
import { CountingStorageFile } from './test-storage.ts';
import { numberedKey } from './test-workload.ts';

/**
 * A CountingStorageFile whose writes, once `hold()` is called, wait until `release()`: a tree file
 * whose checkpoint is stuck in its merge for as long as a test wants.
 */
class HeldStorageFile extends CountingStorageFile {
  #held: Promise<void> | undefined;
  #release: (() => void) | undefined;
  #reached: (() => void) | undefined;
  /** Resolves once a write waits on the hold. */
  reached: Promise<void> = Promise.resolve();

  hold(): void {
    this.#held = new Promise<void>((resolve) => (this.#release = resolve));
    this.reached = new Promise<void>((resolve) => (this.#reached = resolve));
  }

  release(): void {
    this.#release?.();
    this.#held = undefined;
  }

  override async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.#held !== undefined) {
      this.#reached?.();
      await this.#held;
    }
    await super.write(offset, data);
  }
}

/** Lets every pending promise chain of in-memory storage run: a bounded number of microtask turns. */
async function drainMicrotasks(): Promise<void> {
  for (let turn = 0; turn < 10_000; turn++) await Promise.resolve();
}

describe('KV store checkpoint in the background (issue #3)', () => {
  // With one log (or before issue #3) the commit loop runs the checkpoint itself, and this fails.
  it('completes a durable commit while a checkpoint is held in its merge of the tree', async () => {
    const tree = new HeldStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log, secondLog: new CountingStorageFile(), writeBufferBytes: 4096 });
    tree.hold();
    // Commits of 100 bytes until the buffer passes 4 KiB and a checkpoint writes the tree.
    let index = 0;
    let reached = false;
    void tree.reached.then(() => (reached = true));
    while (!reached && index < 1000) {
      await Promise.race([store.put(numberedKey(index++), new Uint8Array(100)), drainMicrotasks()]);
      await drainMicrotasks();
    }
    expect(reached).toBe(true);
    let committed = false;
    const commit = store.put(numberedKey(index), new Uint8Array(100)).then(() => (committed = true));
    await drainMicrotasks();
    expect(committed).toBe(true);
    const snapshot = store.snapshot();
    expect((await snapshot.get(numberedKey(index)))?.value).toEqual(new Uint8Array(100));
    snapshot.release();
    tree.release();
    await commit;
    await store.close();
  });

  it('holds commits back once the fresh buffer fills before the checkpoint in flight ends, and takes them after', async () => {
    const tree = new HeldStorageFile();
    const log = new CountingStorageFile();
    const secondLog = new CountingStorageFile();
    const store = await openKvStore(tree, { log, secondLog, writeBufferBytes: 4096 });
    tree.hold();
    const commits: Promise<number>[] = [];
    let settled = 0;
    // Far more than two buffers' worth: the commits past the second buffer must wait.
    for (let index = 0; index < 200; index++) {
      const commit = store.put(numberedKey(index), new Uint8Array(100));
      void commit.then(() => settled++);
      commits.push(commit);
      await drainMicrotasks();
    }
    // The first buffer froze (about 4 KiB of commits), a second filled, then the loop waited.
    expect(settled).toBeGreaterThan(20);
    expect(settled).toBeLessThan(100);
    tree.release();
    await Promise.all(commits);
    for (let index = 0; index < 200; index += 37) expect((await store.get(numberedKey(index)))?.value).toEqual(new Uint8Array(100));
    await store.close();
    const reopened = await openKvStore(new CountingStorageFile(tree.image()), { log: new CountingStorageFile(log.image()), secondLog: new CountingStorageFile(secondLog.image()) });
    expect((await reopened.scan({ limit: 1000 })).entries.length).toBe(200);
    await reopened.close();
  });

  it('replays two logs in version order whichever is passed first, and refuses a log that skips versions', async () => {
    const put = (version: number) => ({ version, operations: [{ type: 'put' as const, key: numberedKey(version), value: Uint8Array.of(version) }] });
    const older = new CountingStorageFile();
    await older.write(0, encodeLogRecord([put(1), put(2)]));
    const newer = new CountingStorageFile();
    await newer.write(0, encodeLogRecord([put(3)]));
    for (const files of [[older, newer], [newer, older]]) {
      expect((await readCommitLogs(files, 0)).batches.map((batch) => batch.version)).toEqual([1, 2, 3]);
      // Idempotent: what the tree has is passed over.
      expect((await readCommitLogs(files, 2)).batches.map((batch) => batch.version)).toEqual([3]);
    }
    const ahead = new CountingStorageFile();
    await ahead.write(0, encodeLogRecord([put(5)]));
    await expect(readCommitLogs([older, ahead], 0)).rejects.toMatchObject({ code: 'ECORRUPT' });
  });

  it('closes without merging the write buffer: the reopen reads the log back, and the next commit checkpoints it', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const secondLog = new CountingStorageFile();
    const value = (index: number) => new Uint8Array(200).fill(index);
    const store = await openKvStore(tree, { log, secondLog });
    for (let index = 1; index <= 50; index++) await store.put(numberedKey(index), value(index));
    const treeWrites = tree.writeCount;
    await store.close();
    // At most the meta page a clean close marks; the commits are only in the first log.
    expect(tree.writeCount - treeWrites).toBeLessThanOrEqual(1);
    expect((await readCommitLogs([new CountingStorageFile(log.image())], 0)).batches.length).toBe(50);
    const treeOnly = await openKvStore(new CountingStorageFile(tree.image()));
    expect(await treeOnly.get(numberedKey(1))).toBeUndefined();
    await treeOnly.close();

    const reopenedTree = new CountingStorageFile(tree.image());
    const reopenedLog = new CountingStorageFile(log.image());
    const reopenedSecondLog = new CountingStorageFile(secondLog.image());
    const reopened = await openKvStore(reopenedTree, { log: reopenedLog, secondLog: reopenedSecondLog });
    // Opening merged nothing into the tree (at most recovery's copy of the meta page into a slot
    // the store never filled): the replayed commits wait in the write buffer.
    expect(reopenedTree.writeCount).toBeLessThanOrEqual(1);
    expect(await reopenedTree.size()).toBeLessThanOrEqual(META_SLOT_COUNT * PAGE_BYTES);
    for (let index = 1; index <= 50; index += 7) expect(await reopened.get(numberedKey(index))).toMatchObject({ value: value(index), version: index });
    expect((await reopened.scan({ limit: 100 })).entries.length).toBe(50);
    // The next commit goes to the other log, and starts the checkpoint of the replayed ones, which
    // then empties their log.
    expect(await reopened.put(numberedKey(51), value(51))).toBe(51);
    await drainMicrotasks();
    expect(reopenedTree.syncCount).toBeGreaterThan(0);
    expect(await reopenedLog.size()).toBe(0);
    expect((await readCommitLogs([reopenedSecondLog], 50)).batches.map((batch) => batch.version)).toEqual([51]);
    await reopened.close();
    const third = await openKvStore(new CountingStorageFile(reopenedTree.image()), {
      log: new CountingStorageFile(reopenedLog.image()),
      secondLog: new CountingStorageFile(reopenedSecondLog.image()),
    });
    expect((await third.scan({ limit: 100 })).entries.map((entry) => entry.version)).toEqual(Array.from({ length: 51 }, (_, index) => index + 1));
    await third.close();
  });

  it('empties the other log before it takes commits after a replay: a whole record a crash left in it never comes back', async () => {
    const batch = (version: number, key: number) => ({ version, operations: [{ type: 'put' as const, key: numberedKey(key), value: new Uint8Array(50).fill(key) }] });
    // A crash left commit 1 in the first log, and in the second, commit 2 torn and commit 3 whole
    // after it (unsynced writes reach the disk in any order): 3 was never acknowledged.
    const log = new CountingStorageFile();
    await log.write(0, encodeLogRecord([batch(1, 1)]));
    const lost2 = encodeLogRecord([batch(2, 2)]);
    const lost3 = encodeLogRecord([batch(3, 3)]);
    lost2[lost2.length - 1]! ^= 0xff;
    const secondLog = new CountingStorageFile();
    await secondLog.write(0, lost2);
    await secondLog.write(lost2.length, lost3);
    const tree = new CountingStorageFile();
    const store = await openKvStore(tree, { log, secondLog });
    expect((await store.scan({ limit: 10 })).entries.map((entry) => entry.version)).toEqual([1]);
    // Commit 2 again, of the lost record's length, where that record was: record 3 would follow it.
    expect(await store.put(numberedKey(20), new Uint8Array(50).fill(20))).toBe(2);
    expect(encodeLogRecord([batch(2, 20)]).length).toBe(lost2.length);
    // A second crash, keeping every write.
    const crashed = await openKvStore(new CountingStorageFile(tree.image()), { log: new CountingStorageFile(log.image()), secondLog: new CountingStorageFile(secondLog.image()) });
    expect((await crashed.scan({ limit: 10 })).entries.map((entry) => [entry.key, entry.version])).toEqual([
      [numberedKey(1), 1],
      [numberedKey(20), 2],
    ]);
    await crashed.close();
    await store.close();
  });
});
