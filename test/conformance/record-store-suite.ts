import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  RECORD_STORE_MIGRATIONS_TABLE,
  type RecordStore,
  type RecordStoreMigration,
} from '../../kernel/contracts/record-store.ts';
import { AlreadyExistsError, ClosedError } from '../../kernel/errors.ts';

/**
 * The RecordStore conformance suite: what every driver must do, in every runtime where it exists.
 * `factory` returns a new, empty store for each test; the suite closes it.
 *
 * Only portable behaviour is checked here (it must hold on SQLite and Postgres alike); a driver's
 * own tests cover what only it promises.
 */
export function runRecordStoreSuite(name: string, factory: () => Promise<RecordStore>): void {
  describe(`RecordStore conformance: ${name}`, () => {
    const context = { store: undefined as unknown as RecordStore };

    beforeEach(async () => {
      context.store = await factory();
    });

    afterEach(async () => {
      await context.store.close();
    });

    describeMigrations(context);
    describeQueries(context);
    describeValues(context);
    describeTransactions(context);
    describeErrors(context);
  });
}

interface SuiteContext {
  store: RecordStore;
}

/** The column type for bytes: SQLite calls it blob, Postgres bytea. */
function bytesType(store: RecordStore): 'blob' | 'bytea' {
  return store.dialect === 'sqlite' ? 'blob' : 'bytea';
}

async function createPeopleTable(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('people')
    .addColumn('id', 'integer', (column) => column.primaryKey())
    .addColumn('email', 'text', (column) => column.notNull().unique())
    .addColumn('name', 'text')
    .addColumn('age', 'integer')
    .execute();
}

async function tableNames(store: RecordStore): Promise<string[]> {
  const tables = await store.db.introspection.getTables();
  return tables.map((table) => table.name).sort();
}

async function appliedMigrationNames(store: RecordStore): Promise<string[]> {
  const rows = await store.db.selectFrom(RECORD_STORE_MIGRATIONS_TABLE).select('name').orderBy('sequence').execute();
  return rows.map((row) => row.name as string);
}

/** A migration that logs its name to `log` when it runs, then does `up`. */
function loggedMigration(name: string, log: string[], up: (db: Kysely<any>) => Promise<void> = async () => {}): RecordStoreMigration {
  return {
    name,
    async up(db) {
      log.push(name);
      await up(db);
    },
  };
}

function describeMigrations(context: SuiteContext): void {
  describe('migrate', () => {
    it('applies migrations once, in the order given, and records them', async () => {
      const { store } = context;
      const log: string[] = [];
      const migrations = [
        loggedMigration('suite/002-create', log, createPeopleTable),
        // Depends on the one before: fails unless the order given is kept.
        loggedMigration('suite/001-seed', log, async (db) => {
          await db.insertInto('people').values({ id: 1, email: 'ada@example.com' }).execute();
        }),
      ];
      await store.migrate(migrations);
      expect(log).toEqual(['suite/002-create', 'suite/001-seed']);
      expect(await appliedMigrationNames(store)).toEqual(['suite/002-create', 'suite/001-seed']);

      await store.migrate(migrations);
      expect(log).toEqual(['suite/002-create', 'suite/001-seed']);
      expect(await store.db.selectFrom('people').select('id').execute()).toEqual([{ id: 1 }]);
    });

    it('applies only the migrations a later call adds', async () => {
      const { store } = context;
      const log: string[] = [];
      const first = loggedMigration('suite/001-create', log, createPeopleTable);
      const second = loggedMigration('suite/002-index', log, async (db) => {
        await db.schema.createIndex('people_by_name').on('people').column('name').execute();
      });
      await store.migrate([first]);
      await store.migrate([first, second]);
      expect(log).toEqual(['suite/001-create', 'suite/002-index']);
      expect(await appliedMigrationNames(store)).toEqual(['suite/001-create', 'suite/002-index']);
    });

    it('rolls a failing migration back, rethrows its error and applies none after it', async () => {
      const { store } = context;
      const log: string[] = [];
      const failure = new Error('the migration failed on purpose');
      const first = loggedMigration('suite/001-create', log, createPeopleTable);
      const failing = loggedMigration('suite/002-half', log, async (db) => {
        await db.schema.createTable('half').addColumn('id', 'integer').execute();
        await db.insertInto('people').values({ id: 7, email: 'half@example.com' }).execute();
        throw failure;
      });
      const third = loggedMigration('suite/003-after', log);

      await expect(store.migrate([first, failing, third])).rejects.toBe(failure);
      expect(log).toEqual(['suite/001-create', 'suite/002-half']);
      expect(await tableNames(store)).not.toContain('half');
      expect(await store.db.selectFrom('people').selectAll().execute()).toEqual([]);
      expect(await appliedMigrationNames(store)).toEqual(['suite/001-create']);

      const fixed = loggedMigration('suite/002-half', log);
      await store.migrate([first, fixed, third]);
      expect(await appliedMigrationNames(store)).toEqual(['suite/001-create', 'suite/002-half', 'suite/003-after']);
    });

    it('rejects an empty or repeated migration name with EINVAL and applies nothing', async () => {
      const { store } = context;
      const log: string[] = [];
      await expect(store.migrate([loggedMigration('', log)])).rejects.toMatchObject({ code: 'EINVAL' });
      const repeated = [loggedMigration('suite/same', log), loggedMigration('suite/same', log)];
      await expect(store.migrate(repeated)).rejects.toMatchObject({ code: 'EINVAL' });
      expect(log).toEqual([]);
    });
  });
}

