import * as SQLite from '@journeyapps/wa-sqlite';
import { accessSync, constants as fileSystemConstants, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CompiledQuery } from 'kysely';
import type { RecordStore } from '../../kernel/contracts/record-store.ts';
import {
  AccessDeniedError,
  CorruptionError,
  InvalidArgumentError,
  IsDirectoryError,
  NexusError,
  NotDirectoryError,
  NotFoundError,
} from '../../kernel/errors.ts';
import { errorCode } from '../node-fs/file-system-errors.ts';
import { ExclusiveLockFile } from './exclusive-lock-file.ts';
import { SQLITE_FILE_PATH_BYTES_MAX, SQLITE_WAL_BYTES_RETAINED_MAX } from './limits.ts';
import { NodeFileVfs } from './node-file-vfs.ts';
import { loadSqliteLibrary, type SqliteLibrary, type SqliteWasmSource } from './sqlite-library.ts';
import { configureConnection, SqliteRecordStore } from './sqlite-record-store.ts';
import { WaSqliteConnection } from './wa-sqlite-connection.ts';
import { WaSqliteDriver } from './wa-sqlite-driver.ts';
import { loadSqliteWasm } from './wasm/node.ts';

export interface SqliteFileRecordStoreOptions {
  /**
   * The database file, created when missing. Its directory must exist. Beside it the store keeps
   * `<path>-wal` (SQLite's write-ahead log, while the store is open or after a crash) and
   * `<path>-lock` (who has it open).
   */
  path: string;
  /** The SQLite WebAssembly; by default the installed package's, compiled once per process. */
  wasm?: SqliteWasmSource;
}

/** The suffix of the lock file next to the database. */
export const SQLITE_FILE_LOCK_SUFFIX = '-lock';

/** The VFS's name inside each store's own SQLite instance. */
const FILE_VFS_NAME = 'nexusfs-node-file';

/**
 * The longest suffix of a file the store or SQLite makes next to the database: a temporary file,
 * `-temporary-` and 16 hexadecimal digits (27 bytes), and the lock file's staging names, `-lock.`
 * or `-lock.stale-` and 32 digits (44 bytes).
 */
const SIBLING_SUFFIX_BYTES_MAX = 44;

/**
 * The connection's settings, in this order, before anything reads the file.
 *
 * Write-ahead log: a commit appends its pages to `<path>-wal` and syncs that one file, once; a
 * rollback journal (DELETE, TRUNCATE) syncs the journal twice, the database, and the journal again
 * (measured: 7 ms against 30 ms per single-row commit, see bench/sqlite-file.ts). WAL normally
 * needs shared memory between connections (`-shm`), which this VFS does not provide; in exclusive
 * locking mode SQLite keeps the WAL index in the connection's own heap instead and never asks for
 * shared memory, provided the mode is set before the first access in WAL mode, hence the order.
 * After a crash, opening replays the log's committed transactions and ignores the rest (each
 * frame is checksummed; a transaction counts only with its commit frame). Closing checkpoints the
 * log into the database and removes it.
 */
const CONNECTION_PRAGMAS = [
  // The connection keeps its lock between transactions, so its page cache stays valid instead of
  // being checked against the file at every transaction. No other process may use the file anyway.
  'pragma locking_mode = exclusive',
  'pragma journal_mode = wal',
  // Sync the log at every commit: a commit that returned survives a crash or a power loss.
  'pragma synchronous = full',
  // After a checkpoint, a log that a large transaction grew is cut back to this size.
  `pragma journal_size_limit = ${SQLITE_WAL_BYTES_RETAINED_MAX}`,
];

