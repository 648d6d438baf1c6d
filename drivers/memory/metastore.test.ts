import { describe, expect, it } from 'vitest';
import type { Metastore } from '../../kernel/contracts/metastore.ts';
import { runMetastoreSuite } from '../../test/conformance/metastore-suite.ts';
import { utf8 } from '../../test/conformance/test-bytes.ts';
import { MemoryMetastore } from './metastore.ts';

runMetastoreSuite('MemoryMetastore', async () => new MemoryMetastore(), {
  reopen: async (closed: Metastore) => new MemoryMetastore((closed as MemoryMetastore).image()),
});

describe('MemoryMetastore beyond the contract', () => {
  it('hands out its image as a copy, even after close, and starts from a copy of one', async () => {
    const store = new MemoryMetastore();
    await store.put(utf8('a'), utf8('1'));
    await store.close();
    const image = store.image();
    const reopened = new MemoryMetastore(image);
    image.entries[0]!.value.fill(0x7a);
    expect(store.image().entries[0]!.value).toEqual(utf8('1'));
    expect(await reopened.get(utf8('a'))).toEqual({ key: utf8('a'), value: utf8('1'), version: 1 });
    await reopened.close();
  });

  it('refuses with EINVAL an image whose keys are out of order or repeated, or whose versions are out of range', () => {
    const entry = (key: string, version: number) => ({ key: utf8(key), value: utf8('v'), version });
    const refused = [
      { entries: [entry('b', 1), entry('a', 2)], lastVersion: 2 },
      { entries: [entry('a', 1), entry('a', 2)], lastVersion: 2 },
      { entries: [entry('a', 3)], lastVersion: 2 },
      { entries: [entry('a', 0)], lastVersion: 2 },
      { entries: [entry('a', 1.5)], lastVersion: 2 },
      { entries: [entry('', 1)], lastVersion: 1 },
      { entries: [], lastVersion: -1 },
    ];
    for (const image of refused) expect(() => new MemoryMetastore(image), JSON.stringify(image)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
