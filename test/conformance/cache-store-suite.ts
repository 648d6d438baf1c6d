import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CACHE_STORE_KEY_BYTES_MAX, CACHE_STORE_VALUE_BYTES_MAX, type CacheStore } from '../../kernel/contracts/cache-store.ts';
import { ManualClock } from './manual-clock.ts';
import { fromUtf8, utf8 } from './test-bytes.ts';

/**
 * The CacheStore conformance suite: every CacheStore driver's test calls `runCacheStoreSuite` with
 * a factory that opens a fresh, empty store reading time from the ManualClock it is given, in every
 * runtime where the driver exists. Each test checks one sentence of the contract in
 * kernel/contracts/cache-store.ts.
 */
export interface CacheStoreSuiteCapabilities {
  /**
   * False for stores whose entries expire by a clock of their own (a Redis server's), which a test
   * cannot move; the TTL tests then skip with that reason. True when absent.
   */
  clockDrivesExpiry?: boolean;
}

interface CacheStoreSuiteContext {
  store(): CacheStore;
  clock(): ManualClock;
  capabilities: CacheStoreSuiteCapabilities;
}

/** How long a test waits for a message that must arrive before it calls the delivery lost. */
const DELIVERY_WAIT_MS = 5_000;
/** How often a waiting test looks again. */
const DELIVERY_POLL_MS = 2;
/**
 * How long a test waits to be confident a message that must not arrive did not. Only used after a
 * message published later on the same channel has already arrived elsewhere.
 */
const SETTLE_MS = 25;

const MESSAGES_IN_ORDER = 50;
const TTL_MS = 1_000;

export function runCacheStoreSuite(
  name: string,
  factory: (clock: ManualClock) => Promise<CacheStore>,
  capabilities: CacheStoreSuiteCapabilities = {},
): void {
  describe(`CacheStore conformance: ${name}`, () => {
    let current: { store: CacheStore; clock: ManualClock } | undefined;
    const context: CacheStoreSuiteContext = {
      store: () => current!.store,
      clock: () => current!.clock,
      capabilities,
    };
    beforeEach(async () => {
      const clock = new ManualClock();
      current = { store: await factory(clock), clock };
    });
    afterEach(async () => {
      await current?.store.close();
      current = undefined;
    });

    describe('get, set, delete', () => describeEntries(context));
    describe('time to live', () => describeTimeToLive(context));
    describe('publish and subscribe', () => describePubSub(context));
    describe('limits and bad input', () => describeBadInput(context));
    describe('buffer ownership', () => describeBufferOwnership(context));
    describe('close', () => describeClose(context));
  });
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code });
}

async function sleep(durationMs: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, durationMs));
}

/** Waits, on real time, until `condition` holds; fails the test if it does not within the bound. */
async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  for (let waitedMs = 0; waitedMs < DELIVERY_WAIT_MS; waitedMs += DELIVERY_POLL_MS) {
    if (condition()) return;
    await sleep(DELIVERY_POLL_MS);
  }
  throw new Error(`gave up after ${DELIVERY_WAIT_MS} ms waiting until ${what}`);
}

/** A handler that records every message it receives as text. */
function recorder(): { handler: (message: Uint8Array) => void; received: string[] } {
  const received: string[] = [];
  return { handler: (message) => received.push(fromUtf8(message)), received };
}

// ---------------------------------------------------------------------------------------------
// get, set, delete

function describeEntries(context: CacheStoreSuiteContext): void {
  it('returns undefined for a key never set', async () => {
    expect(await context.store().get('absent')).toBeUndefined();
  });

  it('returns what set stored, and the latest of two sets', async () => {
    const store = context.store();
    await store.set('k', utf8('first'));
    expect(fromUtf8((await store.get('k'))!)).toBe('first');
    await store.set('k', utf8('second'));
    expect(fromUtf8((await store.get('k'))!)).toBe('second');
  });

  it('stores an empty value, which is not the same as absent', async () => {
    const store = context.store();
    await store.set('empty', new Uint8Array(0));
    expect((await store.get('empty'))?.length).toBe(0);
  });

  it('stores only the visible bytes of a Uint8Array view', async () => {
    const store = context.store();
    await store.set('view', utf8('xxvaluexx').subarray(2, 7));
    expect(fromUtf8((await store.get('view'))!)).toBe('value');
  });

  it('tells keys apart exactly, including unicode and case', async () => {
    const store = context.store();
    await store.set('Key', utf8('upper'));
    await store.set('key', utf8('lower'));
    await store.set('k\u00e9y', utf8('accent'));
    expect(fromUtf8((await store.get('Key'))!)).toBe('upper');
    expect(fromUtf8((await store.get('key'))!)).toBe('lower');
    expect(fromUtf8((await store.get('k\u00e9y'))!)).toBe('accent');
  });

  it('deletes an entry and says whether one was there', async () => {
    const store = context.store();
    await store.set('k', utf8('v'));
    expect(await store.delete('k')).toBe(true);
    expect(await store.get('k')).toBeUndefined();
    expect(await store.delete('k')).toBe(false);
    expect(await store.delete('never')).toBe(false);
  });
}

