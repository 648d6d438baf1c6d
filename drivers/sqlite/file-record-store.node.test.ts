import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { runRecordStoreSuite } from '../../test/conformance/record-store-suite.ts';
import { openSqliteFileRecordStore, SQLITE_FILE_LOCK_SUFFIX } from './file-record-store.ts';
import { SQLITE_FILE_PATH_BYTES_MAX } from './limits.ts';

/** Every directory a test made, removed after it. */
const directories: string[] = [];

async function freshDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'nexusfs-sqlite-file-'));
  directories.push(directory);
  return directory;
}

afterEach(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

async function createItems(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('items')
    .addColumn('id', 'integer', (column) => column.primaryKey())
    .addColumn('label', 'text')
    .execute();
}

runRecordStoreSuite('SQLite file (wa-sqlite over node:fs)', async () =>
  openSqliteFileRecordStore({ path: join(await freshDirectory(), 'records.sqlite') }),
);

describe('SQLite file store: persistence', () => {
  it('keeps committed rows, schema and migrations across close and reopen', async () => {
    const path = join(await freshDirectory(), 'records.sqlite');
    const first = await openSqliteFileRecordStore({ path });
    await first.migrate([{ name: 'items/001-create', up: createItems }]);
    await first.db.insertInto('items').values({ id: 1, label: 'kept' }).execute();
    await first.close();

    const second = await openSqliteFileRecordStore({ path });
    try {
      let ran = false;
      await second.migrate([{ name: 'items/001-create', up: async () => void (ran = true) }]);
      expect(ran).toBe(false);
      expect(await second.db.selectFrom('items').selectAll().execute()).toEqual([{ id: 1, label: 'kept' }]);
    } finally {
      await second.close();
    }
  });

  it('keeps a rolled-back transaction out of the file', async () => {
    const path = join(await freshDirectory(), 'records.sqlite');
    const first = await openSqliteFileRecordStore({ path });
    await createItems(first.db);
    const failure = new Error('abandoned');
    await expect(
      first.db.transaction().execute(async (transaction) => {
        await transaction.insertInto('items').values({ id: 1, label: 'abandoned' }).execute();
        throw failure;
      }),
    ).rejects.toBe(failure);
    await first.close();

    const second = await openSqliteFileRecordStore({ path });
    try {
      expect(await second.db.selectFrom('items').selectAll().execute()).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it('writes a file that is a SQLite database in rollback-journal mode', async () => {
    const path = join(await freshDirectory(), 'records.sqlite');
    const store = await openSqliteFileRecordStore({ path });
    await createItems(store.db);
    const { rows } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(store.db);
    await store.close();
    expect(rows).toEqual([{ journal_mode: 'truncate' }]);
    const header = (await readFile(path)).subarray(0, 16);
    expect(new TextDecoder().decode(header)).toBe('SQLite format 3\u0000');
  });
});

describe('SQLite file store: one opener at a time', () => {
  it('refuses a second open in the same process with EBUSY naming the lock file and the owner', async () => {
    const path = join(await freshDirectory(), 'records.sqlite');
    const store = await openSqliteFileRecordStore({ path });
    try {
      const second = openSqliteFileRecordStore({ path });
      await expect(second).rejects.toMatchObject({ code: 'EBUSY' });
      await expect(second).rejects.toThrow(`${path}${SQLITE_FILE_LOCK_SUFFIX}`);
      await expect(second).rejects.toThrow(`this process (pid ${process.pid})`);
    } finally {
      await store.close();
    }
  });

  it('removes its lock on close, so the file opens again', async () => {
    const path = join(await freshDirectory(), 'records.sqlite');
    const first = await openSqliteFileRecordStore({ path });
    await first.close();
    await expect(readFile(`${path}${SQLITE_FILE_LOCK_SUFFIX}`)).rejects.toMatchObject({ code: 'ENOENT' });
    const second = await openSqliteFileRecordStore({ path });
    await second.close();
  });

  it('refuses after close with ECLOSED', async () => {
    const path = join(await freshDirectory(), 'records.sqlite');
    const store = await openSqliteFileRecordStore({ path });
    await store.close();
    await expect(store.run(async (db) => db.selectFrom('sqlite_schema').selectAll().execute())).rejects.toMatchObject({
      code: 'ECLOSED',
    });
  });
});

describe('SQLite file store: bad paths', () => {
  it('refuses a directory with EISDIR', async () => {
    const directory = await freshDirectory();
    await expect(openSqliteFileRecordStore({ path: directory })).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('refuses a missing directory with ENOENT and creates nothing', async () => {
    const directory = await freshDirectory();
    const path = join(directory, 'missing', 'records.sqlite');
    const opening = openSqliteFileRecordStore({ path });
    await expect(opening).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(opening).rejects.toThrow(`its directory ${join(directory, 'missing')} does not exist`);
  });

  it('refuses a path below a file with ENOTDIR', async () => {
    const directory = await freshDirectory();
    await writeFile(join(directory, 'plain'), 'a file');
    await expect(openSqliteFileRecordStore({ path: join(directory, 'plain', 'records.sqlite') })).rejects.toMatchObject({
      code: 'ENOTDIR',
    });
  });

  it('refuses an empty path and a path too long for the VFS with EINVAL', async () => {
    await expect(openSqliteFileRecordStore({ path: '' })).rejects.toMatchObject({ code: 'EINVAL' });
    const directory = await freshDirectory();
    const longName = 'x'.repeat(SQLITE_FILE_PATH_BYTES_MAX);
    await expect(openSqliteFileRecordStore({ path: join(directory, longName) })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('refuses a file that is not a SQLite database with ECORRUPT and leaves it unchanged', async () => {
    const path = join(await freshDirectory(), 'notes.txt');
    const text = 'these are notes, not a database\n'.repeat(64);
    await writeFile(path, text);
    await expect(openSqliteFileRecordStore({ path })).rejects.toMatchObject({ code: 'ECORRUPT' });
    expect(await readFile(path, 'utf8')).toBe(text);
    await expect(readFile(`${path}${SQLITE_FILE_LOCK_SUFFIX}`)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
