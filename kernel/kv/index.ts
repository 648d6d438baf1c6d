/**
 * The ordered KV engine: a copy-on-write B+tree over fixed-size pages in a StorageFile, and the
 * default local Metastore. See kv-store.ts for the design and the guarantees.
 */
export { openKvStore } from './kv-store.ts';
export type {
  KvCommitOptions,
  KvDurability,
  KvSnapshot,
  KvStore,
  KvStoreOptions,
  KvStoreStats,
} from './kv-store-types.ts';
export { CACHE_PAGES_DEFAULT, PAGE_BYTES } from './constants.ts';
