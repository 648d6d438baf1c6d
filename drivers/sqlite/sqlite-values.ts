import * as SQLite from '@journeyapps/wa-sqlite';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import type { SqliteLibrary } from './sqlite-library.ts';

/**
 * Conversion between JavaScript values and SQLite values, in both directions.
 *
 * Parameters: `null` and `undefined` bind NULL; booleans bind 1 or 0 (SQLite has no boolean);
 * safe integers bind as 64-bit integers (not as doubles, so `typeof(x)` is 'integer' in SQL and
 * integer arithmetic stays exact); other numbers bind as doubles; bigints in the signed 64-bit
 * range bind as integers; strings bind as UTF-8 text, NUL characters included; `Uint8Array`s bind
 * as blobs, the empty one included. Anything else is rejected with InvalidArgumentError.
 *
 * Columns: integers come back as numbers when they are safe integers and as bigints otherwise;
 * text as strings; blobs as `Uint8Array`s that the caller owns (copied out of the WebAssembly
 * heap, which the next statement reuses).
 */

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** Binds `parameters[0..]` to the statement's parameters `1..`. */
export function bindParameters(library: SqliteLibrary, statement: number, parameters: readonly unknown[]): void {
  for (let index = 0; index < parameters.length; index++) {
    bindParameter(library, statement, index + 1, parameters[index]);
  }
}

function bindParameter(library: SqliteLibrary, statement: number, index: number, value: unknown): void {
  const { api } = library;
  if (value === null || value === undefined) {
    api.bind_null(statement, index);
  } else if (typeof value === 'boolean') {
    api.bind_int(statement, index, value ? 1 : 0);
  } else if (typeof value === 'number') {
    bindNumber(api, statement, index, value);
  } else if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX) {
      throw new InvalidArgumentError(`cannot bind parameter ${index}: ${value} is outside SQLite's 64-bit integer range`);
    }
    api.bind_int64(statement, index, value);
  } else if (typeof value === 'string') {
    bindText(library, statement, index, value);
  } else if (value instanceof Uint8Array) {
    bindBlob(library, statement, index, value);
  } else {
    throw new InvalidArgumentError(
      `cannot bind parameter ${index}: a ${describeType(value)} is not a SQLite value ` +
        '(use null, a boolean, a number, a bigint, a string or a Uint8Array)',
    );
  }
}

function bindNumber(api: SQLiteAPI, statement: number, index: number, value: number): void {
  if (!Number.isSafeInteger(value)) {
    api.bind_double(statement, index, value);
  } else if (value >= INT32_MIN && value <= INT32_MAX) {
    api.bind_int(statement, index, value);
  } else {
    api.bind_int64(statement, index, BigInt(value));
  }
}

/**
 * wa-sqlite's `bind_text` passes a NUL-terminated copy, which cuts a string at its first NUL
 * character; this binds the explicit UTF-8 length instead. SQLite frees the copy (the destructor
 * is `sqlite3_free`), also when binding fails.
 */
function bindText(library: SqliteLibrary, statement: number, index: number, value: string): void {
  const { module } = library;
  const bytes = textEncoder.encode(value);
  // sqlite3_malloc(0) is NULL, and NULL text binds NULL: the empty string needs a real pointer.
  const pointer = module._sqlite3_malloc(Math.max(bytes.byteLength, 1));
  if (pointer === 0) throw new SQLite.SQLiteError('out of memory binding text', SQLite.SQLITE_NOMEM);
  module.HEAPU8.set(bytes, pointer);
  const resultCode = module._sqlite3_bind_text(statement, index, pointer, bytes.byteLength, module._getSqliteFree());
  checkBind(resultCode, index);
}

/** An empty blob through `bind_blob` would bind NULL (see above); `zeroblob(0)` is the empty blob. */
function bindBlob(library: SqliteLibrary, statement: number, index: number, value: Uint8Array): void {
  if (value.byteLength === 0) {
    checkBind(library.module._sqlite3_bind_zeroblob(statement, index, 0), index);
  } else {
    library.api.bind_blob(statement, index, value);
  }
}

function checkBind(resultCode: number, index: number): void {
  if (resultCode === SQLite.SQLITE_OK) return;
  throw new SQLite.SQLiteError(`cannot bind parameter ${index}`, resultCode);
}

function describeType(value: unknown): string {
  if (typeof value !== 'object') return typeof value;
  return value?.constructor?.name ?? 'object';
}

/** The current row as an object keyed by column name; a later column of the same name wins. */
export function readRow(library: SqliteLibrary, statement: number, columnNames: readonly string[]): Record<string, unknown> {
  const entries: [string, unknown][] = [];
  for (let index = 0; index < columnNames.length; index++) {
    entries.push([columnNames[index]!, readColumn(library, statement, index)]);
  }
  // fromEntries defines own properties, so a column named `__proto__` stays a column.
  return Object.fromEntries(entries);
}

function readColumn(library: SqliteLibrary, statement: number, index: number): unknown {
  const { api, module } = library;
  switch (api.column_type(statement, index)) {
    case SQLite.SQLITE_NULL:
      return null;
    case SQLite.SQLITE_TEXT: {
      // sqlite3_column_text before sqlite3_column_bytes: the order SQLite documents as safe.
      const pointer = module._sqlite3_column_text(statement, index);
      const sizeBytes = module._sqlite3_column_bytes(statement, index);
      return textDecoder.decode(module.HEAPU8.subarray(pointer, pointer + sizeBytes));
    }
    case SQLite.SQLITE_BLOB:
      return api.column_blob(statement, index).slice();
    default:
      return api.column(statement, index);
  }
}
