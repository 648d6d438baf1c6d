// The bundler (Vite's `?url`) copies the .wasm file next to the app and gives its URL.
import wasmUrl from '@journeyapps/wa-sqlite/dist/wa-sqlite.wasm?url';
import type { SqliteWasmSource } from '../sqlite-library.ts';

/**
 * The SQLite WebAssembly in browsers and browser Workers: fetched once per page and compiled
 * once; every store instantiates that one module.
 */

let compiled: Promise<WebAssembly.Module> | undefined;

export async function loadSqliteWasm(): Promise<SqliteWasmSource> {
  // A failure is not remembered, so a later call tries again.
  compiled ??= fetchAndCompile().catch((error: unknown) => {
    compiled = undefined;
    throw error;
  });
  return { wasmModule: await compiled };
}

async function fetchAndCompile(): Promise<WebAssembly.Module> {
  const response = await fetch(wasmUrl);
  if (!response.ok) {
    throw new Error(`cannot load the SQLite WebAssembly from ${wasmUrl}: HTTP ${response.status}`);
  }
  // Not compileStreaming: it insists on the application/wasm content type, which not every
  // server sends.
  return WebAssembly.compile(await response.arrayBuffer());
}
