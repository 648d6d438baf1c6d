import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { KvStore, KvStoreOptions } from '../../kernel/kv/index.ts';
import { FILE_KV_LOG_SUFFIX, openFileKvStore } from './file-kv-store.ts';

const directories: string[] = [];

afterEach(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

/** The path of a store in a new directory, which the test's end deletes. */
async function freshStorePath(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'nexusfs-file-kv-'));
  directories.push(directory);
  return join(directory, 'store.kv');
}

/** A full garbage collection (Node and Deno): V8's gc, exposed at run time. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/**
 * MiB of memory in use after two full collections: the JavaScript heap and the buffers outside it.
 * Two: after one, a closed store's released memory still counted 7.4-10.8 MiB until the next.
 */
function memoryInUseMiB(): number {
  collectGarbage();
  collectGarbage();
  const { heapUsed, external } = process.memoryUsage();
  return (heapUsed + external) / 1024 ** 2;
}

/** Records in a commit log file: each starts with its length (commit-log.ts); zeros follow the last. */
function countLogRecords(log: Uint8Array): number {
  const view = new DataView(log.buffer, log.byteOffset, log.byteLength);
  let records = 0;
  for (let offset = 0; offset + 4 <= log.length; records++) {
    const length = view.getUint32(offset, true);
    if (length === 0) break;
    offset += length;
  }
  return records;
}

describe('openFileKvStore', () => {
  const committers = 8;
  const rounds = 5;

  /**
   * Log records (one per commit group) after each of 8 committers commits 5 times, each behind its
   * own number of awaits (as callers behind different APIs are), all durable.
   */
  async function groupsOfCommitterPool(options: Omit<KvStoreOptions, 'log'> = {}): Promise<number> {
    const path = await freshStorePath();
    const store = await openFileKvStore(path, options);
    const value = new Uint8Array([1, 2, 3]);
    const commitBehindAwaits = async (key: Uint8Array, awaits: number): Promise<void> => {
      if (awaits === 0) await store.put(key, value);
      else await commitBehindAwaits(key, awaits - 1);
    };
    const committer = async (committerIndex: number): Promise<void> => {
      for (let round = 0; round < rounds; round++) await commitBehindAwaits(Uint8Array.of(committerIndex, round), committerIndex);
    };
    await Promise.all(Array.from({ length: committers }, (_, index) => committer(index)));
    // Read before close, which checkpoints and starts the log over.
    const records = countLogRecords(await readFile(`${path}${FILE_KV_LOG_SUFFIX}`));
    await store.close();
    return records;
  }

  it('waits a turn of the event loop between commit groups, so a pool of committers commits in whole groups', async () => {
    expect(await groupsOfCommitterPool()).toBe(rounds);
  });

  it('splits the same pool into more groups when the next group is taken after a microtask', async () => {
    expect(await groupsOfCommitterPool({ scheduleGroup: (takeGroup) => queueMicrotask(takeGroup) })).toBeGreaterThan(rounds);
  });

  /**
   * Pauses the checkpoints of a store on a real file take while 3 MiB is committed through a
   * 1 MiB write buffer (so that checkpoints run while commits go on), counted before the close.
   */
  async function checkpointPausesWhileCommitting(pacedCheckpoints: boolean): Promise<number> {
    let pauses = 0;
    const store = await openFileKvStore(await freshStorePath(), {
      pacedCheckpoints,
      writeBufferBytes: 1024 * 1024,
      checkpointPause: (resume) => {
        pauses++;
        setImmediate(resume);
      },
    });
    const value = new Uint8Array(1000).fill(7);
    for (let batch = 0; batch < 48; batch++) {
      const commits = Array.from({ length: 64 }, (_, index) => store.put(Uint8Array.of(index, batch, 1), value));
      await Promise.all(commits);
    }
    const counted = pauses;
    await store.close();
    return counted;
  }

  it('paces checkpoints when opened with pacedCheckpoints (a server), and runs each in one stretch by default', async () => {
    expect(await checkpointPausesWhileCommitting(true)).toBeGreaterThan(0);
    expect(await checkpointPausesWhileCommitting(false)).toBe(0);
  });

  describe('a closed store the caller still holds', () => {
    const keys = 50_000;
    const key = (index: number): Uint8Array => Uint8Array.of(index >>> 16, (index >>> 8) & 255, index & 255, 1);
    const value = (index: number): Uint8Array => new Uint8Array(150).fill(index & 255);

    /** Commits `keys` entries in relaxed batches of 1,000. */
    async function fill(store: KvStore): Promise<void> {
      for (let start = 0; start < keys; start += 1_000) {
        const operations = Array.from({ length: 1_000 }, (_, offset) => ({ type: 'put' as const, key: key(start + offset), value: value(start + offset) }));
        await store.commit(operations, [], { durability: 'relaxed' });
      }
    }

    /** MiB that closing `holder.store` left in use while the holder kept it, and MiB its dropping freed after that. */
    async function heldAfterClose(holder: { store?: KvStore }): Promise<{ heldMiB: number; beforeCloseMiB: number }> {
      const beforeClose = memoryInUseMiB();
      await holder.store!.close();
      const closed = memoryInUseMiB();
      delete holder.store;
      const dropped = memoryInUseMiB();
      return { heldMiB: closed - dropped, beforeCloseMiB: beforeClose - dropped };
    }

    it('keeps none of its page cache', async () => {
      const path = await freshStorePath();
      // A small write buffer: the entries go into the tree, where reads cache its pages.
      const filled = await openFileKvStore(path, { writeBufferBytes: 1024 * 1024 });
      await fill(filled);
      await filled.close();
      const holder: { store?: KvStore } = { store: await openFileKvStore(path, { writeBufferBytes: 1024 * 1024 }) };
      for (let index = 0; index < keys; index++) expect((await holder.store!.get(key(index)))?.value).toEqual(value(index));
      expect((await holder.store!.stats()).cachedPages).toBeGreaterThan(1_000);
      const { heldMiB, beforeCloseMiB } = await heldAfterClose(holder);
      // The open store held its cache (so the check below could fail); the closed one, almost nothing.
      expect(beforeCloseMiB).toBeGreaterThan(8);
      expect(heldMiB).toBeLessThan(2);
    });

    it('keeps none of its write buffer', async () => {
      // The default write buffer holds every entry: closing leaves them in the log, not merged into the tree.
      const holder: { store?: KvStore } = { store: await openFileKvStore(await freshStorePath()) };
      await fill(holder.store!);
      expect((await holder.store!.stats()).writeTransactionCount).toBe(0);
      const { heldMiB, beforeCloseMiB } = await heldAfterClose(holder);
      expect(beforeCloseMiB).toBeGreaterThan(8);
      expect(heldMiB).toBeLessThan(2);
    });
  });

  it('refuses a pacedCheckpoints that is not a boolean with EINVAL, before it creates any file', async () => {
    const path = await freshStorePath();
    await expect(openFileKvStore(path, { pacedCheckpoints: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(readFile(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
