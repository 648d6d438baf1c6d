import type { Kysely } from 'kysely';

/**
 * RecordStore: the relational pillar, for services (identity, ReBAC, audit), never for the file
 * kernel itself. All access goes through Kysely, the one query layer over every dialect (SQLite
 * through wa-sqlite, Postgres through pg, D1 and Durable Object SQLite), so a service written once
 * runs on every driver. Services never build SQL strings by hand: values always travel as bound
 * parameters.
 *
 * The `db` handle is owned by the store: callers must not call `db.destroy()`; they call `close()`.
 *
 * Transactions: `db.transaction().execute(fn)` is ACID on every driver: all of `fn`'s statements
 * commit together, or none do when `fn` throws (the error is rethrown unchanged). Inside `fn`, use
 * only the transaction handle it is given: on SQLite the store has one connection, which the
 * transaction holds until it ends, so a statement sent through `db` from inside `fn` waits for the
 * transaction and the two wait for each other forever.
 *
 * Ordering: on SQLite, statements run one at a time, in the order they reach the connection (first
 * come, first served); on Postgres, statements from different callers may run concurrently. On
 * every driver, only awaiting a statement before sending the next, or a transaction, orders them.
 *
 * Values, as parameters and as results, the same on every driver:
 * - integers: a JavaScript number for safe integers (|n| <= 2^53 - 1), stored exactly; a bigint
 *   parameter is accepted within the signed 64-bit range, and results beyond 2^53 - 1 come back
 *   as bigint;
 * - text: a string, any well-formed Unicode (NUL characters only on SQLite: Postgres text cannot
 *   hold them);
 * - bytes: a `Uint8Array` (a `blob` column on SQLite, `bytea` on Postgres), the empty one
 *   included. The store copies a parameter before its statement returns; a `Uint8Array` it
 *   returns belongs to the caller;
 * - null: `null` (an `undefined` parameter also binds NULL);
 * - booleans: store them as integers 0 and 1; SQLite has no boolean type and returns numbers.
 * Other parameter types (a Date, a plain object) are not portable: SQLite rejects them with
 * InvalidArgumentError, Postgres converts some of them.
 *
 * Schema: each service names its own migrations; `migrate` applies those not yet applied, in the
 * order given, each in its own transaction together with the row that records it in the table
 * `RECORD_STORE_MIGRATIONS_TABLE`, so a second call applies nothing. A migration that throws is
 * rolled back with its record, its error is rethrown unchanged, and the migrations after it in the
 * list are not applied (a later call retries it). Whether a migration applied is known by name
 * only: changing an applied migration's `up` has no effect. Foreign keys are enforced on every
 * driver.
 *
 * Errors: driver errors are translated where they have a meaning of their own, wherever the
 * statement was sent (through `db`, inside a transaction, in `run` or in a migration):
 * - AlreadyExistsError (EEXIST): a unique or primary-key violation;
 * - ClosedError (ECLOSED): `run`, `migrate` or a statement started after `close()` was called;
 * - InvalidArgumentError (EINVAL): a bad migration list (see the limits below); on SQLite also a
 *   parameter it cannot hold, a parameter count that does not match the SQL, or a result larger
 *   than the driver's row bound;
 * - BusyError (EBUSY): more calls wait for the connection than the driver queues.
 * Other database errors (syntax, NOT NULL, CHECK, foreign keys) pass through with their driver's
 * message.
 *
 * `close()` lets calls that started before it finish, then releases the database; calling it again
 * returns the same promise.
 */
export interface RecordStore {
  readonly db: Kysely<any>;
  /** The SQL dialect family, for the rare migration that differs between them. */
  readonly dialect: 'sqlite' | 'postgres';
  migrate(migrations: readonly RecordStoreMigration[]): Promise<void>;
  /**
   * Runs `fn` with `db` and returns its result, with errors translated as above. Drivers translate
   * at the connection already; `run` is the one place where every driver guarantees it.
   */
  run<T>(fn: (db: Kysely<any>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface RecordStoreMigration {
  /**
   * Unique across every service, e.g. `keys/001-create`: 1..`RECORD_STORE_MIGRATION_NAME_LENGTH_MAX`
   * characters, and unique within one `migrate` call.
   */
  name: string;
  /** Changes the schema through the transaction handle it is given, never through `db`. */
  up(db: Kysely<any>): Promise<void>;
}

/** The table in which every RecordStore records its applied migrations; no service may use it. */
export const RECORD_STORE_MIGRATIONS_TABLE = 'nexus_migrations';

/** The longest migration name, in UTF-16 code units. */
export const RECORD_STORE_MIGRATION_NAME_LENGTH_MAX = 200;

/** The most migrations one `migrate` call takes. */
export const RECORD_STORE_MIGRATIONS_PER_CALL_MAX = 10_000;
