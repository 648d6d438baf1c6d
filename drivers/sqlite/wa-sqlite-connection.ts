import * as SQLite from '@journeyapps/wa-sqlite';
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';
import { assert } from '../../kernel/assert.ts';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import { SQLITE_QUERY_ROWS_MAX, SQLITE_STATEMENTS_PER_QUERY_MAX, SQLITE_STREAM_CHUNK_ROWS_DEFAULT } from './limits.ts';
import { quoteSql, translateSqliteError } from './sqlite-errors.ts';
import type { SqliteLibrary } from './sqlite-library.ts';
import { bindParameters, readRow } from './sqlite-values.ts';

type Row = Record<string, unknown>;

/**
 * Where a failed file operation is described: the VFS of a file-backed database. SQLite only
 * learns a result code from it; this says which file failed and why.
 */
export interface FileFailureSource {
  /** The description of the last failure since the previous call, or undefined; clears it. */
  takeLastFailure(): string | undefined;
}

/**
 * The one connection to a wa-sqlite database, as Kysely sees it. It runs each compiled query with
 * its parameters bound (never interpolated into the SQL). It does not serialize callers itself:
 * WaSqliteDriver hands it to one caller at a time.
 *
 * A compiled query may hold several statements separated by `;` (a raw migration script, say):
 * they run in order, consume the parameters in order, and the result is the last statement's.
 */
export class WaSqliteConnection implements DatabaseConnection {
  readonly #library: SqliteLibrary;
  readonly #database: number;
  readonly #fileFailures: FileFailureSource | undefined;

  constructor(library: SqliteLibrary, database: number, fileFailures?: FileFailureSource) {
    this.#library = library;
    this.#database = database;
    this.#fileFailures = fileFailures;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    // A failure left from an earlier query (one SQLite recovered from) is not this query's.
    this.#fileFailures?.takeLastFailure();
    try {
      let result: QueryResult<Row> = { rows: [] };
      for await (const statement of this.#boundStatements(compiledQuery)) {
        result = await this.#runStatement(statement, compiledQuery.sql);
      }
      return result as QueryResult<R>;
    } catch (error) {
      throw translateSqliteError(error, compiledQuery.sql, this.#fileFailures?.takeLastFailure());
    }
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery, chunkSizeRows = SQLITE_STREAM_CHUNK_ROWS_DEFAULT): AsyncIterableIterator<QueryResult<R>> {
    assert(Number.isSafeInteger(chunkSizeRows) && chunkSizeRows > 0, 'chunkSizeRows must be a positive integer');
    const { api } = this.#library;
    this.#fileFailures?.takeLastFailure();
    try {
      for await (const statement of this.#boundStatements(compiledQuery)) {
        const columnNames = api.column_names(statement);
        let rows: Row[] = [];
        while ((await api.step(statement)) === SQLite.SQLITE_ROW) {
          rows.push(readRow(this.#library, statement, columnNames));
          if (rows.length === chunkSizeRows) {
            yield { rows: rows as R[] };
            rows = [];
          }
        }
        if (rows.length > 0) yield { rows: rows as R[] };
      }
    } catch (error) {
      throw translateSqliteError(error, compiledQuery.sql, this.#fileFailures?.takeLastFailure());
    }
  }

  /**
   * Prepares each statement of the query in turn and binds its share of the parameters. A
   * statement is prepared only after the one before it ran, so a script may create a table and
   * then use it. A count mismatch is the caller's bug, reported as InvalidArgumentError: too few
   * parameters before anything runs, too many only after the statements ran.
   */
  async *#boundStatements(compiledQuery: CompiledQuery): AsyncGenerator<number> {
    const { api } = this.#library;
    const { sql, parameters } = compiledQuery;
    let parametersBound = 0;
    let statementCount = 0;
    for await (const statement of api.statements(this.#database, sql)) {
      statementCount++;
      if (statementCount > SQLITE_STATEMENTS_PER_QUERY_MAX) {
        throw new InvalidArgumentError(`cannot run ${quoteSql(sql)}: it holds more than ${SQLITE_STATEMENTS_PER_QUERY_MAX} statements`);
      }
      const parameterCount = api.bind_parameter_count(statement);
      if (parametersBound + parameterCount > parameters.length) {
        throw new InvalidArgumentError(`cannot run ${quoteSql(sql)}: it needs more than the ${parameters.length} parameters given`);
      }
      bindParameters(this.#library, statement, parameters.slice(parametersBound, parametersBound + parameterCount));
      parametersBound += parameterCount;
      yield statement;
    }
    if (parametersBound !== parameters.length) {
      throw new InvalidArgumentError(`cannot run ${quoteSql(sql)}: it used ${parametersBound} of the ${parameters.length} parameters given`);
    }
  }

  /**
   * Steps the statement to its end. A statement that returns columns (a select, or a write with
   * `returning`) yields rows; any other one yields the counts Kysely reports as `numAffectedRows`
   * and `insertId`, as Kysely's own SQLite driver does.
   */
  async #runStatement(statement: number, sql: string): Promise<QueryResult<Row>> {
    const { api } = this.#library;
    const columnNames = api.column_names(statement);
    const rows: Row[] = [];
    while ((await api.step(statement)) === SQLite.SQLITE_ROW) {
      if (rows.length === SQLITE_QUERY_ROWS_MAX) {
        throw new InvalidArgumentError(
          `cannot run ${quoteSql(sql)}: it returns more than ${SQLITE_QUERY_ROWS_MAX} rows (page it, or use stream())`,
        );
      }
      rows.push(readRow(this.#library, statement, columnNames));
    }
    if (columnNames.length > 0) return { rows };
    return {
      rows,
      numAffectedRows: BigInt(api.changes(this.#database)),
      insertId: this.#lastInsertRowid(),
    };
  }

  /** wa-sqlite's `last_insert_id` returns only the low 32 bits of the 64-bit rowid. */
  #lastInsertRowid(): bigint {
    const { api, module } = this.#library;
    const low = api.last_insert_id(this.#database);
    const high = module.getTempRet0();
    return BigInt.asIntN(64, (BigInt(high) << 32n) | (BigInt(low) & 0xffff_ffffn));
  }
}
