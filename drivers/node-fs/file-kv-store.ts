import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setImmediate } from 'node:timers';
import { type KvStore, type KvStoreOptions, openKvStore } from '../../kernel/kv/index.ts';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import { NodeStorageFile } from './storage-file.ts';

/**
 * The page cache of a KV store on local files unless told otherwise: 16,384 pages, 64 MiB of pages
 * (about twice that in memory once decoded). A server has the memory, and a store that fits its
 * cache answers reads without touching the file. The kernel's own default is smaller, for
 * browsers and Workers.
 */
export const FILE_KV_CACHE_PAGES_DEFAULT = 16_384;

/** The suffix of the commit log file next to the store's file. */
export const FILE_KV_LOG_SUFFIX = '-log';

/**
 * The suffix of the second commit log file, which lets checkpoints run while commits go on (see
 * KvStoreOptions.secondLog). A store opened without it (by a version before it) would miss the
 * commits only there, after a crash or a close (which leaves the commits since the last
 * checkpoint in the log they went to).
 */
export const FILE_KV_SECOND_LOG_SUFFIX = '-log2';

/**
 * One turn of the event loop, for two hooks of the store. The next commit group waits for it after
 * a group of several (KvStoreOptions.scheduleGroup): the callers it resolved commit again in the
 * microtasks before it, however many awaits each is behind, and join it. A checkpoint pauses for
 * it after each budget of work (KvStoreOptions.checkpointPause): the file's reads and writes are
 * synchronous, so without the turn commits, their log syncs' callbacks and reads would wait for
 * the whole checkpoint.
 */
function afterEventLoopTurn(callback: () => void): void {
  setImmediate(callback);
}

export interface FileKvStoreOptions extends Omit<KvStoreOptions, 'log' | 'secondLog'> {
  /**
   * Whether checkpoints pause for a turn of the event loop after each budget of work
   * (KvStoreOptions.checkpointPause, CHECKPOINT_PAUSE_WORK_BYTES), so that commits and reads
   * arriving meanwhile are served between its stretches: for a server, whose requests would
   * otherwise wait for a whole merge (150-270 ms on a 24 MiB buffer; the 3-node zone bench's
   * 256-client p99 went from 257-281 ms to 127 ms). Off by default: paced, the merge's remaining
   * work runs inside whatever the caller does next, and bench:kv's point reads right after a
   * checkpoint took 1.6-2.1 s instead of 0.6-0.9 s, so an embedded store runs each checkpoint in
   * one stretch, which costs least in all.
   */
  pacedCheckpoints?: boolean;
}

/**
 * The local Metastore of Node and Deno: the KV engine on the file at `path`, with its commit logs
 * in `path + FILE_KV_LOG_SUFFIX` and `path + FILE_KV_SECOND_LOG_SUFFIX` (all created, with their
 * directory, when missing). Durable commits append to a log and sync it; the tree file is synced
 * at checkpoints, which run while commits go on (see kernel/kv/commit-log.ts and kv-store.ts).
 * Always open a store together with its logs: the latest commits may be only there.
 */
export async function openFileKvStore(path: string, options: FileKvStoreOptions = {}): Promise<KvStore> {
  const { pacedCheckpoints = false, ...storeOptions } = options;
  if (typeof pacedCheckpoints !== 'boolean') {
    throw new InvalidArgumentError(`invalid pacedCheckpoints: expected a boolean, got ${typeof pacedCheckpoints}`);
  }
  await mkdir(dirname(path), { recursive: true });
  const opened: NodeStorageFile[] = [];
  try {
    for (const filePath of [path, `${path}${FILE_KV_LOG_SUFFIX}`, `${path}${FILE_KV_SECOND_LOG_SUFFIX}`]) opened.push(await NodeStorageFile.open(filePath));
    const [file, log, secondLog] = opened as [NodeStorageFile, NodeStorageFile, NodeStorageFile];
    const pacing = pacedCheckpoints ? {} : { checkpointPauseWorkBytes: Number.MAX_SAFE_INTEGER };
    return await openKvStore(file, {
      cachePages: FILE_KV_CACHE_PAGES_DEFAULT,
      scheduleGroup: afterEventLoopTurn,
      checkpointPause: afterEventLoopTurn,
      ...pacing,
      ...storeOptions,
      log,
      secondLog,
    });
  } catch (error) {
    await Promise.all(opened.map((file) => file.close()));
    throw error;
  }
}
