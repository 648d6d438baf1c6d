import { describe, expect, it } from 'vitest';
import type { StorageFile } from '../../kernel/contracts/storage-file.ts';
import { runStorageFileSuite } from '../../test/conformance/storage-file-suite.ts';
import { utf8 } from '../../test/conformance/test-bytes.ts';
import { MEMORY_STORAGE_FILE_BYTES_MAX, MemoryStorageFile } from './storage-file.ts';

runStorageFileSuite('MemoryStorageFile', async () => new MemoryStorageFile(), {
  reopen: async (closed: StorageFile) => new MemoryStorageFile((closed as MemoryStorageFile).image()),
});

describe('MemoryStorageFile beyond the contract', () => {
  it('starts from a copy of its initial image', async () => {
    const initial = utf8('image');
    const file = new MemoryStorageFile(initial);
    initial.fill(0x7a);
    expect(await file.read(0, 10)).toEqual(utf8('image'));
    await file.close();
  });

  it('hands out its image as a copy, even after close', async () => {
    const file = new MemoryStorageFile();
    await file.write(2, utf8('ab'));
    await file.close();
    const image = file.image();
    image.fill(0x7a);
    expect(file.image()).toEqual(Uint8Array.from([0, 0, 0x61, 0x62]));
  });

  it('fails like a full disk, with a RangeError, when it would grow past its limit', async () => {
    const file = new MemoryStorageFile();
    await expect(file.write(MEMORY_STORAGE_FILE_BYTES_MAX, utf8('x'))).rejects.toBeInstanceOf(RangeError);
    await expect(file.truncate(MEMORY_STORAGE_FILE_BYTES_MAX + 1)).rejects.toBeInstanceOf(RangeError);
    expect(await file.size()).toBe(0);
    await file.close();
  });
});