function describeQueries(context: SuiteContext): void {
  describe('queries', () => {
    beforeEach(async () => {
      await createPeopleTable(context.store.db);
    });

    it('inserts, selects, updates and deletes with bound parameters', async () => {
      const { db } = context.store;
      await db
        .insertInto('people')
        .values([
          { id: 1, email: 'ada@example.com', name: 'Ada', age: 36 },
          { id: 2, email: 'alan@example.com', name: 'Alan', age: 41 },
        ])
        .execute();
      expect(await db.selectFrom('people').select(['name', 'age']).where('id', '=', 2).executeTakeFirst()).toEqual({
        name: 'Alan',
        age: 41,
      });

      const updated = await db.updateTable('people').set({ age: 37 }).where('email', '=', 'ada@example.com').executeTakeFirst();
      expect(updated.numUpdatedRows).toBe(1n);
      expect(await db.selectFrom('people').select('age').where('id', '=', 1).executeTakeFirst()).toEqual({ age: 37 });

      const deleted = await db.deleteFrom('people').where('age', '>', 40).executeTakeFirst();
      expect(deleted.numDeletedRows).toBe(1n);
      expect(await db.selectFrom('people').select('id').execute()).toEqual([{ id: 1 }]);
    });

    it('never interpolates a parameter into the SQL', async () => {
      const { db } = context.store;
      await db.insertInto('people').values({ id: 1, email: 'ada@example.com' }).execute();
      const injection = "' or '1'='1";
      expect(await db.selectFrom('people').selectAll().where('email', '=', injection).execute()).toEqual([]);
      await db.insertInto('people').values({ id: 2, email: "x'); drop table people; --" }).execute();
      expect(await db.selectFrom('people').select('email').where('id', '=', 2).executeTakeFirst()).toEqual({
        email: "x'); drop table people; --",
      });
    });

    it('orders, limits and offsets', async () => {
      const { db } = context.store;
      const ages = [30, 10, 50, 20, 40];
      await db
        .insertInto('people')
        .values(ages.map((age, index) => ({ id: index + 1, email: `p${index}@example.com`, age })))
        .execute();
      const ascending = await db.selectFrom('people').select('age').orderBy('age').execute();
      expect(ascending.map((row) => row.age)).toEqual([10, 20, 30, 40, 50]);
      const page = await db.selectFrom('people').select('age').orderBy('age', 'desc').limit(2).offset(1).execute();
      expect(page.map((row) => row.age)).toEqual([40, 30]);
      const byTwoKeys = await db.selectFrom('people').select('id').orderBy('age', 'asc').orderBy('id', 'desc').execute();
      expect(byTwoKeys.map((row) => row.id)).toEqual([2, 4, 1, 5, 3]);
    });

    it('returns the rows a write names in `returning`', async () => {
      const { db } = context.store;
      const inserted = await db
        .insertInto('people')
        .values({ id: 5, email: 'grace@example.com', name: 'Grace' })
        .returning(['id', 'name'])
        .executeTakeFirstOrThrow();
      expect(inserted).toEqual({ id: 5, name: 'Grace' });
    });

    it('runs raw SQL with bound parameters', async () => {
      const { db } = context.store;
      await db.insertInto('people').values({ id: 1, email: 'ada@example.com', age: 36 }).execute();
      const result = await sql<{ email: string }>`select email from people where age = ${36}`.execute(db);
      expect(result.rows).toEqual([{ email: 'ada@example.com' }]);
    });
  });
}

