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

  /**
   * Pauses the checkpoints of a store on a real file take while 3 MiB is committed through a
   * 1 MiB write buffer (so that checkpoints run while commits go on), counted before the close.
   */
  async function checkpointPausesWhileCommitting(pacedCheckpoints: boolean): Promise<number> {
    const directory = await mkdtemp(join(tmpdir(), 'nexusfs-file-kv-'));
    directories.push(directory);
    let pauses = 0;
    const store = await openFileKvStore(join(directory, 'store.kv'), {
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

  it('refuses a pacedCheckpoints that is not a boolean with EINVAL, before it creates any file', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'nexusfs-file-kv-'));
    directories.push(directory);
    const path = join(directory, 'store.kv');
    await expect(openFileKvStore(path, { pacedCheckpoints: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(readFile(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
