/**
 * CacheStore: the ephemeral pillar. Keys are strings, values bytes, each with an optional time to
 * live; channels carry published messages to every current subscriber. Nothing in it is durable:
 * a restart or an eviction may drop any entry at any time, so callers keep the truth elsewhere
 * (Metastore, RecordStore) and use this only to go faster or to notify.
 *
 * It is optional: when none is configured the kernel uses `NullCacheStore`, which stores nothing
 * and delivers nothing, and every consumer must still be correct (only slower) with it.
 *
 * Time comes from the injected `Clock`, so expiry is testable without waiting. An entry whose TTL
 * has run out is never returned, whether or not it has been evicted yet: an entry set at time `t`
 * with `ttlMs` is returned while the clock reads less than `t + ttlMs`, and never from then on.
 * A `set` replaces the entry and its TTL (a `set` without `ttlMs` keeps the entry until evicted).
 *
 * Buffers: values and messages are copied on `set` and `publish`; returned values, and the message
 * each handler receives, belong to the caller (every handler gets its own copy).
 *
 * Pub/sub: a message published after `subscribe` resolved reaches that subscriber once, and messages
 * on one channel from one publisher arrive in the order published. A message published with no
 * subscriber is dropped. Handlers are called asynchronously, never inside `publish`. Once the
 * function `subscribe` returned has resolved, the handler is not called again, not even for
 * messages published before; calling it again, or after `close()`, resolves and does nothing.
 *
 * Limits: keys and channel names are 1..`CACHE_STORE_KEY_BYTES_MAX` bytes of UTF-8, values and
 * messages 0..`CACHE_STORE_VALUE_BYTES_MAX` bytes.
 *
 * Errors: InvalidArgumentError (EINVAL) for an empty or oversized key or channel, an oversized value
 * or message, or a TTL that is not a positive integer; ClosedError (ECLOSED) after `close()`.
 */
export interface CacheStore {
  get(key: string): Promise<Uint8Array | undefined>;

  /** Stores the value; with `ttlMs` it expires that many milliseconds from now. */
  set(key: string, value: Uint8Array, options?: { ttlMs?: number }): Promise<void>;

  /** Returns whether an entry was there (an expired entry is not). */
  delete(key: string): Promise<boolean>;

  publish(channel: string, message: Uint8Array): Promise<void>;

  /** Registers `handler` for the channel; the returned function unsubscribes (idempotent). */
  subscribe(channel: string, handler: (message: Uint8Array) => void): Promise<() => Promise<void>>;

  /** Releases the store; subscriptions end. Every later call throws ClosedError. Idempotent. */
  close(): Promise<void>;
}

/** The clock every component reads time from; injected so tests and simulations control time. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

export const CACHE_STORE_KEY_BYTES_MAX = 1024;
export const CACHE_STORE_VALUE_BYTES_MAX = 8 * 1024 * 1024;

/**
 * The CacheStore used when none is configured: stores nothing and delivers nothing. It checks
 * nothing either, so consumers should be tested against a real store too.
 */
export class NullCacheStore implements CacheStore {
  async get(_key: string): Promise<Uint8Array | undefined> {
    return undefined;
  }
  async set(_key: string, _value: Uint8Array, _options?: { ttlMs?: number }): Promise<void> {}
  async delete(_key: string): Promise<boolean> {
    return false;
  }
  async publish(_channel: string, _message: Uint8Array): Promise<void> {}
  async subscribe(_channel: string, _handler: (message: Uint8Array) => void): Promise<() => Promise<void>> {
    return async () => {};
  }
  async close(): Promise<void> {}
}