const TEXT_SAMPLES = [
  '',
  "it's \"quoted\" \\ back\\slash; -- not a comment",
  "'); drop table samples; --",
  '日本語 · Ελληνικά · emoji 🎉👩‍💻 · combining é',
  'line one\nline two\ttabbed\r\n',
  'x'.repeat(100_000),
];

const INTEGER_SAMPLES = [0, 1, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];

const REAL_SAMPLES = [0.5, -1.25, 1e-300, 123456.789];

const BYTES_SAMPLES = [
  new Uint8Array([]),
  new Uint8Array([0]),
  new Uint8Array([0, 0, 0]),
  Uint8Array.from({ length: 256 }, (_, index) => index),
];

async function createSamplesTable(store: RecordStore): Promise<void> {
  await store.db.schema
    .createTable('samples')
    .addColumn('id', 'integer', (column) => column.primaryKey())
    .addColumn('text_value', 'text')
    .addColumn('integer_value', 'bigint')
    .addColumn('real_value', 'double precision')
    .addColumn('bytes_value', bytesType(store))
    .execute();
}

function describeValues(context: SuiteContext): void {
  describe('values', () => {
    beforeEach(async () => {
      await createSamplesTable(context.store);
    });

    it('round-trips text exactly', async () => {
      const { db } = context.store;
      await db.insertInto('samples').values(TEXT_SAMPLES.map((text, id) => ({ id, text_value: text }))).execute();
      const rows = await db.selectFrom('samples').select('text_value').orderBy('id').execute();
      expect(rows.map((row) => row.text_value)).toEqual(TEXT_SAMPLES);
      // A parameter finds its row again: the comparison sees the same string.
      for (const text of TEXT_SAMPLES) {
        const found = await db.selectFrom('samples').select('id').where('text_value', '=', text).execute();
        expect(found).toEqual([{ id: TEXT_SAMPLES.indexOf(text) }]);
      }
    });

    it('round-trips integers up to 2^53 - 1 as numbers, and reals', async () => {
      const { db } = context.store;
      await db.insertInto('samples').values(INTEGER_SAMPLES.map((value, id) => ({ id, integer_value: value }))).execute();
      const integers = await db.selectFrom('samples').select('integer_value').orderBy('id').execute();
      expect(integers.map((row) => row.integer_value)).toEqual(INTEGER_SAMPLES);
      expect(integers.every((row) => typeof row.integer_value === 'number')).toBe(true);

      await db.deleteFrom('samples').execute();
      await db.insertInto('samples').values(REAL_SAMPLES.map((value, id) => ({ id, real_value: value }))).execute();
      const reals = await db.selectFrom('samples').select('real_value').orderBy('id').execute();
      expect(reals.map((row) => row.real_value)).toEqual(REAL_SAMPLES);
    });

    it('returns integers beyond 2^53 - 1 as bigints', async () => {
      const { db } = context.store;
      const large = 2n ** 62n + 3n;
      await db.insertInto('samples').values({ id: 1, integer_value: large }).execute();
      const row = await db.selectFrom('samples').select('integer_value').executeTakeFirstOrThrow();
      expect(row.integer_value).toBe(large);
    });

    it('keeps null apart from the empty string, zero and the empty blob', async () => {
      const { store } = context;
      await store.db
        .insertInto('samples')
        .values([
          { id: 1, text_value: null, integer_value: null, real_value: null, bytes_value: null },
          { id: 2, text_value: '', integer_value: 0, real_value: 0, bytes_value: new Uint8Array([]) },
        ])
        .execute();
      const rows = await store.db.selectFrom('samples').selectAll().orderBy('id').execute();
      expect(rows[0]).toEqual({ id: 1, text_value: null, integer_value: null, real_value: null, bytes_value: null });
      expect(rows[1]).toEqual({ id: 2, text_value: '', integer_value: 0, real_value: 0, bytes_value: new Uint8Array([]) });
      const nulls = await store.db.selectFrom('samples').select('id').where('text_value', 'is', null).execute();
      expect(nulls).toEqual([{ id: 1 }]);
    });

    it('round-trips bytes exactly, as Uint8Arrays the caller owns', async () => {
      const { db } = context.store;
      const parameter = Uint8Array.from(BYTES_SAMPLES[3]!);
      await db.insertInto('samples').values(BYTES_SAMPLES.map((bytes, id) => ({ id, bytes_value: bytes }))).execute();
      await db.insertInto('samples').values({ id: 10, bytes_value: parameter }).execute();
      parameter.fill(0xff); // The store copied the parameter: this changes nothing stored.

      const rows = await db.selectFrom('samples').select(['id', 'bytes_value']).orderBy('id').execute();
      for (const row of rows) expect(row.bytes_value).toBeInstanceOf(Uint8Array);
      expect(rows.map((row) => row.bytes_value)).toEqual([...BYTES_SAMPLES, BYTES_SAMPLES[3]]);

      (rows[3]!.bytes_value as Uint8Array).fill(0xee); // The caller owns what it got back.
      const again = await db.selectFrom('samples').select('bytes_value').where('id', '=', 3).executeTakeFirstOrThrow();
      expect(again.bytes_value).toEqual(BYTES_SAMPLES[3]);
    });
  });
}

