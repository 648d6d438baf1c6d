export { MemoryMetastore, type MemoryMetastoreImage } from './metastore.ts';
export { MEMORY_OBJECT_STREAM_CHUNK_BYTES, MemoryObjectStore } from './object-store.ts';
export {
  MEMORY_CACHE_ENTRIES_MAX,
  MEMORY_CACHE_SWEEP_ENTRIES_PER_SET,
  MemoryCacheStore,
  type MemoryCacheStoreOptions,
} from './cache-store.ts';
export { createMemoryRecordStore, type MemoryRecordStoreOptions } from './record-store.ts';
export { MEMORY_STORAGE_FILE_BYTES_MAX, MemoryStorageFile } from './storage-file.ts';
