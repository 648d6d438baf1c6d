import type { RecordStore } from '../../kernel/contracts/record-store.ts';
import { createSqliteRecordStore, loadSqliteWasm, type SqliteWasmSource } from '../sqlite/index.ts';

export interface MemoryRecordStoreOptions {
  /** The SQLite WebAssembly; by default the one `loadSqliteWasm()` finds for this runtime. */
  wasm?: SqliteWasmSource;
}

/**
 * The memory RecordStore, the reference for the relational pillar: an empty SQLite database in
 * memory (wa-sqlite, the same engine as the persistent SQLite driver), gone after `close()`.
 */
export async function createMemoryRecordStore(options: MemoryRecordStoreOptions = {}): Promise<RecordStore> {
  return createSqliteRecordStore({ wasm: options.wasm ?? (await loadSqliteWasm()) });
}