function describeTransactions(context: SuiteContext): void {
  describe('transactions', () => {
    beforeEach(async () => {
      await createPeopleTable(context.store.db);
    });

    it('commits all of the callback statements together', async () => {
      const { db } = context.store;
      const result = await db.transaction().execute(async (transaction) => {
        await transaction.insertInto('people').values({ id: 1, email: 'ada@example.com' }).execute();
        await transaction.insertInto('people').values({ id: 2, email: 'alan@example.com' }).execute();
        return 'done';
      });
      expect(result).toBe('done');
      expect(await db.selectFrom('people').select('id').orderBy('id').execute()).toEqual([{ id: 1 }, { id: 2 }]);
    });

    it('rolls back when the callback throws, and rethrows the error unchanged', async () => {
      const { db } = context.store;
      await db.insertInto('people').values({ id: 1, email: 'ada@example.com' }).execute();
      const failure = new Error('the callback failed on purpose');
      const attempt = db.transaction().execute(async (transaction) => {
        await transaction.insertInto('people').values({ id: 2, email: 'alan@example.com' }).execute();
        await transaction.updateTable('people').set({ name: 'changed' }).execute();
        await transaction.deleteFrom('people').where('id', '=', 1).execute();
        throw failure;
      });
      await expect(attempt).rejects.toBe(failure);
      expect(await db.selectFrom('people').select(['id', 'name']).execute()).toEqual([{ id: 1, name: null }]);
    });

    it('keeps statements sent outside a transaction out of it', async () => {
      const { db } = context.store;
      let outside: Promise<unknown> | undefined;
      const attempt = db.transaction().execute(async (transaction) => {
        await transaction.insertInto('people').values({ id: 1, email: 'inside@example.com' }).execute();
        outside = db.insertInto('people').values({ id: 2, email: 'outside@example.com' }).execute();
        await transaction.selectFrom('people').selectAll().execute();
        throw new Error('roll the transaction back');
      });
      await expect(attempt).rejects.toThrow('roll the transaction back');
      await outside;
      expect(await db.selectFrom('people').select('email').execute()).toEqual([{ email: 'outside@example.com' }]);
    });

    it('sees its own uncommitted writes inside the transaction', async () => {
      const { db } = context.store;
      await db.transaction().execute(async (transaction) => {
        await transaction.insertInto('people').values({ id: 1, email: 'ada@example.com' }).execute();
        const seen = await transaction.selectFrom('people').select('id').execute();
        expect(seen).toEqual([{ id: 1 }]);
      });
    });
  });
}

