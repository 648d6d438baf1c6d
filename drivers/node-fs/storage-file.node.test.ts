import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StorageFile } from '../../kernel/contracts/storage-file.ts';
import { runStorageFileSuite } from '../../test/conformance/storage-file-suite.ts';
import { utf8 } from '../../test/conformance/test-bytes.ts';
import { NodeStorageFile } from './storage-file.ts';

/** Every directory a test made, removed after it. */
const directories: string[] = [];

async function freshPath(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'nexusfs-storage-file-'));
  directories.push(directory);
  return join(directory, 'store.kv');
}

afterEach(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

runStorageFileSuite('NodeStorageFile', async () => NodeStorageFile.open(await freshPath()), {
  reopen: async (closed: StorageFile) => NodeStorageFile.open((closed as NodeStorageFile).path),
});

describe('NodeStorageFile on disk', () => {
  it('creates a missing file empty, and opens an existing one with its bytes and size', async () => {
    const path = await freshPath();
    const created = await NodeStorageFile.open(path);
    expect(await created.size()).toBe(0);
    await created.close();
    await writeFile(path, utf8('already here'));
    const existing = await NodeStorageFile.open(path);
    expect(await existing.size()).toBe(12);
    expect(await existing.read(8, 10)).toEqual(utf8('here'));
    await existing.close();
  });

  it('writes at positions in the file itself, not appending', async () => {
    const path = await freshPath();
    const file = await NodeStorageFile.open(path);
    await file.write(4, utf8('tail'));
    await file.write(0, utf8('head'));
    await file.sync();
    await file.close();
    expect(new Uint8Array(await readFile(path))).toEqual(utf8('headtail'));
  });

  it('fails to open a path whose directory does not exist, passing the I/O error through', async () => {
    const path = join(await freshPath(), 'missing', 'store.kv');
    await expect(NodeStorageFile.open(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
