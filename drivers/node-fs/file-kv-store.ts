import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setImmediate } from 'node:timers';
import { type KvStore, type KvStoreOptions, openKvStore } from '../../kernel/kv/index.ts';
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
 * The next commit group waits one turn of the event loop after a group of several (see
 * KvStoreOptions.scheduleGroup): the callers it resolved commit again in the microtasks before it,
 * however many awaits each is behind, and join it.
 */
function scheduleGroupAfterCallers(takeGroup: () => void): void {
  setImmediate(takeGroup);
}

/**
 * The local Metastore of Node and Deno: the KV engine on the file at `path`, with its commit log
 * in `path + FILE_KV_LOG_SUFFIX` (both created, with their directory, when missing). Durable commits append to the log and
 * sync it; the tree file is synced at checkpoints (see kernel/kv/commit-log.ts). Always open a
 * store together with its log: the latest commits may be only there.
 */
export async function openFileKvStore(path: string, options: Omit<KvStoreOptions, 'log'> = {}): Promise<KvStore> {
  await mkdir(dirname(path), { recursive: true });
  const file = await NodeStorageFile.open(path);
  let log: NodeStorageFile;
  try {
    log = await NodeStorageFile.open(`${path}${FILE_KV_LOG_SUFFIX}`);
  } catch (error) {
    await file.close();
    throw error;
  }
  try {
    return await openKvStore(file, { cachePages: FILE_KV_CACHE_PAGES_DEFAULT, scheduleGroup: scheduleGroupAfterCallers, ...options, log });
  } catch (error) {
    await Promise.all([file.close(), log.close()]);
    throw error;
  }
}
