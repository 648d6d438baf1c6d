import { CompiledQuery, createQueryId, sql, type DatabaseConnection, type Driver, type QueryCompiler } from 'kysely';
import { assert } from '../../kernel/assert.ts';
import { ClosedError } from '../../kernel/errors.ts';
import { ConnectionMutex } from './connection-mutex.ts';
import { SQLITE_CONNECTION_WAITERS_MAX } from './limits.ts';
import type { SqliteLibrary } from './sqlite-library.ts';
import { type FileFailureSource, WaSqliteConnection } from './wa-sqlite-connection.ts';

/**
 * Kysely's Driver over one open wa-sqlite database. SQLite has one connection per database
 * handle, so every caller (a single query, or a whole transaction from BEGIN to COMMIT) takes the
 * connection exclusively, first come first served.
 *
 * Closing: `close()` lets the calls that were already waiting finish, then closes the database.
 * Every call that starts after `close()` was called fails with ClosedError (ECLOSED). A second
 * `close()` returns the first one's promise.
 */
export class WaSqliteDriver implements Driver {
  readonly #library: SqliteLibrary;
  readonly #database: number;
  readonly #connection: WaSqliteConnection;
  readonly #mutex = new ConnectionMutex(SQLITE_CONNECTION_WAITERS_MAX);
  readonly #afterClose: () => void;
  #closeRequested = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * `database` is an open handle from `library`; the driver owns it from now on. For a database
   * on a file: `afterClose` runs once the database is closed (or failed to close), to release
   * what it used beside its handle (the VFS's files, the lock), and `fileFailures` describes
   * failed file operations in error messages.
   */
  constructor(
    library: SqliteLibrary,
    database: number,
    options: { afterClose?: () => void; fileFailures?: FileFailureSource } = {},
  ) {
    this.#library = library;
    this.#database = database;
    this.#connection = new WaSqliteConnection(library, database, options.fileFailures);
    this.#afterClose = options.afterClose ?? (() => {});
  }

  /** Nothing to do: the database is opened before the driver exists, so opening fails early. */
  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    this.throwIfClosed('run a query');
    await this.#mutex.lock();
    // close() queues behind every caller that was already waiting, so none of them sees it closed.
    assert(!this.#closed, 'a caller acquired the SQLite connection after the database was closed');
    return this.#connection;
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  /** SQLite transactions are serializable; Kysely's isolation and access settings have no effect. */
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  /**
   * Some errors (a full disk, out of memory) make SQLite roll the transaction back by itself; a
   * second ROLLBACK would then fail and hide the error that caused it, so it is skipped.
   */
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const inTransaction = this.#library.api.get_autocommit(this.#database) === 0;
    if (inTransaction) await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    await connection.executeQuery(compileQuery(sql`savepoint ${sql.id(name)}`.toOperationNode(), createQueryId()));
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await connection.executeQuery(compileQuery(sql`rollback to ${sql.id(name)}`.toOperationNode(), createQueryId()));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    await connection.executeQuery(compileQuery(sql`release ${sql.id(name)}`.toOperationNode(), createQueryId()));
  }

  /** Kysely's `db.destroy()`; the RecordStore's `close()` calls `close()` directly. */
  async destroy(): Promise<void> {
    await this.close();
  }

  close(): Promise<void> {
    this.#closeRequested = true;
    this.#closing ??= this.#closeDatabase();
    return this.#closing;
  }

  /** Throws ClosedError once `close()` has been called; `operation` completes "cannot …". */
  throwIfClosed(operation: string): void {
    if (this.#closeRequested) throw new ClosedError(`cannot ${operation}: the SQLite database is closed`);
  }

  async #closeDatabase(): Promise<void> {
    await this.#mutex.lock();
    try {
      await this.#library.api.close(this.#database);
    } finally {
      // Even when sqlite3_close fails the handle must not be used again.
      this.#closed = true;
      try {
        this.#afterClose();
      } finally {
        this.#mutex.unlock();
      }
    }
  }
}
