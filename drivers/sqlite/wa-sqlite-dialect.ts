import {
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
} from 'kysely';
import type { WaSqliteDriver } from './wa-sqlite-driver.ts';

/**
 * Kysely's SQLite dialect with a wa-sqlite driver underneath: Kysely's own adapter, introspector
 * and query compiler, so the SQL is exactly what Kysely generates for SQLite anywhere else.
 *
 * Why not Kysely's SqliteDialect with a wrapped database: it expects a synchronous,
 * better-sqlite3-shaped API (`prepare(sql).all(parameters)`), while wa-sqlite's API returns
 * promises (a persistent database steps through an asynchronous VFS). And no Kysely dialect on
 * npm runs wa-sqlite in the caller's own thread in every runtime: the ones that exist target a
 * browser Worker, or are deprecated.
 */
export class WaSqliteDialect implements Dialect {
  readonly #driver: WaSqliteDriver;

  constructor(driver: WaSqliteDriver) {
    this.#driver = driver;
  }

  createDriver(): Driver {
    return this.#driver;
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