// ---------------------------------------------------------------------------------------------
// time to live

const NO_CLOCK = 'the driver declares that entries expire by a clock of its own, which the test cannot move';

function describeTimeToLive(context: CacheStoreSuiteContext): void {
  const manualExpiry = context.capabilities.clockDrivesExpiry !== false;

  it('returns an entry until its TTL has run out, and never from then on', async (test) => {
    test.skip(!manualExpiry, NO_CLOCK);
    const store = context.store();
    await store.set('k', utf8('v'), { ttlMs: TTL_MS });
    context.clock().advance(TTL_MS - 1);
    expect(await store.get('k')).toBeDefined();
    context.clock().advance(1);
    expect(await store.get('k')).toBeUndefined();
    context.clock().advance(TTL_MS);
    expect(await store.get('k')).toBeUndefined();
  });

  it('keeps an entry without a TTL however much time passes', async (test) => {
    test.skip(!manualExpiry, NO_CLOCK);
    const store = context.store();
    await store.set('k', utf8('v'));
    context.clock().advance(365 * 24 * 60 * 60 * 1000);
    expect(fromUtf8((await store.get('k'))!)).toBe('v');
  });

  it('expires each entry by its own TTL', async (test) => {
    test.skip(!manualExpiry, NO_CLOCK);
    const store = context.store();
    await store.set('short', utf8('v'), { ttlMs: 10 });
    context.clock().advance(5);
    await store.set('long', utf8('v'), { ttlMs: 10 });
    context.clock().advance(5);
    expect(await store.get('short')).toBeUndefined();
    expect(await store.get('long')).toBeDefined();
    context.clock().advance(5);
    expect(await store.get('long')).toBeUndefined();
  });

  it('replaces the TTL on every set', async (test) => {
    test.skip(!manualExpiry, NO_CLOCK);
    const store = context.store();
    await store.set('made-permanent', utf8('v'), { ttlMs: 10 });
    await store.set('made-permanent', utf8('v'));
    await store.set('given-ttl', utf8('v'));
    await store.set('given-ttl', utf8('v'), { ttlMs: 10 });
    await store.set('extended', utf8('v'), { ttlMs: 10 });
    context.clock().advance(5);
    await store.set('extended', utf8('v'), { ttlMs: 10 });
    context.clock().advance(9);
    expect(await store.get('made-permanent')).toBeDefined();
    expect(await store.get('given-ttl')).toBeUndefined();
    expect(await store.get('extended')).toBeDefined();
  });

  it('says an expired entry was not there when deleting it', async (test) => {
    test.skip(!manualExpiry, NO_CLOCK);
    const store = context.store();
    await store.set('k', utf8('v'), { ttlMs: 10 });
    context.clock().advance(10);
    expect(await store.delete('k')).toBe(false);
  });

  it('stores a key again after its entry expired', async (test) => {
    test.skip(!manualExpiry, NO_CLOCK);
    const store = context.store();
    await store.set('k', utf8('old'), { ttlMs: 10 });
    context.clock().advance(10);
    await store.set('k', utf8('new'));
    expect(fromUtf8((await store.get('k'))!)).toBe('new');
  });

  it('rejects a TTL that is not a positive integer with EINVAL, storing nothing', async () => {
    const store = context.store();
    for (const ttlMs of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10' as unknown as number]) {
      await expectCode(store.set('k', utf8('v'), { ttlMs }), 'EINVAL');
    }
    expect(await store.get('k')).toBeUndefined();
  });
}

// ---------------------------------------------------------------------------------------------
// publish and subscribe

