import { expect, it } from 'vitest';
import type { ObjectStore } from '../../../kernel/contracts/object-store.ts';
import { type ErrorCode, NexusError, isErrorCode } from '../../../kernel/errors.ts';
import type { ChangeEvent, FileSystem, ListOptions, MountAdmin, FileMetadata, WatchOptions } from '../../../kernel/fs/types.ts';

/**
 * What a NexusFS implementation hands the suite. `admin` and `rootObjectStore` are optional
 * because a remote client may not expose them; tests that need them are skipped, with the reason
 * in their name, when they are absent.
 */
export interface NexusFSSuiteContext {
  fs: FileSystem;
  /** The mount admin, plus a way to make a fresh, empty ObjectStore to mount. */
  admin?: MountAdmin & { createObjectStore(): Promise<ObjectStore> };
  /** The ObjectStore mounted at `/`, to check which blobs exist. */
  rootObjectStore?: ObjectStore;
  close(): Promise<void>;
}

export type SuiteRequirement = 'admin' | 'rootObjectStore';

/** Gives each test the fresh context that the suite's `beforeEach` built for it. */
export interface SuiteHarness {
  context(): NexusFSSuiteContext;
}

type ContextWith<R extends SuiteRequirement> = NexusFSSuiteContext & Required<Pick<NexusFSSuiteContext, R>>;

/** Every wait for an event or an iterator is bounded by this: a broken watch fails, never hangs. */
export const EVENT_WAIT_MS = 2_000;

/** Registers a test that runs on the context of the current test. */
export function test(harness: SuiteHarness, name: string, body: (context: NexusFSSuiteContext) => Promise<void>): void {
  it(name, async () => {
    await body(harness.context());
  });
}

/**
 * Registers a test that needs parts of the context an implementation may not provide. The reason
 * is part of the name, and the test is skipped (not passed) when the context lacks them.
 */
export function testNeeding<R extends SuiteRequirement>(
  harness: SuiteHarness,
  requirements: readonly R[],
  name: string,
  body: (context: ContextWith<R>) => Promise<void>,
): void {
  it(`${name} (needs ${requirements.join(' and ')})`, async (testContext) => {
    const context = harness.context();
    const missing = requirements.filter((requirement) => context[requirement] === undefined);
    if (missing.length > 0) testContext.skip(`the suite context provides no ${missing.join(' or ')}`);
    await body(context as ContextWith<R>);
  });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const input = typeof data === 'string' ? bytes(data) : data;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', input as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * Awaits `promise`, expects it to reject with a NexusError whose code is one of `codes`, and
 * returns that error.
 */
export async function expectError(promise: Promise<unknown>, codes: ErrorCode | readonly ErrorCode[]): Promise<NexusError> {
  const accepted: readonly ErrorCode[] = typeof codes === 'string' ? [codes] : codes;
  let outcome: { resolved: unknown } | { rejected: unknown };
  try {
    outcome = { resolved: await promise };
  } catch (error) {
    outcome = { rejected: error };
  }
  if ('resolved' in outcome) {
    expect.unreachable(`expected a rejection with ${accepted.join(' or ')}, but it resolved to ${describeValue(outcome.resolved)}`);
  }
  const error = outcome.rejected;
  if (!(error instanceof NexusError)) {
    expect.unreachable(`expected a NexusError with ${accepted.join(' or ')}, got ${String(error)}`);
  }
  expect(isErrorCode(error.code), `code ${error.code} is one of ERROR_CODES`).toBe(true);
  expect(accepted, `error code of "${error.message}"`).toContain(error.code);
  expect(typeof error.message).toBe('string');
  expect(error.message.length).toBeGreaterThan(0);
  return error;
}

function describeValue(value: unknown): string {
  if (value instanceof Uint8Array) return `Uint8Array(${value.byteLength})`;
  try {
    return JSON.stringify(value)?.slice(0, 200) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Follows cursors until the listing ends; bounded so a cursor that never ends fails the test. */
export async function listAll(fs: FileSystem, path: string, options: Omit<ListOptions, 'cursor'> = {}): Promise<FileMetadata[]> {
  const entries: FileMetadata[] = [];
  let cursor: string | undefined;
  for (let pageIndex = 0; pageIndex < 10_000; pageIndex++) {
    const page = await fs.list(path, cursor === undefined ? options : { ...options, cursor });
    entries.push(...page.entries);
    if (page.cursor === undefined) return entries;
    expect(page.entries.length, 'a page with a cursor is not empty').toBeGreaterThan(0);
    cursor = page.cursor;
  }
  throw new Error(`list(${path}) did not end after 10000 pages`);
}

export async function listPaths(fs: FileSystem, path: string, options: Omit<ListOptions, 'cursor'> = {}): Promise<string[]> {
  return (await listAll(fs, path, options)).map((entry) => entry.path);
}

/** Every blob id in an ObjectStore, following cursors. */
export async function blobIds(store: ObjectStore): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let pageIndex = 0; pageIndex < 10_000; pageIndex++) {
    const page = await store.list(cursor === undefined ? {} : { cursor });
    ids.push(...page.ids);
    if (page.cursor === undefined) return ids.sort();
    cursor = page.cursor;
  }
  throw new Error('ObjectStore.list did not end after 10000 pages');
}

/** A stream that yields `chunks` one by one. */
export function streamOf(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[index++];
      if (chunk === undefined) controller.close();
      else controller.enqueue(chunk);
    },
  });
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await withTimeout(reader.read(), EVENT_WAIT_MS, 'reading a stream');
    if (done) break;
    chunks.push(value);
  }
  return concat(chunks);
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const result = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    result.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return result;
}