/**
 * A RecordStore on a SQLite database file (Node and Deno): wa-sqlite's synchronous build over a
 * VFS of `node:fs` calls (see NodeFileVfs), in this thread.
 *
 * Durable: a transaction that committed survives a crash of the process or of the machine; one
 * that was in progress is left out of the database the next time the file is opened (see
 * CONNECTION_PRAGMAS: a write-ahead log synced at every commit).
 *
 * One process at a time: the store takes `<path>-lock` before it opens the database and removes
 * it on `close()`. A second open of the same file, from another process or from this one, fails
 * with BusyError (EBUSY) naming the owner; a lock left behind by a process that is gone is taken
 * over (see ExclusiveLockFile).
 *
 * Each file system call blocks the event loop while it runs: reads and writes take microseconds,
 * a commit's fsyncs as long as the device takes (a few milliseconds). The store is meant for the
 * services' records (keys, permissions, audit), not for bulk data.
 *
 * Errors when opening: a path that is not a string, or too long, InvalidArgumentError (EINVAL); a
 * missing directory NotFoundError (ENOENT); a directory component that is a file
 * NotDirectoryError (ENOTDIR); a path that is a directory IsDirectoryError (EISDIR); a directory
 * it may not write AccessDeniedError (EACCES); a file that is not a SQLite database
 * CorruptionError (ECORRUPT); a file in use BusyError (EBUSY).
 */
export async function openSqliteFileRecordStore(options: SqliteFileRecordStoreOptions): Promise<RecordStore> {
  const path = checkDatabasePath(options.path);
  const lock = ExclusiveLockFile.acquire({ path: `${path}${SQLITE_FILE_LOCK_SUFFIX}`, subject: `the record store ${path}` });
  let vfs: NodeFileVfs | undefined;
  const releaseFiles = (): void => {
    try {
      vfs?.close();
    } finally {
      lock.release();
    }
  };
  try {
    const library = await loadSqliteLibrary(options.wasm ?? (await loadSqliteWasm()));
    vfs = new NodeFileVfs({ name: FILE_VFS_NAME, module: library.module, temporaryFilePrefix: path });
    library.api.vfs_register(vfs, false);
    const database = await openDatabase({ library, vfs, path });
    return new SqliteRecordStore(new WaSqliteDriver(library, database, { afterClose: releaseFiles, fileFailures: vfs }));
  } catch (error) {
    releaseFiles();
    throw error;
  }
}

/**
 * The absolute path of the database, symbolic links resolved (so that two spellings of one file
 * share one lock file), after checking what can be checked before opening.
 */
function checkDatabasePath(path: unknown): string {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\u0000')) {
    throw new InvalidArgumentError(`cannot open a record store at ${JSON.stringify(path)}: the path must be a non-empty string without NUL`);
  }
  const absolutePath = resolve(path);
  checkPathLength(absolutePath);
  const directory = checkDirectory(absolutePath);
  // Resolving links may lengthen the path: check again.
  const realPath = checkPathLength(realPathOfFile(join(directory, basename(absolutePath))));
  const subject = `the record store ${realPath}`;
  const stats = statSync(realPath, { throwIfNoEntry: false });
  if (stats?.isDirectory()) throw new IsDirectoryError(`cannot open ${subject}: it is a directory`);
  if (stats !== undefined && !stats.isFile()) throw new InvalidArgumentError(`cannot open ${subject}: it is not a regular file`);
  return realPath;
}

/** Returns `path` if it leaves room in the VFS's path bound for the files made beside it. */
function checkPathLength(path: string): string {
  const pathBytes = new TextEncoder().encode(path).length;
  const pathBytesMax = SQLITE_FILE_PATH_BYTES_MAX - SIBLING_SUFFIX_BYTES_MAX;
  if (pathBytes > pathBytesMax) {
    throw new InvalidArgumentError(`cannot open the record store ${path}: its path is ${pathBytes} bytes, more than ${pathBytesMax}`);
  }
  return path;
}