function describePubSub(context: CacheStoreSuiteContext): void {
  it('delivers a published message to a subscriber', async () => {
    const store = context.store();
    const { handler, received } = recorder();
    await store.subscribe('news', handler);
    await store.publish('news', utf8('hello'));
    await waitUntil(() => received.length === 1, 'the message arrives');
    expect(received).toEqual(['hello']);
  });

  it('delivers messages from one publisher on one channel in the order published', async () => {
    const store = context.store();
    const { handler, received } = recorder();
    await store.subscribe('ordered', handler);
    const sent = Array.from({ length: MESSAGES_IN_ORDER }, (_, index) => `message ${index}`);
    await Promise.all(sent.map((message) => store.publish('ordered', utf8(message))));
    await waitUntil(() => received.length === sent.length, 'every message arrives');
    expect(received).toEqual(sent);
  });

  it('never calls a handler inside publish', async () => {
    const store = context.store();
    const { handler, received } = recorder();
    await store.subscribe('async', handler);
    const publishing = store.publish('async', utf8('later'));
    expect(received).toEqual([]);
    await publishing;
    await waitUntil(() => received.length === 1, 'the message arrives');
  });

  it('delivers every message once to every subscriber of the channel', async () => {
    const store = context.store();
    const first = recorder();
    const second = recorder();
    await store.subscribe('fanout', first.handler);
    await store.subscribe('fanout', second.handler);
    await store.publish('fanout', utf8('a'));
    await store.publish('fanout', utf8('b'));
    await waitUntil(() => first.received.length >= 2 && second.received.length >= 2, 'both subscribers have both');
    await sleep(SETTLE_MS);
    expect(first.received).toEqual(['a', 'b']);
    expect(second.received).toEqual(['a', 'b']);
  });

  it('keeps channels apart', async () => {
    const store = context.store();
    const red = recorder();
    const blue = recorder();
    await store.subscribe('red', red.handler);
    await store.subscribe('blue', blue.handler);
    await store.publish('red', utf8('for red'));
    await store.publish('blue', utf8('for blue'));
    await waitUntil(() => red.received.length === 1 && blue.received.length === 1, 'each channel has its message');
    await sleep(SETTLE_MS);
    expect(red.received).toEqual(['for red']);
    expect(blue.received).toEqual(['for blue']);
  });

  it('drops a message published with no subscriber, and does not deliver it to a later one', async () => {
    const store = context.store();
    await store.publish('empty-room', utf8('nobody hears this'));
    const { handler, received } = recorder();
    await store.subscribe('empty-room', handler);
    await store.publish('empty-room', utf8('heard'));
    await waitUntil(() => received.length >= 1, 'the later message arrives');
    await sleep(SETTLE_MS);
    expect(received).toEqual(['heard']);
  });

  it('stops delivering once unsubscribe resolves, even messages published before it', async () => {
    const store = context.store();
    const leaving = recorder();
    const staying = recorder();
    const unsubscribe = await store.subscribe('room', leaving.handler);
    await store.subscribe('room', staying.handler);
    const publishing = store.publish('room', utf8('in flight'));
    await unsubscribe();
    await publishing;
    await store.publish('room', utf8('after'));
    await waitUntil(() => staying.received.length === 2, 'the staying subscriber has both messages');
    await sleep(SETTLE_MS);
    expect(leaving.received).toEqual([]);
  });

  it('unsubscribes idempotently', async () => {
    const store = context.store();
    const { handler, received } = recorder();
    const unsubscribe = await store.subscribe('room', handler);
    await unsubscribe();
    await unsubscribe();
    await store.publish('room', utf8('unheard'));
    await sleep(SETTLE_MS);
    expect(received).toEqual([]);
  });

  it('ends only the subscription that unsubscribed', async () => {
    const store = context.store();
    const first = recorder();
    const second = recorder();
    const unsubscribeFirst = await store.subscribe('room', first.handler);
    await store.subscribe('room', second.handler);
    await unsubscribeFirst();
    await store.publish('room', utf8('still here'));
    await waitUntil(() => second.received.length === 1, 'the remaining subscriber has the message');
    await sleep(SETTLE_MS);
    expect(first.received).toEqual([]);
  });
}

// ---------------------------------------------------------------------------------------------
// limits and bad input

/** 'é' is two bytes of UTF-8: the limit is on bytes, not characters. */
const KEY_OF_MAX_BYTES = '\u00e9'.repeat(CACHE_STORE_KEY_BYTES_MAX / 2);
const KEY_ONE_BYTE_TOO_LONG = `${KEY_OF_MAX_BYTES}x`;

