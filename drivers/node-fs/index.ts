export { LOCAL_OBJECT_STREAM_CHUNK_BYTES, LocalObjectStore, type LocalObjectStoreOptions } from './local-object-store.ts';
export { NodeStorageFile } from './storage-file.ts';
