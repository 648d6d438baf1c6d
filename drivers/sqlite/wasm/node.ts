import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { SqliteWasmSource } from '../sqlite-library.ts';

/**
 * The SQLite WebAssembly in Node and Deno (through Deno's `node:` modules): read from the
 * installed package and compiled once per process; every store instantiates that one module.
 */

let compiled: Promise<WebAssembly.Module> | undefined;

export async function loadSqliteWasm(): Promise<SqliteWasmSource> {
  // A failure is not remembered, so a later call tries again.
  compiled ??= compileFromPackage().catch((error: unknown) => {
    compiled = undefined;
    throw error;
  });
  return { wasmModule: await compiled };
}

async function compileFromPackage(): Promise<WebAssembly.Module> {
  // The package has no `exports` map, so any file in it resolves by its path.
  const path = createRequire(import.meta.url).resolve('@journeyapps/wa-sqlite/dist/wa-sqlite.wasm');
  return WebAssembly.compile(await readFile(path));
}
