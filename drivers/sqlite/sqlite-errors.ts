import * as SQLite from '@journeyapps/wa-sqlite';
import { AlreadyExistsError, CorruptionError } from '../../kernel/errors.ts';
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

/** Primary result codes that mean the database file is damaged or is not a database. */
const CORRUPTION_RESULT_CODES: ReadonlySet<number> = new Set([SQLite.SQLITE_CORRUPT, SQLite.SQLITE_NOTADB]);

/**
 * Primary result codes of a failed file operation, for which SQLite's own message ("disk I/O
 * error") says nothing about the file or the cause: the VFS's account of it is added.
 */
const FILE_FAILURE_RESULT_CODES: ReadonlySet<number> = new Set([SQLite.SQLITE_IOERR, SQLite.SQLITE_FULL, SQLite.SQLITE_CANTOPEN]);

/**
 * The error to throw for `error`, raised while running `sql`: a duplicate key becomes
 * AlreadyExistsError (EEXIST); a damaged database file CorruptionError (ECORRUPT); a failed file
 * operation keeps its class and code, its message completed by `fileFailure` (what the VFS saw,
 * when there is a VFS); every other error is returned unchanged, with its driver's message.
 */
export function translateSqliteError(error: unknown, sql: string, fileFailure?: string): unknown {
  if (!(error instanceof SQLite.SQLiteError)) return error;
  const resultCode = error.code as number;
  if (DUPLICATE_KEY_RESULT_CODES.has(resultCode)) return new AlreadyExistsError(`cannot run ${quoteSql(sql)}: ${error.message}`);
  // The primary result code is the low byte of an extended one.
  const primaryCode = resultCode & 0xff;
  if (CORRUPTION_RESULT_CODES.has(primaryCode)) return new CorruptionError(`cannot run ${quoteSql(sql)}: ${error.message}`);
  if (fileFailure !== undefined && FILE_FAILURE_RESULT_CODES.has(primaryCode)) {
    return new SQLite.SQLiteError(`cannot run ${quoteSql(sql)}: ${error.message}: ${fileFailure}`, resultCode);
  }
  return error;
}

/** The start of `sql` on one line, quoted, for an error message. */
export function quoteSql(sql: string): string {
  const singleLine = sql.replace(/\s+/g, ' ').trim();
  if (singleLine.length <= SQLITE_ERROR_SQL_EXCERPT_LENGTH_MAX) return JSON.stringify(singleLine);
  return JSON.stringify(`${singleLine.slice(0, SQLITE_ERROR_SQL_EXCERPT_LENGTH_MAX)}…`);
}
