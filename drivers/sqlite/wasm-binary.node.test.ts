import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { expect, it } from 'vitest';
import { createSqliteRecordStore } from './index.ts';

it('opens a store from the .wasm file bytes (wasmBinary)', async () => {
  const path = createRequire(import.meta.url).resolve('@journeyapps/wa-sqlite/dist/wa-sqlite.wasm');
  const store = await createSqliteRecordStore({ wasm: { wasmBinary: new Uint8Array(await readFile(path)) } });
  try {
    const rows = await store.db.selectNoFrom((expression) => expression.val(42).as('answer')).execute();
    expect(rows).toEqual([{ answer: 42 }]);
  } finally {
    await store.close();
  }
});

it('rejects bytes that are not WebAssembly', async () => {
  await expect(createSqliteRecordStore({ wasm: { wasmBinary: new Uint8Array([1, 2, 3]) } })).rejects.toThrow();
});
