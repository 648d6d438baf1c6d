import { describe, expect, it } from 'vitest';
import { runCacheStoreSuite } from '../../test/conformance/cache-store-suite.ts';
import { ManualClock } from '../../test/conformance/manual-clock.ts';
import { utf8 } from '../../test/conformance/test-bytes.ts';
import { MemoryCacheStore } from './cache-store.ts';

runCacheStoreSuite('MemoryCacheStore', async (clock) => new MemoryCacheStore({ clock }));

describe('MemoryCacheStore beyond the contract', () => {
  it('evicts the oldest entry when a set would exceed entriesMax', async () => {
    const store = new MemoryCacheStore({ clock: new ManualClock(), entriesMax: 2 });
    await store.set('a', utf8('1'));
    await store.set('b', utf8('2'));
    await store.set('a', utf8('3')); // a set makes its key the newest again
    await store.set('c', utf8('4'));
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('a')).toBeDefined();
    expect(await store.get('c')).toBeDefined();
    await store.close();
  });
});
