export { LOCAL_OBJECT_STREAM_CHUNK_BYTES, LocalObjectStore, type LocalObjectStoreOptions } from './local-object-store.ts';
export { NodeStorageFile } from './storage-file.ts';
export { FILE_KV_CACHE_PAGES_DEFAULT, FILE_KV_LOG_SUFFIX, FILE_KV_SECOND_LOG_SUFFIX, type FileKvStoreOptions, openFileKvStore } from './file-kv-store.ts';
