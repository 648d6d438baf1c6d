import { mkdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalObjectStore } from '../../drivers/node-fs/local-object-store.ts';
import { openFileKvStore } from '../../drivers/node-fs/file-kv-store.ts';
import { ExclusiveLockFile } from '../../drivers/sqlite/exclusive-lock-file.ts';
import { openSqliteFileRecordStore } from '../../drivers/sqlite/file-record-store.ts';
import type { RecordStore } from '../../kernel/contracts/record-store.ts';
import { AccessDeniedError, BusyError, InvalidArgumentError, NotDirectoryError } from '../../kernel/errors.ts';
import { NexusFS } from '../../kernel/fs/nexus-fs.ts';
import type { KvStore } from '../../kernel/kv/kv-store-types.ts';
import { ApiKeys } from '../../kernel/services/api-keys.ts';

/**
 * A data dir: everything one nexus node keeps on local disk, opened by one process at a time.
 *
 * Layout (paths relative to the dir):
 * - `metastore.kv` and `metastore.kv-log`: the Metastore, the KV engine on a file with its commit
 *   log (drivers/node-fs/file-kv-store.ts);
 * - `blobs/`: the ObjectStore mounted at `/`, one file per content id (LocalObjectStore);
 * - `records.sqlite` with `records.sqlite-wal` (while open) and `records.sqlite-lock`: the RecordStore,
 *   SQLite through wa-sqlite (drivers/sqlite/file-record-store.ts), which holds the services'
 *   tables (API keys);
 * - `lock`: present while a process has the dir open, naming that process (ExclusiveLockFile): a
 *   second opener, in another process or in this one, gets BusyError saying who holds it and what
 *   to do instead; a lock left by a process that is gone (`kill -9`) is taken over, so it does
 *   not block. The lock covers the whole dir: the KV engine and the blob directory have no lock
 *   of their own.
 */

export const DATA_DIR_DEFAULT = './nexus-data';
export const DATA_DIR_METASTORE_FILE = 'metastore.kv';
export const DATA_DIR_BLOBS_DIRECTORY = 'blobs';
export const DATA_DIR_RECORDS_FILE = 'records.sqlite';
export const DATA_DIR_LOCK_FILE = 'lock';

export interface OpenDataDirOptions {
  /** The directory; created, with its parents, when missing. */
  dir: string;
}

export interface DataDir {
  /** The dir's real path (symlinks resolved). */
  readonly directory: string;
  readonly fs: NexusFS;
  readonly records: RecordStore;
  readonly apiKeys: ApiKeys;
  /**
   * Closes the file system, then the RecordStore, then the Metastore, then releases the lock (only
   * once everything is closed can another process safely open the dir). Calling it again returns
   * the same promise. Callers stop their own use first: a call still running is not waited for.
   */
  close(): Promise<void>;
}

export async function openDataDir(options: OpenDataDirOptions): Promise<DataDir> {
  if (typeof options?.dir !== 'string' || options.dir.length === 0) {
    throw new InvalidArgumentError('cannot open a data dir: expected its path');
  }
  const directory = await createDirectory(options.dir);
  const lock = acquireLock(directory);
  const opened: { close(): Promise<void> }[] = [];
  try {
    const metastore = await openFileKvStore(join(directory, DATA_DIR_METASTORE_FILE), { pacedCheckpoints: true });
    opened.push(metastore);
    const records = await openSqliteFileRecordStore({ path: join(directory, DATA_DIR_RECORDS_FILE) });
    opened.push(records);
    const apiKeys = await ApiKeys.open(records);
    const fs = new NexusFS({ metastore, recordStore: records });
    opened.push(fs);
    await fs.mount('/', new LocalObjectStore({ directory: join(directory, DATA_DIR_BLOBS_DIRECTORY) }));
    return openedDataDir({ directory, fs, records, apiKeys, metastore, lock });
  } catch (error) {
    await closeInReverse(opened).catch(() => {}); // the error that stopped the open is the one to report
    lock.release();
    throw error;
  }
}

function openedDataDir(parts: {
  directory: string;
  fs: NexusFS;
  records: RecordStore;
  apiKeys: ApiKeys;
  metastore: KvStore;
  lock: ExclusiveLockFile;
}): DataDir {
  const { directory, fs, records, apiKeys, metastore, lock } = parts;
  let closed: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    try {
      await closeInReverse([metastore, records, fs]);
    } finally {
      lock.release();
    }
  };
  return { directory, fs, records, apiKeys, close: () => (closed ??= close()) };
}

/**
 * Closes each of `resources`, last first (the reverse of opening), even when one fails; the first
 * failure is rethrown once all were tried.
 */
async function closeInReverse(resources: readonly { close(): Promise<void> }[]): Promise<void> {
  let failure: { error: unknown } | undefined;
  for (const resource of [...resources].reverse()) {
    try {
      await resource.close();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure !== undefined) throw failure.error;
}

/** Takes the dir's lock, with advice for the usual case: a server runs on the dir. */
function acquireLock(directory: string): ExclusiveLockFile {
  try {
    return ExclusiveLockFile.acquire({ path: join(directory, DATA_DIR_LOCK_FILE), subject: `data dir ${directory}` });
  } catch (error) {
    if (error instanceof BusyError) {
      throw new BusyError(`${error.message}; stop that process, or reach the server it runs with --remote URL --token KEY instead of --data`);
    }
    throw translateFileSystemError(error, directory);
  }
}

/** Creates the dir and returns its real path, with the file-system errors a user can act on translated. */
async function createDirectory(dir: string): Promise<string> {
  try {
    await mkdir(dir, { recursive: true });
    return await realpath(dir);
  } catch (error) {
    throw translateFileSystemError(error, dir);
  }
}

function translateFileSystemError(error: unknown, dir: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new AccessDeniedError(`cannot open data dir ${dir}: it is not writable (${code}); choose a writable dir with --data or NEXUS_DATA`);
  }
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    return new NotDirectoryError(`cannot open data dir ${dir}: it, or one of its parents, is a file`);
  }
  return error;
}
