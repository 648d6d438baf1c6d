export * from './metastore.ts';
export * from './object-store.ts';
export * from './cache-store.ts';
export * from './record-store.ts';
