import { describe, expect, it } from 'vitest';
import { NullCacheStore } from './cache-store.ts';

/** How long the test waits for a delivery that must never come. */
const SETTLE_MS = 25;

describe('NullCacheStore', () => {
  it('stores nothing: every get misses, every delete finds nothing', async () => {
    const store = new NullCacheStore();
    await store.set('k', new Uint8Array([1, 2, 3]));
    await store.set('k', new Uint8Array([1]), { ttlMs: 60_000 });
    expect(await store.get('k')).toBeUndefined();
    expect(await store.delete('k')).toBe(false);
    await store.close();
  });

  it('delivers nothing, and unsubscribes idempotently', async () => {
    const store = new NullCacheStore();
    const received: Uint8Array[] = [];
    const unsubscribe = await store.subscribe('c', (message) => received.push(message));
    await store.publish('c', new Uint8Array([1]));
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(received).toEqual([]);
    await unsubscribe();
    await unsubscribe();
    await store.close();
    await store.close();
  });
});
