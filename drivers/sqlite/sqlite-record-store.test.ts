import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordStore } from '../../kernel/contracts/record-store.ts';
import { createMemoryRecordStore } from '../memory/record-store.ts';

/**
 * What the SQLite driver promises beyond the RecordStore conformance suite: SQLite's own value
 * rules, its parameter checks, multi-statement scripts, savepoints, streaming, foreign keys.
 */

let store: RecordStore;

beforeEach(async () => {
  store = await createMemoryRecordStore();
  await store.db.schema
    .createTable('items')
    .addColumn('id', 'integer', (column) => column.primaryKey())
    .addColumn('label', 'text')
    .execute();
});

afterEach(async () => {
  await store.close();
});

describe('SQLite values', () => {
  it('keeps NUL characters inside text', async () => {
    const label = 'before\u0000after\u0000';
    await store.db.insertInto('items').values({ id: 1, label }).execute();
    const row = await store.db.selectFrom('items').select('label').executeTakeFirstOrThrow();
    expect(row.label).toBe(label);
  });

  it('binds safe integers as SQL integers and booleans as 1 and 0', async () => {
    const result = await sql<{ large: string; small: string; truth: number; falsehood: number }>`
      select typeof(${Number.MAX_SAFE_INTEGER}) as large, typeof(${7}) as small,
             ${true} as truth, ${false} as falsehood`.execute(store.db);
    expect(result.rows).toEqual([{ large: 'integer', small: 'integer', truth: 1, falsehood: 0 }]);
  });

  it('rejects parameters it cannot store with EINVAL', async () => {
    const insert = (label: unknown) => store.db.insertInto('items').values({ id: 1, label }).execute();
    await expect(insert(new Date(0))).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(insert({ nested: true })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(insert(2n ** 63n)).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await store.db.selectFrom('items').selectAll().execute()).toEqual([]);
  });

  it('reports a 64-bit insertId', async () => {
    const rowid = 2 ** 40 + 5;
    const result = await store.db.insertInto('items').values({ id: rowid }).executeTakeFirstOrThrow();
    expect(result.insertId).toBe(BigInt(rowid));
  });
});

describe('SQLite statements', () => {
  it('rejects a parameter count that does not match the SQL with EINVAL', async () => {
    const tooFew = sql`select ${sql.raw('?')} as value`.execute(store.db);
    await expect(tooFew).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('runs a script of several statements in order and returns the last one result', async () => {
    const script = sql`insert into items (id, label) values (${1}, ${'one'});
      insert into items (id, label) values (${2}, ${'two'});
      select label from items order by id`;
    const result = await script.execute(store.db);
    expect(result.rows).toEqual([{ label: 'one' }, { label: 'two' }]);
  });

  it('streams rows in chunks', async () => {
    await store.db
      .insertInto('items')
      .values(Array.from({ length: 7 }, (_, index) => ({ id: index + 1 })))
      .execute();
    const ids: number[] = [];
    for await (const row of store.db.selectFrom('items').select('id').orderBy('id').stream(3)) {
      ids.push(row.id as number);
    }
    expect(ids).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('enforces foreign keys, as Postgres does', async () => {
    await store.db.schema
      .createTable('tags')
      .addColumn('item_id', 'integer', (column) => column.references('items.id'))
      .execute();
    await expect(store.db.insertInto('tags').values({ item_id: 99 }).execute()).rejects.toThrow(/FOREIGN KEY/);
  });
});

describe('SQLite transactions', () => {
  it('rolls back to a savepoint', async () => {
    const transaction = await store.db.startTransaction().execute();
    await transaction.insertInto('items').values({ id: 1 }).execute();
    const savepoint = await transaction.savepoint('before_second').execute();
    await savepoint.insertInto('items').values({ id: 2 }).execute();
    await savepoint.rollbackToSavepoint('before_second').execute();
    await transaction.commit().execute();
    expect(await store.db.selectFrom('items').select('id').execute()).toEqual([{ id: 1 }]);
  });

  it('rethrows the callback error when the transaction already ended', async () => {
    const failure = new Error('thrown after the transaction ended');
    const attempt = store.db.transaction().execute(async (transaction) => {
      await transaction.insertInto('items').values({ id: 1 }).execute();
      // SQLite ends the transaction itself on some errors; an explicit COMMIT does the same here.
      await sql`commit`.execute(transaction);
      throw failure;
    });
    await expect(attempt).rejects.toBe(failure);
  });

  it('runs calls that were waiting for the connection before close, and refuses later ones', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const transaction = store.db.transaction().execute(async () => {
      entered();
      await released;
    });
    await inside;
    const waiting = store.db.insertInto('items').values({ id: 1 }).execute();
    const closing = store.close();
    const late = store.db.insertInto('items').values({ id: 2 }).execute();
    release();
    await transaction;
    await expect(waiting).resolves.toBeDefined();
    await expect(late).rejects.toMatchObject({ code: 'ECLOSED' });
    await closing;
  });

  it('gives each store its own database', async () => {
    const other = await createMemoryRecordStore();
    try {
      expect(await other.db.introspection.getTables()).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
