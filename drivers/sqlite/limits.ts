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

/**
 * The longest absolute path, in UTF-8 bytes, of a database file or of a file SQLite makes next to
 * it (`-wal`, temporary files). It is the VFS's `mxPathname`: SQLite allocates buffers of this
 * size for file names, so it is kept well below Linux's PATH_MAX (4096) rather than at it.
 */
export const SQLITE_FILE_PATH_BYTES_MAX = 1024;

/**
 * The size to which a file-backed database's write-ahead log is cut back after a checkpoint. The
 * log grows to about 4 MiB between automatic checkpoints (SQLite's default, 1,000 pages), further
 * only while one transaction writes more; this returns the disk space such a transaction took.
 */
export const SQLITE_WAL_BYTES_RETAINED_MAX = 8 * 1024 * 1024;

/**
 * Files one file-backed database may hold open at once through the VFS: the database, its
 * write-ahead log, and the temporary files SQLite makes for large sorts, statement journals and temporary
 * tables (a handful at most). A connection that asks for more gets SQLITE_CANTOPEN instead of
 * exhausting the process's file descriptors.
 */
export const SQLITE_VFS_OPEN_FILES_MAX = 32;

/** Times `ExclusiveLockFile.acquire` retries when the lock file changes under it before giving up. */
export const LOCK_FILE_ACQUIRE_ATTEMPTS_MAX = 8;

/**
 * The largest lock file read. Ours hold a JSON line of about 200 bytes; a larger file is not one
 * of ours and is treated as a lock without an owner, rather than read whole into memory.
 */
export const LOCK_FILE_OWNER_BYTES_MAX = 4096;
