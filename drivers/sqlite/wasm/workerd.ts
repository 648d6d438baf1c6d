// Workers forbid compiling WebAssembly from bytes at run time; a module import of the .wasm file
// is compiled when the Worker is deployed (wrangler's CompiledWasm rule) and arrives here compiled.
import wasmModule from '@journeyapps/wa-sqlite/dist/wa-sqlite.wasm';
import type { SqliteWasmSource } from '../sqlite-library.ts';

/** The SQLite WebAssembly in Cloudflare Workers (workerd). */
export async function loadSqliteWasm(): Promise<SqliteWasmSource> {
  return { wasmModule };
}
