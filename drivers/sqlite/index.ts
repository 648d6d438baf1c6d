/**
 * The SQLite RecordStore driver: SQLite compiled to WebAssembly (wa-sqlite), through Kysely.
 * `loadSqliteWasm` finds the WebAssembly for the runtime this module was resolved for (see the
 * `#sqlite-wasm` entry of package.json `imports`).
 */
export { createSqliteRecordStore, type SqliteRecordStoreOptions } from './sqlite-record-store.ts';
export type { SqliteWasmSource } from './sqlite-library.ts';
export { loadSqliteWasm } from '#sqlite-wasm';
