import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, open, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
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

  it('writes a file that is a SQLite database, in WAL mode with the log removed on close', async () => {
    const path = join(await freshDirectory(), 'records.sqlite');
    const store = await openSqliteFileRecordStore({ path });
    await createItems(store.db);
    const { rows } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(store.db);
    await store.close();
    expect(rows).toEqual([{ journal_mode: 'wal' }]);
    await expect(stat(`${path}-wal`)).rejects.toMatchObject({ code: 'ENOENT' });
    const header = (await readFile(path)).subarray(0, 16);
    expect(new TextDecoder().decode(header)).toBe('SQLite format 3\u0000');
  });
});

describe('SQLite file store: temporary files', () => {
  it('sorts more than the page cache holds (SQLite spills to temporary files) and leaves no file behind', async () => {
    const directory = await freshDirectory();
    const path = join(directory, 'records.sqlite');
    const store = await openSqliteFileRecordStore({ path });
    try {
      await createItems(store.db);
      await sql`pragma cache_size = 16`.execute(store.db);
      const rowCount = 3_000;
      // Labels in a scrambled order (7,919 is prime to 3,000), each about 1 KB: 3 MB to sort.
      const labelOf = (id: number): string => String((id * 7_919) % rowCount).padStart(6, '0').padEnd(1_000, '.');
      await store.db.transaction().execute(async (transaction) => {
        for (let id = 0; id < rowCount; id++) await transaction.insertInto('items').values({ id, label: labelOf(id) }).execute();
      });
      const rows = await sql<{ label: string }>`select label from items order by label`.execute(store.db);
      expect(rows.rows.map((row) => Number(row.label.slice(0, 6)))).toEqual(Array.from({ length: rowCount }, (_, index) => index));
    } finally {
      await store.close();
    }
    expect(await readdir(directory)).toEqual(['records.sqlite']);
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

  it('refuses a second open through a symbolic link to the database or to its directory', async () => {
    const directory = await freshDirectory();
    const path = join(directory, 'records.sqlite');
    const store = await openSqliteFileRecordStore({ path });
    try {
      await symlink(path, join(directory, 'link.sqlite'));
      await symlink(directory, join(directory, 'link-directory'));
      await expect(openSqliteFileRecordStore({ path: join(directory, 'link.sqlite') })).rejects.toMatchObject({ code: 'EBUSY' });
      await expect(openSqliteFileRecordStore({ path: join(directory, 'link-directory', 'records.sqlite') })).rejects.toMatchObject({
        code: 'EBUSY',
      });
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
    // Short enough for the VFS, but one name longer than file systems allow (255 bytes).
    await expect(openSqliteFileRecordStore({ path: join(directory, 'y'.repeat(300)) })).rejects.toMatchObject({ code: 'EINVAL' });
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

/** The script a test runs in a child process and kills (see its own comment). */
const CRASH_CHILD = fileURLToPath(new URL('./file-record-store.crash-child.ts', import.meta.url));
const REPOSITORY_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** How long a child may take to reach a point: it compiles TypeScript and SQLite first. */
const CHILD_STEP_TIMEOUT_MS = 45_000;

interface Child {
  pid: number;
  waitForLine(line: string): Promise<void>;
  kill(): Promise<void>;
}

/** Runs the crash child on `path` in this runtime: Node through tsx, Deno directly. */
function spawnCrashChild(path: string, committedRows: number): Child {
  const runtimeArguments = 'Deno' in globalThis ? ['run', '-A'] : ['--import', 'tsx'];
  const child = spawn(process.execPath, [...runtimeArguments, CRASH_CHILD, path, String(committedRows)], {
    cwd: REPOSITORY_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1' },
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  if (child.pid === undefined) throw new Error('the crash child did not start');
  return {
    pid: child.pid,
    async waitForLine(line) {
      const deadline = Date.now() + CHILD_STEP_TIMEOUT_MS;
      while (!output.split('\n').includes(line)) {
        if (hasExited || Date.now() > deadline) throw new Error(`the crash child did not print ${line}:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async kill() {
      if (!hasExited) child.kill('SIGKILL');
      await exited;
    },
  };
}

describe('SQLite file store: damaged files', () => {
  it('reports a damaged table page as ECORRUPT on the query that reads it', async () => {
    const path = join(await freshDirectory(), 'records.sqlite');
    const first = await openSqliteFileRecordStore({ path });
    await createItems(first.db);
    await first.db.insertInto('items').values({ id: 1, label: 'soon unreadable' }).execute();
    await first.close();
    // Page 1 holds the schema; the table `items` is the next page (SQLite's default page size,
    // 4,096 bytes). A page of 0xff bytes is no valid b-tree page.
    const PAGE_BYTES = 4_096;
    const handle = await open(path, 'r+');
    try {
      expect((await handle.stat()).size).toBeGreaterThanOrEqual(2 * PAGE_BYTES);
      await handle.write(new Uint8Array(PAGE_BYTES).fill(0xff), 0, PAGE_BYTES, PAGE_BYTES);
    } finally {
      await handle.close();
    }
    const second = await openSqliteFileRecordStore({ path });
    try {
      const reading = second.db.selectFrom('items').selectAll().execute();
      await expect(reading).rejects.toMatchObject({ code: 'ECORRUPT' });
      await expect(reading).rejects.toThrow(/^cannot run "select \* from .*items/);
    } finally {
      await second.close();
    }
  });
});

describe('SQLite file store: crashes and other processes', () => {
  it(
    'keeps what a killed process committed and rolls back the transaction it had open',
    async () => {
      const path = join(await freshDirectory(), 'records.sqlite');
      const committedRows = 1_000;
      const child = spawnCrashChild(path, committedRows);
      try {
        await child.waitForLine('in-transaction');
        // While the child runs, the file is its own.
        const opening = openSqliteFileRecordStore({ path });
        await expect(opening).rejects.toMatchObject({ code: 'EBUSY' });
        await expect(opening).rejects.toThrow(`in use by process ${child.pid} `);
      } finally {
        await child.kill();
      }
      // The state a crash mid-transaction leaves: a log that holds the committed transactions
      // (not yet checkpointed into the database) and, after them, uncommitted pages (the 1,000
      // short committed rows fill about 5 pages; the open transaction spilled about 1 MB).
      expect((await stat(`${path}-wal`)).size).toBeGreaterThan(256 * 1024);

      const store = await openSqliteFileRecordStore({ path });
      try {
        const rows = await store.db.selectFrom('items').select(['id', 'label']).orderBy('id').execute();
        expect(rows).toEqual(Array.from({ length: committedRows }, (_, index) => ({ id: index + 1, label: `committed ${index + 1}` })));
        const { rows: integrity } = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(store.db);
        expect(integrity).toEqual([{ integrity_check: 'ok' }]);
        const lock = JSON.parse(await readFile(`${path}${SQLITE_FILE_LOCK_SUFFIX}`, 'utf8')) as { pid: number };
        expect(lock.pid).toBe(process.pid);
      } finally {
        await store.close();
      }
    },
    CHILD_STEP_TIMEOUT_MS * 2,
  );
});

describe('SQLite file store: stale locks', () => {
  /** Writes a lock file as another opener would have, with `owner`'s fields over plausible ones. */
  async function writeLock(path: string, owner: Record<string, unknown>): Promise<void> {
    const lock = { pid: process.pid, hostname: hostname(), processStartTicks: null, token: 'f'.repeat(32), lockedAt: '2026-01-01T00:00:00.000Z' };
    await writeFile(`${path}${SQLITE_FILE_LOCK_SUFFIX}`, JSON.stringify({ ...lock, ...owner }));
  }

  /** The pid of a process that ran and exited: no process has it right now (pids are not reused at once). */
  function pidOfExitedProcess(): number {
    const { pid } = spawnSync(process.execPath, ['--version']);
    expect(pid).toBeGreaterThan(0);
    return pid;
  }

  async function expectOpensAndTakesTheLock(path: string): Promise<void> {
    const store = await openSqliteFileRecordStore({ path });
    try {
      const lock = JSON.parse(await readFile(`${path}${SQLITE_FILE_LOCK_SUFFIX}`, 'utf8')) as { pid: number; token: string };
      expect(lock.pid).toBe(process.pid);
      expect(lock.token).not.toBe('f'.repeat(32));
    } finally {
      await store.close();
    }
  }

  it('takes over the lock of a process that no longer runs', async () => {
    const path = join(await freshDirectory(), 'records.sqlite');
    await writeLock(path, { pid: pidOfExitedProcess() });
    await expectOpensAndTakesTheLock(path);
  });

  it('takes over a lock file that names no owner', async () => {
    const path = join(await freshDirectory(), 'records.sqlite');
    await writeFile(`${path}${SQLITE_FILE_LOCK_SUFFIX}`, '{"pid":');
    await expectOpensAndTakesTheLock(path);
  });

  it.runIf(process.platform === 'linux')(
    'takes over a lock of this pid from a process that started at another time (Linux: /proc start times)',
    async () => {
      const path = join(await freshDirectory(), 'records.sqlite');
      await writeLock(path, { pid: process.pid, processStartTicks: '1' });
      await expectOpensAndTakesTheLock(path);
    },
  );

  it('never takes over the lock of another host, and says how to clear it', async () => {
    const path = join(await freshDirectory(), 'records.sqlite');
    await writeLock(path, { pid: pidOfExitedProcess(), hostname: 'another-host.invalid' });
    const opening = openSqliteFileRecordStore({ path });
    await expect(opening).rejects.toMatchObject({ code: 'EBUSY' });
    await expect(opening).rejects.toThrow(/on host another-host\.invalid .*remove the lock file/);
  });
});