function describeErrors(context: SuiteContext): void {
  describe('errors', () => {
    beforeEach(async () => {
      await createPeopleTable(context.store.db);
      await context.store.db.insertInto('people').values({ id: 1, email: 'ada@example.com' }).execute();
    });

    it('reports a unique violation as AlreadyExistsError (EEXIST), through db and through run', async () => {
      const { store } = context;
      const duplicate = () => store.db.insertInto('people').values({ id: 2, email: 'ada@example.com' }).execute();
      await expect(duplicate()).rejects.toBeInstanceOf(AlreadyExistsError);
      await expect(duplicate()).rejects.toMatchObject({ code: 'EEXIST' });
      await expect(store.run(() => duplicate())).rejects.toMatchObject({ code: 'EEXIST' });
      expect(await store.db.selectFrom('people').select('id').execute()).toEqual([{ id: 1 }]);
    });

    it('reports a primary-key violation as EEXIST', async () => {
      const { db } = context.store;
      const attempt = db.insertInto('people').values({ id: 1, email: 'other@example.com' }).execute();
      await expect(attempt).rejects.toMatchObject({ code: 'EEXIST' });
    });

    it('reports a violation inside a transaction as EEXIST and rolls the transaction back', async () => {
      const { store } = context;
      const attempt = store.run((db) =>
        db.transaction().execute(async (transaction) => {
          await transaction.insertInto('people').values({ id: 2, email: 'alan@example.com' }).execute();
          await transaction.insertInto('people').values({ id: 3, email: 'ada@example.com' }).execute();
        }),
      );
      await expect(attempt).rejects.toMatchObject({ code: 'EEXIST' });
      expect(await store.db.selectFrom('people').select('id').execute()).toEqual([{ id: 1 }]);
    });

    it('does not report other constraint failures as EEXIST', async () => {
      const { db } = context.store;
      const error = await db
        .insertInto('people')
        .values({ id: 2, email: null })
        .execute()
        .then(() => undefined, (failure: unknown) => failure);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(AlreadyExistsError);
    });

    it('lets the store be used for a new row after a violation', async () => {
      const { db } = context.store;
      await expect(db.insertInto('people').values({ id: 2, email: 'ada@example.com' }).execute()).rejects.toThrow();
      await db.insertInto('people').values({ id: 2, email: 'alan@example.com' }).execute();
      expect(await db.selectFrom('people').select('id').orderBy('id').execute()).toEqual([{ id: 1 }, { id: 2 }]);
    });

    it('throws ClosedError (ECLOSED) from every call after close, and closes twice quietly', async () => {
      const { store } = context;
      await store.close();
      await store.close();
      await expect(store.db.selectFrom('people').selectAll().execute()).rejects.toBeInstanceOf(ClosedError);
      await expect(store.run((db) => db.selectFrom('people').selectAll().execute())).rejects.toMatchObject({ code: 'ECLOSED' });
      await expect(store.migrate([])).rejects.toMatchObject({ code: 'ECLOSED' });
      const transaction = store.db.transaction().execute(async () => 'never');
      await expect(transaction).rejects.toMatchObject({ code: 'ECLOSED' });
    });

    it('lets a transaction that started before close finish', async () => {
      const { store } = context;
      let entered!: () => void;
      let release!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      const transaction = store.db.transaction().execute(async (trx) => {
        await trx.insertInto('people').values({ id: 2, email: 'alan@example.com' }).execute();
        entered();
        await released;
        return trx.selectFrom('people').select('id').orderBy('id').execute();
      });
      await inside;
      const closing = store.close();
      release();
      expect(await transaction).toEqual([{ id: 1 }, { id: 2 }]);
      await closing;
      await expect(store.db.selectFrom('people').selectAll().execute()).rejects.toMatchObject({ code: 'ECLOSED' });
    });
  });
}
