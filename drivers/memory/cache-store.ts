import { assert } from '../../kernel/assert.ts';
import { copyBytes } from '../../kernel/contracts/bytes.ts';
import { type CacheStore, type Clock, systemClock } from '../../kernel/contracts/cache-store.ts';
import { assertCacheBytes, assertCacheName, assertCacheSetOptions } from '../../kernel/contracts/cache-store-validation.ts';
import { ClosedError } from '../../kernel/errors.ts';

/** The most entries a MemoryCacheStore holds by default before it evicts the oldest. */
export const MEMORY_CACHE_ENTRIES_MAX = 100_000;

/**
 * How many entries each `set` examines for expiry. Reads already ignore expired entries; the sweep
 * only returns their memory, a little per write, so no single call pays for a full pass.
 */
export const MEMORY_CACHE_SWEEP_ENTRIES_PER_SET = 8;

export interface MemoryCacheStoreOptions {
  /** Where time comes from; `systemClock` when absent. */
  clock?: Clock;
  /** When a `set` would exceed this many entries, the oldest entry is evicted first. */
  entriesMax?: number;
}

interface CacheEntry {
  value: Uint8Array;
  /** The clock time from which the entry is gone; `undefined` when it has no TTL. */
  expiresAtMs: number | undefined;
}

interface Subscription {
  handler: (message: Uint8Array) => void;
  active: boolean;
}

/**
 * The reference CacheStore, for one process: entries in a map, expired lazily on read and by a
 * bounded sweep on write; pub/sub within this instance only.
 */
export class MemoryCacheStore implements CacheStore {
  readonly #clock: Clock;
  readonly #entriesMax: number;
  /** In insertion order, which is also eviction order: a `set` re-inserts its key at the end. */
  readonly #entries = new Map<string, CacheEntry>();
  /**
   * Where the sweep resumes. A Map iterator stays valid while the map changes and also visits keys
   * added after it was made, so one iterator walks the whole map across many sets.
   */
  #sweepIterator: Iterator<[string, CacheEntry]> | undefined;
  readonly #subscriptions = new Map<string, Set<Subscription>>();
  #closed = false;

  constructor(options: MemoryCacheStoreOptions = {}) {
    const entriesMax = options.entriesMax ?? MEMORY_CACHE_ENTRIES_MAX;
    assert(Number.isSafeInteger(entriesMax) && entriesMax >= 1, 'entriesMax must be a positive integer');
    this.#clock = options.clock ?? systemClock;
    this.#entriesMax = entriesMax;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.#assertOpen('get');
    assertCacheName(key, 'key');
    const entry = this.#live(key);
    return entry === undefined ? undefined : copyBytes(entry.value);
  }

  async set(key: string, value: Uint8Array, options?: { ttlMs?: number }): Promise<void> {
    this.#assertOpen('set');
    assertCacheName(key, 'key');
    assertCacheBytes(value, 'value');
    assertCacheSetOptions(options);
    const ttlMs = options?.ttlMs;
    this.#entries.delete(key);
    this.#entries.set(key, {
      value: copyBytes(value),
      expiresAtMs: ttlMs === undefined ? undefined : this.#clock.nowMs() + ttlMs,
    });
    this.#evictOverflow();
    this.#sweep();
  }

  async delete(key: string): Promise<boolean> {
    this.#assertOpen('delete');
    assertCacheName(key, 'key');
    const wasLive = this.#live(key) !== undefined;
    this.#entries.delete(key);
    return wasLive;
  }

  async publish(channel: string, message: Uint8Array): Promise<void> {
    this.#assertOpen('publish');
    assertCacheName(channel, 'channel');
    assertCacheBytes(message, 'message');
    for (const subscription of this.#subscriptions.get(channel) ?? []) deliverLater(subscription, message);
  }

  async subscribe(channel: string, handler: (message: Uint8Array) => void): Promise<() => Promise<void>> {
    this.#assertOpen('subscribe');
    assertCacheName(channel, 'channel');
    assert(typeof handler === 'function', 'subscribe needs a handler function');
    const subscription: Subscription = { handler, active: true };
    const channelSubscriptions = this.#subscriptions.get(channel) ?? new Set<Subscription>();
    channelSubscriptions.add(subscription);
    this.#subscriptions.set(channel, channelSubscriptions);
    return async () => this.#unsubscribe(channel, subscription);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const channelSubscriptions of this.#subscriptions.values()) {
      for (const subscription of channelSubscriptions) subscription.active = false;
    }
    this.#subscriptions.clear();
    this.#entries.clear();
  }

  /** The entry under `key` unless it has expired; an expired entry is dropped on the way. */
  #live(key: string): CacheEntry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (!this.#hasExpired(entry)) return entry;
    this.#entries.delete(key);
    return undefined;
  }

  #hasExpired(entry: CacheEntry): boolean {
    return entry.expiresAtMs !== undefined && this.#clock.nowMs() >= entry.expiresAtMs;
  }

  #evictOverflow(): void {
    while (this.#entries.size > this.#entriesMax) {
      const oldestKey = this.#entries.keys().next().value!;
      this.#entries.delete(oldestKey);
    }
  }

  /** Examines the next few entries in map order and drops the expired ones. */
  #sweep(): void {
    for (let examined = 0; examined < MEMORY_CACHE_SWEEP_ENTRIES_PER_SET; examined++) {
      this.#sweepIterator ??= this.#entries.entries();
      const next = this.#sweepIterator.next();
      if (next.done) {
        this.#sweepIterator = undefined;
        return;
      }
      const [key, entry] = next.value;
      if (this.#hasExpired(entry)) this.#entries.delete(key);
    }
  }

  #unsubscribe(channel: string, subscription: Subscription): void {
    subscription.active = false;
    const channelSubscriptions = this.#subscriptions.get(channel);
    if (channelSubscriptions === undefined) return;
    channelSubscriptions.delete(subscription);
    if (channelSubscriptions.size === 0) this.#subscriptions.delete(channel);
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new ClosedError(`cannot ${operation}: the memory cache store is closed`);
  }
}

/**
 * Copies the message now (the publisher may reuse its buffer once `publish` returns) and calls the
 * handler in a microtask of its own: never inside `publish`, in publish order (microtasks
 * run first in, first out), and a handler that throws is reported by the runtime like any uncaught
 * error without keeping the message from other subscribers. A subscription ended before its turn
 * is skipped, which is the contract's "not called again once unsubscribe has resolved".
 */
function deliverLater(subscription: Subscription, message: Uint8Array): void {
  const copy = copyBytes(message);
  queueMicrotask(() => {
    if (subscription.active) subscription.handler(copy);
  });
}
