import { CompiledQuery, Kysely } from 'kysely';
import type { RecordStore, RecordStoreMigration } from '../../kernel/contracts/record-store.ts';
import { applyMigrations } from './record-store-migrator.ts';
import { loadSqliteLibrary, type SqliteLibrary, type SqliteWasmSource } from './sqlite-library.ts';
import { WaSqliteConnection } from './wa-sqlite-connection.ts';
import { WaSqliteDialect } from './wa-sqlite-dialect.ts';
import { WaSqliteDriver } from './wa-sqlite-driver.ts';

export interface SqliteRecordStoreOptions {
  /** The SQLite WebAssembly; `loadSqliteWasm()` from `#sqlite-wasm` gets it for this runtime. */
  wasm: SqliteWasmSource;
}

/** The name SQLite gives a private database that lives in memory and dies with its handle. */
const IN_MEMORY_DATABASE = ':memory:';

/**
 * A RecordStore on SQLite compiled to WebAssembly (wa-sqlite), in this thread, in any runtime.
 * The database lives in memory: it starts empty and is gone after `close()`. Each store has its own
 * SQLite instance, so stores share nothing.
 */
export async function createSqliteRecordStore(options: SqliteRecordStoreOptions): Promise<RecordStore> {
  const library = await loadSqliteLibrary(options.wasm);
  const database = await library.api.open_v2(IN_MEMORY_DATABASE);
  await configureConnection(library, database);
  return new SqliteRecordStore(new WaSqliteDriver(library, database));
}

/**
 * What every connection of the driver needs, in memory or on a file: extended result codes, which
 * tell a duplicate key (EEXIST) from other constraint failures, and foreign keys, which Postgres
 * always enforces and SQLite only when asked, per connection.
 */
export async function configureConnection(library: SqliteLibrary, database: number): Promise<void> {
  library.module._sqlite3_extended_result_codes(database, 1);
  await new WaSqliteConnection(library, database).executeQuery(CompiledQuery.raw('pragma foreign_keys = on'));
}

/** The RecordStore over a driver: the same for a database in memory and one on a file. */
export class SqliteRecordStore implements RecordStore {
  readonly dialect = 'sqlite';
  readonly db: Kysely<any>;
  readonly #driver: WaSqliteDriver;

  constructor(driver: WaSqliteDriver) {
    this.#driver = driver;
    this.db = new Kysely<any>({ dialect: new WaSqliteDialect(driver) });
  }

  async migrate(migrations: readonly RecordStoreMigration[]): Promise<void> {
    this.#driver.throwIfClosed('migrate');
    await applyMigrations(this.db, migrations);
  }

  /** The connection already translates SQLite's errors, so `run` only has to refuse after close. */
  async run<T>(fn: (db: Kysely<any>) => Promise<T>): Promise<T> {
    this.#driver.throwIfClosed('run');
    return await fn(this.db);
  }

  close(): Promise<void> {
    return this.#driver.close();
  }
}
