import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { afterEach, describe, expect, it } from 'vitest';
import { ExclusiveLockFile } from './exclusive-lock-file.ts';

/**
 * The lock file on its own (the SQLite file store and the data dir both use it). Taking over
 * stale locks and refusing another process's live one are tested through the store, with real
 * processes, in file-record-store.node.test.ts.
 */

const directories: string[] = [];

async function freshLockPath(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'nexusfs-lock-file-'));
  directories.push(directory);
  return join(directory, 'lock');
}

afterEach(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

describe('ExclusiveLockFile', () => {
  it('writes its owner into the lock file and nothing else into the directory', async () => {
    const path = await freshLockPath();
    const lock = ExclusiveLockFile.acquire({ path, subject: 'the test store' });
    const owner = JSON.parse(await readFile(path, 'utf8')) as { pid: number; lockedAt: string };
    expect(owner.pid).toBe(process.pid);
    expect(Number.isNaN(Date.parse(owner.lockedAt))).toBe(false);
    expect(await readdir(join(path, '..'))).toEqual(['lock']);
    lock.release();
    expect(await readdir(join(path, '..'))).toEqual([]);
  });

  it('refuses a second holder with EBUSY naming the subject, until the first releases it', async () => {
    const path = await freshLockPath();
    const first = ExclusiveLockFile.acquire({ path, subject: 'the test store' });
    expect(() => ExclusiveLockFile.acquire({ path, subject: 'the test store' })).toThrow(
      expect.objectContaining({ code: 'EBUSY', message: expect.stringMatching(/^cannot open the test store: it is in use by this process/) }),
    );
    first.release();
    first.release(); // A second release does nothing.
    ExclusiveLockFile.acquire({ path, subject: 'the test store' }).release();
  });

  it('leaves alone, on release, a lock file that names another owner', async () => {
    const path = await freshLockPath();
    const lock = ExclusiveLockFile.acquire({ path, subject: 'the test store' });
    const replacement = JSON.stringify({ pid: 1, hostname: 'another-host.invalid', processStartTicks: null, token: 'other', lockedAt: 'x' });
    await writeFile(path, replacement);
    lock.release();
    expect(await readFile(path, 'utf8')).toBe(replacement);
  });
});
