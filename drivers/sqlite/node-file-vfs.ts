import * as SQLite from '@journeyapps/wa-sqlite';
import {
  accessSync,
  closeSync,
  constants as fileSystemConstants,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import { assert } from '../../kernel/assert.ts';
import { errorCode } from '../node-fs/file-system-errors.ts';
import { SQLITE_FILE_PATH_BYTES_MAX, SQLITE_VFS_OPEN_FILES_MAX } from './limits.ts';
import type { FileFailureSource } from './wa-sqlite-connection.ts';

/** The parts of the Emscripten module the VFS reads and writes through. */
export interface VfsModule {
  /** Re-read after every call into WebAssembly: the heap may grow and move. */
  readonly HEAPU8: Uint8Array;
  UTF8ToString(pointer: number): string;
}

/** What went wrong last, for an error message: SQLite itself only learns a result code. */
export interface VfsFailure {
  operation: string;
  path: string;
  /** The file system's error code (`ENOENT`, `EISDIR`, ...), when there is one. */
  code: string | undefined;
  message: string;
}

/**
 * The sector size SQLite assumes: 4096, the unit in which disks and SSDs write today (and what
 * SQLite's own unix VFS reports). SQLite aligns journal headers and log writes to it.
 */
const SECTOR_SIZE_BYTES = 4096;

/**
 * Errors from fsync on a directory that mean "this platform cannot do that" rather than "the data
 * is lost" (the same list as drivers/node-fs: Windows, some network file systems).
 */
const DIRECTORY_SYNC_UNSUPPORTED_CODES = new Set(['EISDIR', 'EPERM', 'EACCES', 'EINVAL', 'EBADF', 'ENOTSUP', 'ENOSYS']);

/** SQLITE_CANTOPEN_FULLPATH, which wa-sqlite's constants lack: a full path did not fit its buffer. */
const SQLITE_CANTOPEN_FULLPATH = SQLite.SQLITE_CANTOPEN | (3 << 8);

interface OpenFile {
  readonly descriptor: number;
  readonly path: string;
  /** Delete when closed: a temporary file that could not be unlinked while open (Windows). */
  deleteOnClose: boolean;
  /** The file was created by this open: its directory entry is made durable at its first sync. */
  directorySyncPending: boolean;
  lockLevel: number;
}

/**
 * A SQLite VFS over local files through `node:fs`'s synchronous calls, for wa-sqlite's synchronous
 * build (Node and Deno). Every method runs to completion inside SQLite's call, so the calls block
 * the event loop while they run: page reads and writes land in the OS page cache in microseconds;
 * xSync waits for the device (a real fsync, which is what makes a commit durable).
 *
 * Durability follows SQLite's rules: xSync is fsync (fdatasync when SQLite asks for data only),
 * and a file this VFS creates (a new database, a write-ahead log, a journal) has its directory
 * synced at its first xSync, so the file's name survives a crash together with its bytes. xDelete
 * syncs the directory when SQLite asks.
 *
 * No shared-memory methods (xShmMap...): a write-ahead log works only in exclusive locking mode,
 * where SQLite keeps its index in the connection's heap (see file-record-store.ts).
 *
 * Locking: xLock and xUnlock only record the level SQLite asked for. One process at a time is
 * guaranteed above this VFS, by the store's lock file (see ExclusiveLockFile), and each store has
 * one connection, so no other connection can hold a lock this VFS would have to refuse.
 *
 * Memory: the VFS allocates nothing per read or write; it reads into and writes from SQLite's own
 * buffers in the WebAssembly heap. It holds at most SQLITE_VFS_OPEN_FILES_MAX open files, and file
 * names are bounded by `mxPathname` (SQLITE_FILE_PATH_BYTES_MAX).
 *
 * Errors: no method throws into SQLite (an exception through WebAssembly would unwind SQLite's C
 * code midway). Each one returns SQLite's result code for the failure (SQLITE_CANTOPEN,
 * SQLITE_IOERR_READ, SQLITE_FULL for a full disk, ...) and keeps the file system's error in
 * `lastFailure` for the message the store reports.
 */
export class NodeFileVfs implements SQLiteVFS, FileFailureSource {
  readonly name: string;
  readonly mxPathname = SQLITE_FILE_PATH_BYTES_MAX;
  readonly #module: VfsModule;
  readonly #temporaryFilePrefix: string;
  readonly #files = new Map<number, OpenFile>();
  #lastFailure: VfsFailure | undefined;

  /**
   * `name` is the VFS's name in SQLite; `temporaryFilePrefix` is the path that SQLite's temporary
   * files (large sorts, statement journals) start with, e.g. the database's own path, so they live
   * on the same disk and in a directory known to be writable.
   */
  constructor(options: { name: string; module: VfsModule; temporaryFilePrefix: string }) {
    this.name = options.name;
    this.#module = options.module;
    this.#temporaryFilePrefix = options.temporaryFilePrefix;
  }

  /** The last failure of a file system call, or undefined. */
  get lastFailure(): VfsFailure | undefined {
    return this.#lastFailure;
  }

  /** The last failure as one line ("cannot sync /data/records.sqlite-wal: ..."), then forgets it. */
  takeLastFailure(): string | undefined {
    const failure = this.#lastFailure;
    this.#lastFailure = undefined;
    return failure === undefined ? undefined : `cannot ${failure.operation} ${failure.path}: ${failure.message}`;
  }

  /** How many files SQLite holds open through this VFS. */
  get openFileCount(): number {
    return this.#files.size;
  }

  /** Closes any file SQLite left open (after sqlite3_close, there should be none). */
  close(): void {
    for (const [fileId, file] of this.#files) {
      this.#files.delete(fileId);
      this.#closeQuietly(file);
    }
  }

  isReady(): boolean {
    return true;
  }

  /** Every method is synchronous: this VFS is for wa-sqlite's synchronous build. */
  hasAsyncMethod(): boolean {
    return false;
  }

  xOpen(_vfs: number, namePointer: number, fileId: number, flags: number, outFlagsPointer: number): number {
    const path = namePointer === 0 ? this.#temporaryFilePath() : this.#module.UTF8ToString(namePointer);
    if (this.#files.size >= SQLITE_VFS_OPEN_FILES_MAX) {
      this.#lastFailure = {
        operation: 'open',
        path,
        code: 'EMFILE',
        message: `more than ${SQLITE_VFS_OPEN_FILES_MAX} files would be open`,
      };
      return SQLite.SQLITE_CANTOPEN;
    }
    try {
      const { descriptor, created } = openDescriptor(path, flags);
      const file: OpenFile = {
        descriptor,
        path,
        deleteOnClose: false,
        directorySyncPending: created,
        lockLevel: SQLite.SQLITE_LOCK_NONE,
      };
      if (namePointer === 0 || (flags & SQLite.SQLITE_OPEN_DELETEONCLOSE) !== 0) {
        // Unlinked at once where the platform allows it (POSIX), so a crash cannot leave it behind.
        file.deleteOnClose = !unlinkQuietly(path);
        file.directorySyncPending = false;
      }
      this.#files.set(fileId, file);
      this.#writeInt32(outFlagsPointer, flags);
      return SQLite.SQLITE_OK;
    } catch (error) {
      return this.#fail('open', path, error, SQLite.SQLITE_CANTOPEN);
    }
  }

  xDelete(_vfs: number, namePointer: number, syncDirectory: number): number {
    const path = this.#module.UTF8ToString(namePointer);
    try {
      unlinkSync(path);
    } catch (error) {
      const resultCode = errorCode(error) === 'ENOENT' ? SQLite.SQLITE_IOERR_DELETE_NOENT : SQLite.SQLITE_IOERR_DELETE;
      return this.#fail('delete', path, error, resultCode);
    }
    if (syncDirectory === 0) return SQLite.SQLITE_OK;
    try {
      syncDirectoryOf(path);
      return SQLite.SQLITE_OK;
    } catch (error) {
      return this.#fail('sync the directory of', path, error, SQLite.SQLITE_IOERR_DIR_FSYNC);
    }
  }

  xAccess(_vfs: number, namePointer: number, flags: number, resultPointer: number): number {
    const path = this.#module.UTF8ToString(namePointer);
    try {
      this.#writeInt32(resultPointer, isAccessible(path, flags) ? 1 : 0);
      return SQLite.SQLITE_OK;
    } catch (error) {
      return this.#fail('check access to', path, error, SQLite.SQLITE_IOERR_ACCESS);
    }
  }

  xFullPathname(_vfs: number, namePointer: number, outputSizeBytes: number, outputPointer: number): number {
    const name = this.#module.UTF8ToString(namePointer);
    const fullPath = resolve(name);
    const output = this.#module.HEAPU8.subarray(outputPointer, outputPointer + outputSizeBytes);
    const { read, written } = new TextEncoder().encodeInto(fullPath, output);
    // The terminating NUL must fit too.
    if (read < fullPath.length || written >= output.length) {
      this.#lastFailure = {
        operation: 'resolve',
        path: fullPath,
        code: 'ENAMETOOLONG',
        message: `the path is longer than ${outputSizeBytes - 1} bytes`,
      };
      return SQLITE_CANTOPEN_FULLPATH;
    }
    output[written] = 0;
    return SQLite.SQLITE_OK;
  }

  xGetLastError(_vfs: number, bufferSizeBytes: number, bufferPointer: number): number {
    const output = this.#module.HEAPU8.subarray(bufferPointer, bufferPointer + bufferSizeBytes);
    if (output.length === 0) return SQLite.SQLITE_OK;
    const { written } = new TextEncoder().encodeInto(this.#lastFailure?.message ?? '', output.subarray(0, output.length - 1));
    output[written] = 0;
    return SQLite.SQLITE_OK;
  }

  xRandomness(_vfs: number, sizeBytes: number, bufferPointer: number): number {
    crypto.getRandomValues(this.#module.HEAPU8.subarray(bufferPointer, bufferPointer + sizeBytes));
    return sizeBytes;
  }

  xCurrentTimeInt64(_vfs: number, timePointer: number): number {
    // SQLite counts milliseconds since the Julian epoch (noon, 24 November 4714 BC, UTC).
    const JULIAN_EPOCH_TO_UNIX_EPOCH_MS = 210_866_760_000_000n;
    this.#view().setBigInt64(timePointer, JULIAN_EPOCH_TO_UNIX_EPOCH_MS + BigInt(Date.now()), true);
    return SQLite.SQLITE_OK;
  }

  xClose(fileId: number): number {
    const file = this.#files.get(fileId);
    // SQLite may close a file whose xOpen failed; there is nothing to close then.
    if (file === undefined) return SQLite.SQLITE_OK;
    this.#files.delete(fileId);
    try {
      closeSync(file.descriptor);
    } catch (error) {
      return this.#fail('close', file.path, error, SQLite.SQLITE_IOERR_CLOSE);
    } finally {
      if (file.deleteOnClose) unlinkQuietly(file.path);
    }
    return SQLite.SQLITE_OK;
  }

  xRead(fileId: number, dataPointer: number, sizeBytes: number, offsetLow: number, offsetHigh: number): number {
    const file = this.#file(fileId);
    const offset = joinOffset(offsetLow, offsetHigh);
    try {
      // SQLite's own buffer in the heap: no copy and no allocation. The heap cannot move during
      // this call, since nothing here calls back into WebAssembly.
      const buffer = this.#module.HEAPU8.subarray(dataPointer, dataPointer + sizeBytes);
      let read = 0;
      while (read < sizeBytes) {
        const bytesRead = readSync(file.descriptor, buffer, read, sizeBytes - read, offset + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      if (read === sizeBytes) return SQLite.SQLITE_OK;
      // SQLite requires the part past the end of the file to be zeros.
      buffer.fill(0, read);
      return SQLite.SQLITE_IOERR_SHORT_READ;
    } catch (error) {
      return this.#fail('read', file.path, error, SQLite.SQLITE_IOERR_READ);
    }
  }

  xWrite(fileId: number, dataPointer: number, sizeBytes: number, offsetLow: number, offsetHigh: number): number {
    const file = this.#file(fileId);
    const offset = joinOffset(offsetLow, offsetHigh);
    try {
      const buffer = this.#module.HEAPU8.subarray(dataPointer, dataPointer + sizeBytes);
      let written = 0;
      while (written < sizeBytes) {
        const bytesWritten = writeSync(file.descriptor, buffer, written, sizeBytes - written, offset + written);
        if (bytesWritten === 0) throw new Error('a write made no progress');
        written += bytesWritten;
      }
      return SQLite.SQLITE_OK;
    } catch (error) {
      return this.#fail('write', file.path, error, errorCode(error) === 'ENOSPC' ? SQLite.SQLITE_FULL : SQLite.SQLITE_IOERR_WRITE);
    }
  }

  xTruncate(fileId: number, sizeLow: number, sizeHigh: number): number {
    const file = this.#file(fileId);
    try {
      ftruncateSync(file.descriptor, joinOffset(sizeLow, sizeHigh));
      return SQLite.SQLITE_OK;
    } catch (error) {
      return this.#fail('truncate', file.path, error, SQLite.SQLITE_IOERR_TRUNCATE);
    }
  }

  xSync(fileId: number, flags: number): number {
    const file = this.#file(fileId);
    try {
      if ((flags & SQLite.SQLITE_SYNC_DATAONLY) !== 0) {
        fdatasyncSync(file.descriptor);
      } else {
        fsyncSync(file.descriptor);
      }
    } catch (error) {
      return this.#fail('sync', file.path, error, SQLite.SQLITE_IOERR_FSYNC);
    }
    if (!file.directorySyncPending) return SQLite.SQLITE_OK;
    try {
      syncDirectoryOf(file.path);
      file.directorySyncPending = false;
      return SQLite.SQLITE_OK;
    } catch (error) {
      return this.#fail('sync the directory of', file.path, error, SQLite.SQLITE_IOERR_DIR_FSYNC);
    }
  }

  xFileSize(fileId: number, sizePointer: number): number {
    const file = this.#file(fileId);
    try {
      const { size } = fstatSync(file.descriptor);
      this.#view().setBigInt64(sizePointer, BigInt(size), true);
      return SQLite.SQLITE_OK;
    } catch (error) {
      return this.#fail('measure', file.path, error, SQLite.SQLITE_IOERR_FSTAT);
    }
  }

  xLock(fileId: number, lockLevel: number): number {
    this.#file(fileId).lockLevel = lockLevel;
    return SQLite.SQLITE_OK;
  }

  xUnlock(fileId: number, lockLevel: number): number {
    this.#file(fileId).lockLevel = lockLevel;
    return SQLite.SQLITE_OK;
  }

  /** Only this connection can hold a lock (see the class comment), so only its own level counts. */
  xCheckReservedLock(fileId: number, resultPointer: number): number {
    const reserved = this.#file(fileId).lockLevel >= SQLite.SQLITE_LOCK_RESERVED;
    this.#writeInt32(resultPointer, reserved ? 1 : 0);
    return SQLite.SQLITE_OK;
  }

  /** No file control is implemented; SQLite uses its defaults. */
  xFileControl(): number {
    return SQLite.SQLITE_NOTFOUND;
  }

  xSectorSize(): number {
    return SECTOR_SIZE_BYTES;
  }

  /**
   * No guarantees claimed (not even powersafe overwrite): SQLite then pads log writes and journals
   * whole sectors, which costs nothing extra at its default page size, equal to the sector size.
   */
  xDeviceCharacteristics(): number {
    return 0;
  }

  #file(fileId: number): OpenFile {
    const file = this.#files.get(fileId);
    // SQLite never calls a file method on a file that is not open: a failure here is a bug.
    assert(file !== undefined, `SQLite used the file ${fileId}, which the VFS has not opened`);
    return file;
  }

  #temporaryFilePath(): string {
    const suffix = Array.from(crypto.getRandomValues(new Uint8Array(8)), (byte) => byte.toString(16).padStart(2, '0')).join('');
    return `${this.#temporaryFilePrefix}-temporary-${suffix}`;
  }

  #view(): DataView {
    const heap = this.#module.HEAPU8;
    return new DataView(heap.buffer, heap.byteOffset, heap.byteLength);
  }

  #writeInt32(pointer: number, value: number): void {
    this.#view().setInt32(pointer, value, true);
  }

  #fail(operation: string, path: string, error: unknown, resultCode: number): number {
    this.#lastFailure = {
      operation,
      path,
      code: errorCode(error),
      message: error instanceof Error ? error.message : String(error),
    };
    return resultCode;
  }

  #closeQuietly(file: OpenFile): void {
    try {
      closeSync(file.descriptor);
    } catch {
      // Closing on the way out: nothing left to report it to.
    }
    if (file.deleteOnClose) unlinkQuietly(file.path);
  }
}

