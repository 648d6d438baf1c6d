import * as SQLite from '@journeyapps/wa-sqlite';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SQLITE_VFS_OPEN_FILES_MAX } from './limits.ts';
import { NodeFileVfs, type VfsModule } from './node-file-vfs.ts';

/**
 * The VFS on real files, called as SQLite calls it: with pointers into a heap. The heap here is a
 * plain buffer with the two things the VFS reads from the Emscripten module; the files are real.
 */

const HEAP_BYTES = 64 * 1024;
/** Where the tests put file names, result slots and data in the heap. */
const NAME_POINTER = 1_024;
const RESULT_POINTER = 4_096;
const DATA_POINTER = 8_192;
const READ_WRITE_CREATE = SQLite.SQLITE_OPEN_READWRITE | SQLite.SQLITE_OPEN_CREATE | SQLite.SQLITE_OPEN_MAIN_DB;

const directories: string[] = [];

afterEach(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

async function setUp(): Promise<{ vfs: NodeFileVfs; heap: Uint8Array; directory: string; putName(name: string): number }> {
  const directory = await mkdtemp(join(tmpdir(), 'nexusfs-sqlite-vfs-'));
  directories.push(directory);
  const heap = new Uint8Array(HEAP_BYTES);
  const module: VfsModule = {
    HEAPU8: heap,
    UTF8ToString: (pointer) => new TextDecoder().decode(heap.subarray(pointer, heap.indexOf(0, pointer))),
  };
  const vfs = new NodeFileVfs({ name: 'test', module, temporaryFilePrefix: join(directory, 'database') });
  const putName = (name: string): number => {
    const { written } = new TextEncoder().encodeInto(name, heap.subarray(NAME_POINTER, RESULT_POINTER - 1));
    heap[NAME_POINTER + written] = 0;
    return NAME_POINTER;
  };
  return { vfs, heap, directory, putName };
}

function int32At(heap: Uint8Array, pointer: number): number {
  return new DataView(heap.buffer).getInt32(pointer, true);
}

describe('NodeFileVfs', () => {
  it('writes, reads back and measures a file', async () => {
    const { vfs, heap, directory, putName } = await setUp();
    const path = join(directory, 'data');
    expect(vfs.xOpen(0, putName(path), 1, READ_WRITE_CREATE, RESULT_POINTER)).toBe(SQLite.SQLITE_OK);
    expect(int32At(heap, RESULT_POINTER)).toBe(READ_WRITE_CREATE);
    heap.set([1, 2, 3, 4, 5], DATA_POINTER);
    expect(vfs.xWrite(1, DATA_POINTER, 5, 4_096, 0)).toBe(SQLite.SQLITE_OK);
    expect(vfs.xSync(1, SQLite.SQLITE_SYNC_FULL)).toBe(SQLite.SQLITE_OK);
    expect(vfs.xFileSize(1, RESULT_POINTER)).toBe(SQLite.SQLITE_OK);
    expect(new DataView(heap.buffer).getBigInt64(RESULT_POINTER, true)).toBe(4_101n);
    heap.fill(0, DATA_POINTER, DATA_POINTER + 5);
    expect(vfs.xRead(1, DATA_POINTER, 5, 4_096, 0)).toBe(SQLite.SQLITE_OK);
    expect([...heap.subarray(DATA_POINTER, DATA_POINTER + 5)]).toEqual([1, 2, 3, 4, 5]);
    expect(vfs.xTruncate(1, 4_098, 0)).toBe(SQLite.SQLITE_OK);
    expect(vfs.xClose(1)).toBe(SQLite.SQLITE_OK);
    expect([...(await readFile(path)).subarray(4_096)]).toEqual([1, 2]);
  });

  it('zero-fills a read past the end and reports SQLITE_IOERR_SHORT_READ', async () => {
    const { vfs, heap, directory, putName } = await setUp();
    const path = join(directory, 'short');
    await writeFile(path, new Uint8Array([9, 9, 9]));
    vfs.xOpen(0, putName(path), 1, READ_WRITE_CREATE, RESULT_POINTER);
    heap.fill(0xff, DATA_POINTER, DATA_POINTER + 8);
    expect(vfs.xRead(1, DATA_POINTER, 8, 0, 0)).toBe(SQLite.SQLITE_IOERR_SHORT_READ);
    expect([...heap.subarray(DATA_POINTER, DATA_POINTER + 8)]).toEqual([9, 9, 9, 0, 0, 0, 0, 0]);
    vfs.xClose(1);
  });

  it('refuses to open a directory, or a missing file without CREATE, with SQLITE_CANTOPEN and says why', async () => {
    const { vfs, directory, putName } = await setUp();
    expect(vfs.xOpen(0, putName(directory), 1, READ_WRITE_CREATE, RESULT_POINTER)).toBe(SQLite.SQLITE_CANTOPEN);
    expect(vfs.takeLastFailure()).toMatch(new RegExp(`^cannot open ${directory}: .*EISDIR`));
    const missing = join(directory, 'missing');
    expect(vfs.xOpen(0, putName(missing), 2, SQLite.SQLITE_OPEN_READWRITE, RESULT_POINTER)).toBe(SQLite.SQLITE_CANTOPEN);
    expect(vfs.takeLastFailure()).toMatch(/ENOENT/);
    expect(vfs.takeLastFailure()).toBeUndefined();
    expect(vfs.openFileCount).toBe(0);
    // SQLite closes a file whose open failed; that is not an error.
    expect(vfs.xClose(1)).toBe(SQLite.SQLITE_OK);
  });

  it('fails a write to a file opened read-only with SQLITE_IOERR_WRITE', async () => {
    const { vfs, directory, putName } = await setUp();
    const path = join(directory, 'read-only');
    await writeFile(path, 'kept');
    vfs.xOpen(0, putName(path), 1, SQLite.SQLITE_OPEN_READONLY, RESULT_POINTER);
    expect(vfs.xWrite(1, DATA_POINTER, 4, 0, 0)).toBe(SQLite.SQLITE_IOERR_WRITE);
    expect(vfs.takeLastFailure()).toMatch(new RegExp(`^cannot write ${path}: `));
    vfs.xClose(1);
    expect(await readFile(path, 'utf8')).toBe('kept');
  });

  it('reports a missing file to delete as SQLITE_IOERR_DELETE_NOENT, and deletes an existing one', async () => {
    const { vfs, heap, directory, putName } = await setUp();
    const path = join(directory, 'journal');
    expect(vfs.xDelete(0, putName(path), 1)).toBe(SQLite.SQLITE_IOERR_DELETE_NOENT);
    await writeFile(path, 'x');
    expect(vfs.xAccess(0, putName(path), SQLite.SQLITE_ACCESS_EXISTS, RESULT_POINTER)).toBe(SQLite.SQLITE_OK);
    expect(int32At(heap, RESULT_POINTER)).toBe(1);
    expect(vfs.xDelete(0, putName(path), 1)).toBe(SQLite.SQLITE_OK);
    vfs.xAccess(0, putName(path), SQLite.SQLITE_ACCESS_EXISTS, RESULT_POINTER);
    expect(int32At(heap, RESULT_POINTER)).toBe(0);
  });

  it('keeps a temporary file out of the directory, open or closed', async () => {
    const { vfs, heap, directory } = await setUp();
    const flags = READ_WRITE_CREATE | SQLite.SQLITE_OPEN_DELETEONCLOSE | SQLite.SQLITE_OPEN_TEMP_JOURNAL;
    expect(vfs.xOpen(0, 0, 1, flags, RESULT_POINTER)).toBe(SQLite.SQLITE_OK);
    heap.set([7, 7], DATA_POINTER);
    expect(vfs.xWrite(1, DATA_POINTER, 2, 0, 0)).toBe(SQLite.SQLITE_OK);
    expect(await readdir(directory)).toEqual([]);
    expect(vfs.xClose(1)).toBe(SQLite.SQLITE_OK);
    expect(await readdir(directory)).toEqual([]);
  });

  it(`holds at most ${SQLITE_VFS_OPEN_FILES_MAX} files open`, async () => {
    const { vfs, directory, putName } = await setUp();
    for (let fileId = 1; fileId <= SQLITE_VFS_OPEN_FILES_MAX; fileId++) {
      expect(vfs.xOpen(0, putName(join(directory, `file-${fileId}`)), fileId, READ_WRITE_CREATE, RESULT_POINTER)).toBe(SQLite.SQLITE_OK);
    }
    expect(vfs.xOpen(0, putName(join(directory, 'one-more')), 1_000, READ_WRITE_CREATE, RESULT_POINTER)).toBe(SQLite.SQLITE_CANTOPEN);
    expect(vfs.takeLastFailure()).toMatch(`more than ${SQLITE_VFS_OPEN_FILES_MAX} files`);
    vfs.close();
    expect(vfs.openFileCount).toBe(0);
  });

  it('resolves a relative name, and refuses one that does not fit the buffer', async () => {
    const { vfs, heap, putName } = await setUp();
    expect(vfs.xFullPathname(0, putName('records.sqlite'), 1_000, DATA_POINTER)).toBe(SQLite.SQLITE_OK);
    const written = new TextDecoder().decode(heap.subarray(DATA_POINTER, heap.indexOf(0, DATA_POINTER)));
    expect(written).toBe(join(process.cwd(), 'records.sqlite'));
    const SQLITE_CANTOPEN_FULLPATH = SQLite.SQLITE_CANTOPEN | (3 << 8);
    expect(vfs.xFullPathname(0, putName('records.sqlite'), 8, DATA_POINTER)).toBe(SQLITE_CANTOPEN_FULLPATH);
  });

  it('reports a reserved lock only while its own connection holds one', async () => {
    const { vfs, heap, directory, putName } = await setUp();
    vfs.xOpen(0, putName(join(directory, 'locked')), 1, READ_WRITE_CREATE, RESULT_POINTER);
    vfs.xLock(1, SQLite.SQLITE_LOCK_SHARED);
    vfs.xCheckReservedLock(1, RESULT_POINTER);
    expect(int32At(heap, RESULT_POINTER)).toBe(0);
    vfs.xLock(1, SQLite.SQLITE_LOCK_RESERVED);
    vfs.xCheckReservedLock(1, RESULT_POINTER);
    expect(int32At(heap, RESULT_POINTER)).toBe(1);
    vfs.xUnlock(1, SQLite.SQLITE_LOCK_SHARED);
    vfs.xCheckReservedLock(1, RESULT_POINTER);
    expect(int32At(heap, RESULT_POINTER)).toBe(0);
    vfs.xClose(1);
  });
});
