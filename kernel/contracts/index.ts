export * from './metastore.ts';
export * from './object-store.ts';
export * from './cache-store.ts';
export * from './record-store.ts';
// Helpers every driver of these contracts shares, so that all of them agree on order and inputs.
export * from './bytes.ts';
export * from './page-limit.ts';
export * from './metastore-cursor.ts';
export * from './metastore-validation.ts';
export * from './object-store-validation.ts';
export * from './cache-store-validation.ts';
export * from './storage-file.ts';
export * from './storage-file-validation.ts';