/** Races `promise` with a timer; the timer rejects with a message naming what was awaited. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(durationMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, durationMs));
}

/**
 * A watch whose every wait is bounded. Owns an AbortController passed to `watch`, so `close()`
 * ends the iterator even while a `next()` is pending (an async generator's `return()` would queue
 * behind it).
 */
export class EventCollector {
  readonly #controller = new AbortController();
  readonly #iterator: AsyncIterator<ChangeEvent>;

  constructor(fs: FileSystem, path: string, options: Omit<WatchOptions, 'signal'> = {}) {
    this.#iterator = fs.watch(path, { ...options, signal: this.#controller.signal })[Symbol.asyncIterator]();
  }

  /** The next event; fails the test when none arrives in time or the iterator ends. */
  async next(what = 'for the next event'): Promise<ChangeEvent> {
    const result = await withTimeout(this.#iterator.next(), EVENT_WAIT_MS, `waiting ${what}`);
    if (result.done === true) expect.unreachable(`the watch ended while waiting ${what}`);
    return result.value;
  }

  async take(count: number): Promise<ChangeEvent[]> {
    const events: ChangeEvent[] = [];
    for (let index = 0; index < count; index++) events.push(await this.next(`for event ${index + 1} of ${count}`));
    return events;
  }

  /** Events up to and including the first one for which `isLast` holds. */
  async until(isLast: (event: ChangeEvent) => boolean, eventsMax = 100): Promise<ChangeEvent[]> {
    const events: ChangeEvent[] = [];
    for (let index = 0; index < eventsMax; index++) {
      const event = await this.next(`for the closing event (after ${index} events)`);
      events.push(event);
      if (isLast(event)) return events;
    }
    throw new Error(`no closing event among ${eventsMax} events`);
  }

  close(): void {
    this.#controller.abort();
  }
}

/** Compares byte arrays quickly (deep equality on large typed arrays is slow) and names the first difference. */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(actual.byteLength, 'byte length').toBe(expected.byteLength);
  const firstDifference = expected.findIndex((byte, index) => actual[index] !== byte);
  expect(firstDifference, 'index of the first differing byte').toBe(-1);
}
