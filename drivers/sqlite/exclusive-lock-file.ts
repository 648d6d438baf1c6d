import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import process from 'node:process';
import { BusyError } from '../../kernel/errors.ts';
import { errorCode } from '../node-fs/file-system-errors.ts';
import { LOCK_FILE_ACQUIRE_ATTEMPTS_MAX, LOCK_FILE_OWNER_BYTES_MAX } from './limits.ts';

/**
 * One process at a time on a file (Node and Deno): a lock file next to it that names its owner.
 * Node has no portable advisory lock (flock, fcntl), so the lock is the file's existence, and a
 * lock left behind by a crash is recognised by its owner being gone:
 *
 * - taking it creates the lock file atomically (a hard link of a fully written file, so a reader
 *   never sees it half written), which fails when it already exists;
 * - an existing lock whose owner still runs refuses with BusyError (EBUSY), naming the process,
 *   the host and the time it was taken; a second opener in the same process is refused too;
 * - a lock whose owner is gone (no such process on this host, or, on Linux, a process with the
 *   same pid that started at another time) is stale and is taken over;
 * - a lock of another host cannot be checked and is never taken over: the message says to remove
 *   the file once that host no longer uses it.
 *
 * What remains possible: three openers that race for the same stale lock in the same
 * milliseconds may, in the worst interleaving, leave two of them holding it (see `#removeStale`).
 */
export class ExclusiveLockFile {
  readonly #path: string;
  readonly #owner: LockOwner;
  #released = false;

  private constructor(path: string, owner: LockOwner) {
    this.#path = path;
    this.#owner = owner;
  }

  /**
   * Takes the lock file at `path` for this process. `subject` names what the lock guards, for
   * the error message ("the record store /data/records.sqlite").
   */
  static acquire(options: { path: string; subject: string }): ExclusiveLockFile {
    const { path, subject } = options;
    const owner = currentOwner();
    const ownerText = JSON.stringify(owner);
    for (let attempt = 0; attempt < LOCK_FILE_ACQUIRE_ATTEMPTS_MAX; attempt++) {
      if (createExclusively(path, ownerText, owner.token)) return new ExclusiveLockFile(path, owner);
      const existingText = readLockText(path);
      if (existingText === undefined) continue; // Released meanwhile: try again.
      const existing = parseOwner(existingText);
      if (existing !== undefined && isRunning(existing)) {
        throw new BusyError(`cannot open ${subject}: it is in use by ${describeOwner(existing)} (lock file ${path})`);
      }
      removeStale({ path, staleText: existingText, token: owner.token });
    }
    throw new BusyError(
      `cannot open ${subject}: its lock file ${path} changed owner ${LOCK_FILE_ACQUIRE_ATTEMPTS_MAX} times while it was being taken`,
    );
  }

  get path(): string {
    return this.#path;
  }

  /**
   * Removes the lock file if it is still this holder's (a file that names another owner is left
   * alone). A second call does nothing.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const text = readLockText(this.#path);
    if (text === undefined || parseOwner(text)?.token !== this.#owner.token) return;
    try {
      unlinkSync(this.#path);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
  }
}

/** What a lock file says about its holder. */
interface LockOwner {
  pid: number;
  hostname: string;
  /**
   * When the process started, in clock ticks since boot (Linux `/proc/<pid>/stat`), or null where
   * that is unknown. It tells a live owner from an unrelated process that got the same pid later.
   */
  processStartTicks: string | null;
  /** Tells this holder's lock file from any other, whatever their pids. */
  token: string;
  lockedAt: string;
}

function currentOwner(): LockOwner {
  return {
    pid: process.pid,
    hostname: hostname(),
    processStartTicks: processStartTicks(process.pid),
    token: randomToken(),
    lockedAt: new Date().toISOString(),
  };
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * Creates the lock file with its whole content, or returns false when it exists. The content is
 * written to a file of its own first and then hard-linked to the lock's name, which fails if the
 * name exists: no reader can see a lock file without its owner in it.
 */
function createExclusively(path: string, ownerText: string, token: string): boolean {
  const staging = `${path}.${token}`;
  writeFileSync(staging, ownerText, { flag: 'wx' });
  try {
    linkSync(staging, path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(staging);
  }
}

/** The lock file's text, or undefined when there is no lock file. */
function readLockText(path: string): string | undefined {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  // A lock file is a few hundred bytes; a larger one is not ours and is treated as unreadable.
  if (bytes.length > LOCK_FILE_OWNER_BYTES_MAX) return '';
  return new TextDecoder().decode(bytes);
}

/**
 * The owner a lock file names, or undefined when it names none. Locks are created whole (see
 * `createExclusively`), so a lock without a readable owner was not written by a running opener:
 * it is a stale one (say, cut short by a power loss).
 */
function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner> | null;
    if (
      typeof value?.pid === 'number' &&
      typeof value.hostname === 'string' &&
      typeof value.token === 'string' &&
      typeof value.lockedAt === 'string' &&
      (typeof value.processStartTicks === 'string' || value.processStartTicks === null)
    ) {
      return value as LockOwner;
    }
  } catch {
    // Not JSON: no owner.
  }
  return undefined;
}

/** Whether the lock's owner may still run. Only a process of this host can be checked. */
function isRunning(owner: LockOwner): boolean {
  if (owner.hostname !== hostname()) return true;
  if (owner.pid !== process.pid) {
    try {
      process.kill(owner.pid, 0);
    } catch (error) {
      // EPERM: the process exists but belongs to another user.
      if (errorCode(error) === 'ESRCH') return false;
    }
  }
  if (owner.processStartTicks === null) return true;
  const startTicks = processStartTicks(owner.pid);
  return startTicks === null || startTicks === owner.processStartTicks;
}

/**
 * The start time of process `pid` in clock ticks since boot, field 22 of `/proc/<pid>/stat`, or
 * null where there is no such file (not Linux, or no such process).
 */
function processStartTicks(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fieldsAfterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const START_TIME_INDEX_AFTER_NAME = 22 - 3;
  return fieldsAfterName[START_TIME_INDEX_AFTER_NAME] ?? null;
}

function describeOwner(owner: LockOwner): string {
  const since = `since ${owner.lockedAt}`;
  if (owner.hostname !== hostname()) {
    return `process ${owner.pid} on host ${owner.hostname} ${since}; remove the lock file once that host no longer uses it`;
  }
  if (owner.pid === process.pid) return `this process (pid ${owner.pid}) ${since}`;
  return `process ${owner.pid} ${since}`;
}

/**
 * Removes a stale lock file whose text was `staleText`. It is first renamed aside, which only one
 * remover can do; if what was moved is not the stale lock (another opener replaced the stale lock
 * with its own in between), it is linked back unless yet another lock took the name meanwhile
 * (the rare three-way race the class comment mentions).
 */
function removeStale(options: { path: string; staleText: string; token: string }): void {
  const { path, staleText, token } = options;
  const aside = `${path}.stale-${token}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    throw error;
  }
  try {
    if (readFileSync(aside, 'utf8') === staleText) return;
    try {
      linkSync(aside, path);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
    }
  } finally {
    unlinkSync(aside);
  }
}
