/**
 * The process that file-record-store.node.test.ts kills. Run with a database path and a row count
 * as its arguments (by `node --import tsx` or `deno run -A`), it:
 *
 * 1. opens the store, creates `items` and commits that many rows, then prints `committed`;
 * 2. begins a transaction, with a page cache of a few pages, that rewrites every committed row
 *    with a longer label and inserts UNCOMMITTED_ROWS more: SQLite must spill changed pages,
 *    new versions of committed ones among them, to the write-ahead log while the transaction is
 *    still open. It prints `in-transaction` and waits, never committing.
 *
 * The test kills it with SIGKILL at that point: the log then holds the committed transactions and
 * the uncommitted pages after them, the state a crash mid-transaction leaves.
 */
import process from 'node:process';
import { sql } from 'kysely';
import { openSqliteFileRecordStore } from './file-record-store.ts';

/** Enough rows of 500 bytes to fill many more pages than CACHE_PAGES. */
const UNCOMMITTED_ROWS = 2_000;
/** Pages SQLite may cache before it must write changed pages to the file. */
const CACHE_PAGES = 8;

async function main(path: string, committedRows: number): Promise<void> {
  const store = await openSqliteFileRecordStore({ path });
  await store.db.schema
    .createTable('items')
    .addColumn('id', 'integer', (column) => column.primaryKey())
    .addColumn('label', 'text', (column) => column.notNull())
    .execute();
  await store.db.transaction().execute(async (transaction) => {
    for (let id = 1; id <= committedRows; id++) {
      await transaction.insertInto('items').values({ id, label: `committed ${id}` }).execute();
    }
  });
  process.stdout.write('committed\n');
  await sql.raw(`pragma cache_size = ${CACHE_PAGES}`).execute(store.db);
  await store.db.transaction().execute(async (transaction) => {
    await transaction.updateTable('items').set({ label: sql`'uncommitted ' || id || ${'.'.repeat(200)}` }).execute();
    for (let id = committedRows + 1; id <= committedRows + UNCOMMITTED_ROWS; id++) {
      await transaction.insertInto('items').values({ id, label: `uncommitted ${id} `.padEnd(500, '.') }).execute();
    }
    process.stdout.write('in-transaction\n');
    // Hold the transaction open until the process is killed.
    await new Promise<void>(() => setInterval(() => {}, 1_000));
  });
}

const [path, committedRowsText] = process.argv.slice(2);
const committedRows = Number(committedRowsText);
if (path === undefined || !Number.isSafeInteger(committedRows) || committedRows < 1) {
  process.stderr.write('usage: file-record-store.crash-child.ts <database path> <committed rows>\n');
  process.exit(2);
}
main(path, committedRows).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