/** The real path of `path` when it exists (a symbolic link to a database, say); else `path`. */
function realPathOfFile(path: string): string {
  try {
    return realpathSync(path);
  } catch (error) {
    // A missing file is created; a dangling link fails later with a clear error when it is opened.
    const code = errorCode(error);
    if (code === 'ENOENT') return path;
    if (code === 'ENAMETOOLONG') throw new InvalidArgumentError(`cannot open the record store ${path}: a name in the path is too long`);
    throw error;
  }
}

/** The real path of the directory that holds `path`, which must exist and be writable. */
function checkDirectory(path: string): string {
  const directory = dirname(path);
  const subject = `the record store ${path}`;
  let realDirectory: string;
  try {
    realDirectory = realpathSync(directory);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') throw new NotFoundError(`cannot open ${subject}: its directory ${directory} does not exist`);
    if (code === 'ENOTDIR') throw new NotDirectoryError(`cannot open ${subject}: a component of ${directory} is not a directory`);
    if (code === 'EACCES') throw new AccessDeniedError(`cannot open ${subject}: ${directory} may not be searched`);
    throw error;
  }
  if (!statSync(realDirectory).isDirectory()) {
    throw new NotDirectoryError(`cannot open ${subject}: ${directory} is not a directory`);
  }
  try {
    // The store creates its lock file and write-ahead log there.
    accessSync(realDirectory, fileSystemConstants.W_OK | fileSystemConstants.X_OK);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new AccessDeniedError(`cannot open ${subject}: files may not be created in ${directory} (${code})`);
    }
    throw error;
  }
  return realDirectory;
}

/** Opens and configures the database; on any failure the handle is closed again. */
async function openDatabase(options: { library: SqliteLibrary; vfs: NodeFileVfs; path: string }): Promise<number> {
  const { library, vfs, path } = options;
  let database: number;
  try {
    database = await library.api.open_v2(path, SQLite.SQLITE_OPEN_READWRITE | SQLite.SQLITE_OPEN_CREATE, vfs.name);
  } catch (error) {
    throw describeOpenFailure({ error, vfs, path });
  }
  try {
    await configureConnection(library, database);
    const connection = new WaSqliteConnection(library, database);
    for (const pragma of CONNECTION_PRAGMAS) await connection.executeQuery(CompiledQuery.raw(pragma));
    // The pragmas above may not read the file; this does, so a file that is not a database fails here.
    await connection.executeQuery(CompiledQuery.raw('select count(*) from sqlite_schema'));
  } catch (error) {
    try {
      await library.api.close(database);
    } catch {
      // The open already failed; that error is the one to report.
    }
    throw describeOpenFailure({ error, vfs, path });
  }
  return database;
}

/** The error to throw for a failure to open or configure the database at `path`. */
function describeOpenFailure(options: { error: unknown; vfs: NodeFileVfs; path: string }): unknown {
  const { error, vfs, path } = options;
  const subject = `the record store ${path}`;
  // A query's corruption arrives translated already (see translateSqliteError); open_v2's does not.
  const primaryCode = error instanceof SQLite.SQLiteError ? (error.code as number) & 0xff : undefined;
  if (error instanceof CorruptionError || primaryCode === SQLite.SQLITE_NOTADB || primaryCode === SQLite.SQLITE_CORRUPT) {
    return new CorruptionError(`cannot open ${subject}: it is not a valid SQLite database (${(error as Error).message})`);
  }
  if (error instanceof NexusError || !(error instanceof SQLite.SQLiteError)) return error;
  const failure = vfs.lastFailure;
  if (failure === undefined) return new Error(`cannot open ${subject}: ${error.message}`, { cause: error });
  const message = `cannot open ${subject}: cannot ${failure.operation} ${failure.path}: ${failure.message}`;
  if (failure.code === 'EISDIR') return new IsDirectoryError(message);
  if (failure.code === 'ENOENT') return new NotFoundError(message);
  if (failure.code === 'EACCES' || failure.code === 'EPERM') return new AccessDeniedError(message);
  return new Error(message, { cause: error });
}
