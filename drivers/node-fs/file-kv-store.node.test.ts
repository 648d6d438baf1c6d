import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { KvStoreOptions } from '../../kernel/kv/index.ts';
import { FILE_KV_LOG_SUFFIX, openFileKvStore } from './file-kv-store.ts';

const directories: string[] = [];

afterEach(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

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
    const directory = await mkdtemp(join(tmpdir(), 'nexusfs-file-kv-'));
    directories.push(directory);
    const path = join(directory, 'store.kv');
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
});
