import type { Kysely } from 'kysely';

/**
 * RecordStore: the relational pillar, for services (identity, ReBAC, audit), never for the file
 * kernel itself. All access goes through Kysely, the one query layer over every dialect (SQLite
 * through wa-sqlite, Postgres through pg, D1 and Durable Object SQLite), so a service written once
 * runs on every driver. Services never build SQL strings by hand.
 *
 * The `db` handle is owned by the store: callers must not call `db.destroy()`; they call `close()`.
 *
 * Transactions: `db.transaction().execute(fn)` is ACID on every driver: all of `fn`'s statements
 * commit together, or none do when `fn` throws (the error is rethrown unchanged).
 *
 * Schema: each service names its own migrations; `migrate` applies those not yet applied, in the
 * order given, each in its own transaction, and records them so a second call applies nothing.
 *
 * Errors: driver errors are translated where they have a meaning of their own: a unique or
 * primary-key violation is AlreadyExistsError (EEXIST); after `close()` calls throw ClosedError
 * (ECLOSED). Other database errors pass through with their driver's message.
 */
export interface RecordStore {
  readonly db: Kysely<any>;
  /** The SQL dialect family, for the rare migration that differs between them. */
  readonly dialect: 'sqlite' | 'postgres';
  migrate(migrations: readonly RecordStoreMigration[]): Promise<void>;
  /** Runs `fn`, translating driver errors into NexusError where they have a stable code. */
  run<T>(fn: (db: Kysely<any>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface RecordStoreMigration {
  /** Unique across every service, e.g. `keys/001-create`. */
  name: string;
  up(db: Kysely<any>): Promise<void>;
}
