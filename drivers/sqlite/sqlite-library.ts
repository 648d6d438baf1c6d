import * as SQLite from '@journeyapps/wa-sqlite';
import createSqliteModule from '@journeyapps/wa-sqlite/dist/wa-sqlite.mjs';

/**
 * Where the SQLite WebAssembly comes from. The driver never finds the .wasm file itself, because
 * each runtime gets it differently (see `wasm/`):
 *
 * - `wasmModule`: an already compiled module. Cloudflare Workers forbid compiling WebAssembly from
 *   bytes at run time, so there it must come from a module import of the .wasm file. Elsewhere it
 *   is also the cheap choice when many stores are opened: each store instantiates the module
 *   without compiling it again.
 * - `wasmBinary`: the file's bytes (Node and Deno read the file, browsers fetch it). The bytes are
 *   compiled once per store; the caller keeps ownership of the buffer, which is only read.
 */
export type SqliteWasmSource = { wasmModule: WebAssembly.Module } | { wasmBinary: Uint8Array };

/**
 * The parts of the Emscripten module that the driver uses beside wa-sqlite's own API: the C
 * functions it calls directly where that API loses data (text with NUL characters, empty blobs)
 * and the heap those functions read and write.
 */
export interface SqliteWasmModule {
  /** A view of the current heap. Re-read it after every call: the heap may grow and move. */
  readonly HEAPU8: Uint8Array;
  /** The NUL-terminated UTF-8 string at `pointer` (a file name SQLite passes to a VFS). */
  UTF8ToString(pointer: number): string;
  _sqlite3_malloc(sizeBytes: number): number;
  _sqlite3_bind_text(statement: number, index: number, pointer: number, sizeBytes: number, destructor: number): number;
  _sqlite3_bind_zeroblob(statement: number, index: number, sizeBytes: number): number;
  _sqlite3_column_text(statement: number, index: number): number;
  _sqlite3_column_bytes(statement: number, index: number): number;
  _sqlite3_extended_result_codes(database: number, enabled: number): number;
  /**
   * The high 32 bits of the last 64-bit result: this build returns 64-bit integers as their low
   * 32 bits and leaves the high ones here.
   */
  getTempRet0(): number;
  /** The address of `sqlite3_free`, passed as the destructor of bound text. */
  _getSqliteFree(): number;
}

/** One instance of SQLite: its own WebAssembly memory, and wa-sqlite's API over it. */
export interface SqliteLibrary {
  readonly api: SQLiteAPI;
  readonly module: SqliteWasmModule;
}

/**
 * Instantiates SQLite from `source`. Each call makes a separate instance with its own memory, so
 * stores never share a heap and a closed store's memory is reclaimed with it.
 *
 * The synchronous build (wa-sqlite.mjs) is used: an in-memory database needs no asynchronous VFS,
 * and that build is smaller and faster than the Asyncify one.
 */
export async function loadSqliteLibrary(source: SqliteWasmSource): Promise<SqliteLibrary> {
  const wasmModule = 'wasmModule' in source ? source.wasmModule : await WebAssembly.compile(source.wasmBinary as BufferSource);
  const module = (await instantiateEmscripten(wasmModule)) as SqliteWasmModule;
  return { api: SQLite.Factory(module), module };
}

/**
 * Runs Emscripten's factory with `instantiateWasm`, so that it neither fetches nor compiles
 * anything itself (it would otherwise look for the .wasm file next to its own URL, which fails in
 * Workers and under bundlers). Emscripten has no way to report a failed `instantiateWasm`, so a
 * failure is raced against the factory's promise instead of leaving it pending forever.
 */
function instantiateEmscripten(wasmModule: WebAssembly.Module): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const instantiateWasm = (
      imports: WebAssembly.Imports,
      receiveInstance: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
    ): Record<string, never> => {
      WebAssembly.instantiate(wasmModule, imports).then(
        (instance) => receiveInstance(instance, wasmModule),
        reject,
      );
      // An empty object tells Emscripten that the exports will arrive through the callback.
      return {};
    };
    createSqliteModule({ instantiateWasm }).then(resolve, reject);
  });
}
