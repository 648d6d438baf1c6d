import { describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../kernel/contracts/object-store.ts';
import { runObjectStoreSuite } from '../../test/conformance/object-store-suite.ts';
import { utf8 } from '../../test/conformance/test-bytes.ts';
import { MemoryObjectStore } from './object-store.ts';

runObjectStoreSuite('MemoryObjectStore', async () => new MemoryObjectStore(), {
  reopen: async (closed: ObjectStore) => MemoryObjectStore.fromImage((closed as MemoryObjectStore).image()),
});

describe('MemoryObjectStore beyond the contract', () => {
  it('hands out its image as copies, even after close, and reopens from them under the same ids', async () => {
    const store = new MemoryObjectStore();
    const { id } = await store.put(utf8('blob'));
    await store.close();
    const image = store.image();
    const reopened = await MemoryObjectStore.fromImage(image);
    image[0]!.fill(0x7a);
    expect(store.image()).toEqual([utf8('blob')]);
    expect(await reopened.get(id)).toEqual(utf8('blob'));
    await reopened.close();
  });

  it('refuses with EINVAL an image holding something that is not bytes', async () => {
    await expect(MemoryObjectStore.fromImage(['blob' as unknown as Uint8Array])).rejects.toMatchObject({ code: 'EINVAL' });
  });
});
