/**
 * Every bound of the SQLite RecordStore driver, in one place.
 */

/**
 * Calls that may wait for the one SQLite connection at once. A caller past this bound gets
 * BusyError (EBUSY) instead of an ever-growing queue: the queue is in memory, and a service that
 * fires this many statements without awaiting them has a bug or is being flooded.
 */
export const SQLITE_CONNECTION_WAITERS_MAX = 10_000;

/**
 * Rows one non-streamed query may return. Kysely's `execute()` collects every row in memory;
 * past this bound the query fails with InvalidArgumentError (EINVAL) and should page with
 * limit/offset or use `stream()`.
 */
export const SQLITE_QUERY_ROWS_MAX = 1_000_000;

/** Rows per chunk of `stream()` when Kysely does not say (it passes its own default, 100). */
export const SQLITE_STREAM_CHUNK_ROWS_DEFAULT = 100;

/** Statements in one compiled query (`sql` text that holds several, separated by `;`). */
export const SQLITE_STATEMENTS_PER_QUERY_MAX = 1_000;

/** How much of a statement's SQL an error message quotes. */
export const SQLITE_ERROR_SQL_EXCERPT_LENGTH_MAX = 120;