function describeBadInput(context: CacheStoreSuiteContext): void {
  it('accepts keys and channels of exactly the maximum number of UTF-8 bytes', async () => {
    const store = context.store();
    await store.set(KEY_OF_MAX_BYTES, utf8('v'));
    expect(fromUtf8((await store.get(KEY_OF_MAX_BYTES))!)).toBe('v');
    const { handler, received } = recorder();
    await store.subscribe(KEY_OF_MAX_BYTES, handler);
    await store.publish(KEY_OF_MAX_BYTES, utf8('m'));
    await waitUntil(() => received.length === 1, 'the message arrives');
  });

  it('rejects empty, oversized and non-string keys with EINVAL', async () => {
    const store = context.store();
    for (const key of ['', KEY_ONE_BYTE_TOO_LONG, 42 as unknown as string]) {
      await expectCode(store.get(key), 'EINVAL');
      await expectCode(store.set(key, utf8('v')), 'EINVAL');
      await expectCode(store.delete(key), 'EINVAL');
    }
  });

  it('rejects empty, oversized and non-string channels with EINVAL', async () => {
    const store = context.store();
    for (const channel of ['', KEY_ONE_BYTE_TOO_LONG, null as unknown as string]) {
      await expectCode(store.publish(channel, utf8('m')), 'EINVAL');
      await expectCode(store.subscribe(channel, () => {}), 'EINVAL');
    }
  });

  it('rejects oversized and non-byte values and messages with EINVAL', async () => {
    const store = context.store();
    const tooBig = new Uint8Array(CACHE_STORE_VALUE_BYTES_MAX + 1);
    for (const bytes of [tooBig, 'text' as unknown as Uint8Array]) {
      await expectCode(store.set('k', bytes), 'EINVAL');
      await expectCode(store.publish('channel', bytes), 'EINVAL');
    }
    expect(await store.get('k')).toBeUndefined();
  });
}

// ---------------------------------------------------------------------------------------------
// buffer ownership

function describeBufferOwnership(context: CacheStoreSuiteContext): void {
  it('keeps what set stored when the caller changes its buffer afterwards', async () => {
    const store = context.store();
    const value = utf8('original');
    await store.set('k', value);
    value.fill(0x7a);
    expect(fromUtf8((await store.get('k'))!)).toBe('original');
  });

  it('is not changed when the caller changes a value it got', async () => {
    const store = context.store();
    await store.set('k', utf8('original'));
    (await store.get('k'))!.fill(0x7a);
    expect(fromUtf8((await store.get('k'))!)).toBe('original');
  });

  it('delivers the message as published even when the publisher reuses its buffer at once', async () => {
    const store = context.store();
    const { handler, received } = recorder();
    await store.subscribe('c', handler);
    const message = utf8('original');
    const publishing = store.publish('c', message);
    message.fill(0x7a);
    await publishing;
    await waitUntil(() => received.length === 1, 'the message arrives');
    expect(received).toEqual(['original']);
  });

  it('gives every handler its own copy of a message', async () => {
    const store = context.store();
    const seen: string[] = [];
    const vandal = (message: Uint8Array): void => {
      seen.push(fromUtf8(message));
      message.fill(0x7a);
    };
    await store.subscribe('c', vandal);
    await store.subscribe('c', vandal);
    await store.publish('c', utf8('original'));
    await waitUntil(() => seen.length === 2, 'both handlers ran');
    expect(seen).toEqual(['original', 'original']);
  });
}

// ---------------------------------------------------------------------------------------------
// close

function describeClose(context: CacheStoreSuiteContext): void {
  it('rejects every call after close with ECLOSED, and closes idempotently', async () => {
    const store = context.store();
    await store.set('k', utf8('v'));
    await store.close();
    await store.close();
    await expectCode(store.get('k'), 'ECLOSED');
    await expectCode(store.set('k', utf8('v')), 'ECLOSED');
    await expectCode(store.delete('k'), 'ECLOSED');
    await expectCode(store.publish('c', utf8('m')), 'ECLOSED');
    await expectCode(store.subscribe('c', () => {}), 'ECLOSED');
  });

  it('ends subscriptions on close, and lets their unsubscribe resolve afterwards', async () => {
    const store = context.store();
    const { handler, received } = recorder();
    const unsubscribe = await store.subscribe('c', handler);
    const publishing = store.publish('c', utf8('in flight'));
    await store.close();
    await publishing;
    await unsubscribe();
    await sleep(SETTLE_MS);
    expect(received).toEqual([]);
  });
}
