import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { contentIdOf } from '../../kernel/content-id.ts';
import { runObjectStoreSuite } from '../../test/conformance/object-store-suite.ts';
import { patternBytes, utf8 } from '../../test/conformance/test-bytes.ts';
import { chunksOf, failingStream, streamOfChunks } from '../../test/conformance/test-streams.ts';
import { LocalObjectStore } from './local-object-store.ts';

/** Every directory a test made, removed after it. */
const directories: string[] = [];

async function freshDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'nexusfs-local-object-store-'));
  directories.push(directory);
  return directory;
}

afterEach(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

/** Which store opened which directory, so `reopen` can open the same one again. */
const directoryOf = new WeakMap<LocalObjectStore, string>();

function openStore(directory: string): LocalObjectStore {
  const store = new LocalObjectStore({ directory });
  directoryOf.set(store, directory);
  return store;
}

runObjectStoreSuite('LocalObjectStore', async () => openStore(await freshDirectory()), {
  reopen: async (closed) => openStore(directoryOf.get(closed as LocalObjectStore)!),
});

describe('LocalObjectStore on disk', () => {
  it('keeps blobs at <directory>/<first two hex digits>/<id>', async () => {
    const directory = await freshDirectory();
    const store = openStore(directory);
    const { id } = await store.put(utf8('where am I'));
    expect(await readdir(join(directory, id.slice(0, 2)))).toEqual([id]);
    await store.close();
  });

  it('lists neither leftover temporary files nor stray files as blobs', async () => {
    const directory = await freshDirectory();
    const store = openStore(directory);
    const { id } = await store.put(utf8('real'));
    // What a crash in the middle of a put leaves, and what other programs may drop in the directory.
    const strayId = await contentIdOf(utf8('never finished'));
    await writeFile(join(directory, 'tmp', `${strayId}.partial`), utf8('never fin'));
    await writeFile(join(directory, 'tmp', strayId), utf8('never finished'));
    await mkdir(join(directory, 'zz'));
    await writeFile(join(directory, 'zz', strayId), utf8('never finished'));
    await writeFile(join(directory, id.slice(0, 2), `${id}.swp`), utf8('editor'));
    await writeFile(join(directory, id.slice(0, 2), strayId), utf8('wrong fan-out directory'));
    await writeFile(join(directory, 'README'), utf8('not a blob'));
    expect(await store.list()).toEqual({ ids: [id] });
    expect(await store.has(strayId)).toBe(false);
    await store.close();
  });

  it('leaves no temporary file behind when a streamed put fails, and stores the content when put again', async () => {
    const directory = await freshDirectory();
    const store = openStore(directory);
    const chunks = chunksOf(patternBytes(200_000), 65_521);
    await expect(store.put(failingStream(chunks, new Error('connection reset')))).rejects.toThrow('connection reset');
    await expect(store.put(streamOfChunks([utf8('ok'), 7 as unknown as Uint8Array]))).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await readdir(join(directory, 'tmp'))).toEqual([]);
    const { id } = await store.put(streamOfChunks(chunks));
    expect(await readdir(join(directory, 'tmp'))).toEqual([]);
    expect(await store.list()).toEqual({ ids: [id] });
    await store.close();
  });

  it('creates its directory on first use', async () => {
    const directory = join(await freshDirectory(), 'not', 'yet', 'there');
    const store = openStore(directory);
    expect(await store.list()).toEqual({ ids: [] });
    const { id } = await store.put(utf8('first'));
    expect(await store.get(id)).toEqual(utf8('first'));
    await store.close();
  });
});
