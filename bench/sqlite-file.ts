/**
 * `npm run bench:sqlite -- [--rows N]`: the file-backed SQLite RecordStore (wa-sqlite over the
 * node:fs VFS, write-ahead log in exclusive mode, synchronous FULL) beside the same store in
 * memory, through Kysely as services use it.
 *
 * Workloads on a table of (integer id, text name, 150-byte blob): a bulk load of N rows in one
 * transaction, 1,000 single-row durable commits, 100 transactions of 1,000 inserts, N random point
 * reads by id, and opening the file of N rows, reading one row and closing it (closing
 * checkpoints the log). One 4 KiB write plus fdatasync on the same disk is measured as the floor a
 * durable commit cannot beat (a commit here appends to the log and syncs it once).
 *
 * It prints one table, time per operation. Data lives in a temporary directory, removed at the
 * end. Benchmarks are not tests: nothing here asserts on time.
 */
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { RecordStore } from '../kernel/contracts/record-store.ts';
import { SeededRandom } from '../kernel/raft/random.ts';
import { createMemoryRecordStore } from '../drivers/memory/record-store.ts';
import { openSqliteFileRecordStore } from '../drivers/sqlite/file-record-store.ts';

const ROWS_DEFAULT = 100_000;
const VALUE_BYTES = 150;
const SINGLE_COMMITS = 1_000;
const BATCH_TRANSACTIONS = 100;
const BATCH_INSERTS = 1_000;
const FLOOR_WRITE_BYTES = 4096;
const FLOOR_SYNCS = 1_000;
const DATA_SEED = 2026;

interface Measurement {
  workload: string;
  operations: number;
  file: number;
  memory: number | undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string' } }, strict: true });
  const rows = values.rows === undefined ? ROWS_DEFAULT : Number(values.rows);
  if (!Number.isSafeInteger(rows) || rows < 1) throw new Error(`--rows must be a positive integer, not ${values.rows}`);
  const directory = await mkdtemp(join(tmpdir(), 'nexusfs-bench-sqlite-'));
  try {
    const path = join(directory, 'records.sqlite');
    const file = await openSqliteFileRecordStore({ path });
    const memory = await createMemoryRecordStore();
    const measurements: Measurement[] = [];
    const both = async (workload: string, operations: number, run: (store: RecordStore) => Promise<void>): Promise<void> => {
      measurements.push({ workload, operations, file: await timed(() => run(file)), memory: await timed(() => run(memory)) });
    };
    await both('create table', 1, createTable);
    await both(`bulk load, ${rows} rows in 1 transaction`, rows, (store) => insertRows(store, 1, rows));
    await both(`${SINGLE_COMMITS} single-row commits`, SINGLE_COMMITS, async (store) => {
      for (let index = 0; index < SINGLE_COMMITS; index++) await insertRows(store, rows + 1 + index, 1);
    });
    const batchStart = rows + SINGLE_COMMITS + 1;
    await both(`${BATCH_TRANSACTIONS} transactions of ${BATCH_INSERTS} inserts`, BATCH_TRANSACTIONS * BATCH_INSERTS, async (store) => {
      for (let index = 0; index < BATCH_TRANSACTIONS; index++) await insertRows(store, batchStart + index * BATCH_INSERTS, BATCH_INSERTS);
    });
    await both(`${rows} random point reads`, rows, (store) => readRandomRows(store, rows));
    await file.close();
    await memory.close();
    measurements.push({
      workload: `open ${rows} rows, read one, close`,
      operations: 1,
      file: await timed(async () => {
        const reopened = await openSqliteFileRecordStore({ path });
        await reopened.db.selectFrom('records').select('id').where('id', '=', 1).executeTakeFirstOrThrow();
        await reopened.close();
      }),
      memory: undefined,
    });
    const floorMs = await fsyncFloor(join(directory, 'floor'));
    printTable(measurements, { floorMs, fileBytes: (await stat(path)).size });
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

async function createTable(store: RecordStore): Promise<void> {
  await store.db.schema
    .createTable('records')
    .addColumn('id', 'integer', (column) => column.primaryKey())
    .addColumn('name', 'text', (column) => column.notNull().unique())
    .addColumn('value', 'blob', (column) => column.notNull())
    .execute();
}

/** Inserts rows `first..first+count-1` in one transaction, one statement per row as services do. */
async function insertRows(store: RecordStore, first: number, count: number): Promise<void> {
  const value = new Uint8Array(VALUE_BYTES).fill(first % 251);
  await store.db.transaction().execute(async (transaction) => {
    for (let id = first; id < first + count; id++) {
      await transaction.insertInto('records').values({ id, name: `record-${id}`, value }).execute();
    }
  });
}

async function readRandomRows(store: RecordStore, rows: number): Promise<void> {
  const random = new SeededRandom(DATA_SEED);
  for (let index = 0; index < rows; index++) {
    const id = 1 + random.integerBelow(rows);
    await store.db.selectFrom('records').select(['name', 'value']).where('id', '=', id).executeTakeFirstOrThrow();
  }
}

/** One 4 KiB write and fdatasync, FLOOR_SYNCS times: milliseconds per sync. */
async function fsyncFloor(path: string): Promise<number> {
  const handle = await open(path, 'w+');
  const block = new Uint8Array(FLOOR_WRITE_BYTES).fill(1);
  try {
    const elapsedMs = await timed(async () => {
      for (let index = 0; index < FLOOR_SYNCS; index++) {
        await handle.write(block, 0, block.length, 0);
        await handle.datasync();
      }
    });
    return elapsedMs / FLOOR_SYNCS;
  } finally {
    await handle.close();
  }
}

async function timed(run: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

function printTable(measurements: readonly Measurement[], totals: { floorMs: number; fileBytes: number }): void {
  const perOperation = (ms: number, operations: number): string => {
    const microseconds = (ms * 1000) / operations;
    return microseconds >= 1000 ? `${(microseconds / 1000).toFixed(2)} ms` : `${microseconds.toFixed(1)} µs`;
  };
  const header = ['workload', 'total (file)', 'per op (file)', 'per op (memory)'];
  const lines = measurements.map(({ workload, operations, file, memory }) => [
    workload,
    `${file.toFixed(0)} ms`,
    perOperation(file, operations),
    memory === undefined ? '-' : perOperation(memory, operations),
  ]);
  lines.push(['floor: 4 KiB write + fdatasync', '-', `${totals.floorMs.toFixed(2)} ms`, '-']);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const format = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ');
  console.log(format(header));
  console.log(format(widths.map((width) => '-'.repeat(width))));
  for (const line of lines) console.log(format(line));
  console.log(`file size: ${(totals.fileBytes / 1024 / 1024).toFixed(1)} MiB`);
}

await main();
