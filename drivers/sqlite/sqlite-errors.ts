import * as SQLite from '@journeyapps/wa-sqlite';
import { AlreadyExistsError } from '../../kernel/errors.ts';
import { SQLITE_ERROR_SQL_EXCERPT_LENGTH_MAX } from './limits.ts';

/**
 * Extended result codes that mean "a row with this key already exists". The driver turns extended
 * codes on for every connection, so SQLite reports these rather than the bare SQLITE_CONSTRAINT,
 * which would not tell a duplicate key from a NOT NULL or CHECK failure.
 */
const DUPLICATE_KEY_RESULT_CODES: ReadonlySet<number> = new Set([
  SQLite.SQLITE_CONSTRAINT_UNIQUE,
  SQLite.SQLITE_CONSTRAINT_PRIMARYKEY,
  SQLite.SQLITE_CONSTRAINT_ROWID,
]);

/**
 * The error to throw for `error`, raised while running `sql`: a duplicate key becomes
 * AlreadyExistsError (EEXIST); every other error is returned unchanged, with its driver's message.
 */
export function translateSqliteError(error: unknown, sql: string): unknown {
  if (!(error instanceof SQLite.SQLiteError)) return error;
  if (!DUPLICATE_KEY_RESULT_CODES.has(error.code as number)) return error;
  return new AlreadyExistsError(`cannot run ${quoteSql(sql)}: ${error.message}`);
}

/** The start of `sql` on one line, quoted, for an error message. */
export function quoteSql(sql: string): string {
  const singleLine = sql.replace(/\s+/g, ' ').trim();
  if (singleLine.length <= SQLITE_ERROR_SQL_EXCERPT_LENGTH_MAX) return JSON.stringify(singleLine);
  return JSON.stringify(`${singleLine.slice(0, SQLITE_ERROR_SQL_EXCERPT_LENGTH_MAX)}…`);
}