/**
 * Opens `path` as SQLite's `flags` ask: read-only, read-write, or created (exclusively when
 * SQLITE_OPEN_EXCLUSIVE says so). `created` tells whether this call made the file.
 */
function openDescriptor(path: string, flags: number): { descriptor: number; created: boolean } {
  if ((flags & SQLite.SQLITE_OPEN_READWRITE) === 0) return { descriptor: openSync(path, 'r'), created: false };
  const create = (flags & SQLite.SQLITE_OPEN_CREATE) !== 0;
  const exclusive = (flags & SQLite.SQLITE_OPEN_EXCLUSIVE) !== 0;
  if (!(create && exclusive)) {
    try {
      return { descriptor: openSync(path, 'r+'), created: false };
    } catch (error) {
      if (!create || errorCode(error) !== 'ENOENT') throw error;
    }
  }
  return { descriptor: openSync(path, 'wx+'), created: true };
}

function isAccessible(path: string, flags: number): boolean {
  if (flags === SQLite.SQLITE_ACCESS_EXISTS) return statSync(path, { throwIfNoEntry: false }) !== undefined;
  const mode =
    flags === SQLite.SQLITE_ACCESS_READWRITE ? fileSystemConstants.R_OK | fileSystemConstants.W_OK : fileSystemConstants.R_OK;
  try {
    accessSync(path, mode);
    return true;
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return false;
    throw error;
  }
}

/** Makes a file's creation or deletion durable, where the platform can sync a directory. */
function syncDirectoryOf(path: string): void {
  let descriptor: number;
  try {
    descriptor = openSync(dirname(path), 'r');
  } catch (error) {
    if (DIRECTORY_SYNC_UNSUPPORTED_CODES.has(errorCode(error) ?? '')) return;
    throw error;
  }
  try {
    fsyncSync(descriptor);
  } catch (error) {
    if (!DIRECTORY_SYNC_UNSUPPORTED_CODES.has(errorCode(error) ?? '')) throw error;
  } finally {
    closeSync(descriptor);
  }
}

/** Whether `path` was removed; a platform that cannot unlink an open file (Windows) says no. */
function unlinkQuietly(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Emscripten passes a 64-bit offset as two 32-bit halves, the low one signed. */
function joinOffset(low: number, high: number): number {
  return high * 0x1_0000_0000 + (low >>> 0);
}
