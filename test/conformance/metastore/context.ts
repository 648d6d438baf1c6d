/** What the groups of the Metastore suite share: the context they run in, and small helpers. */
import { expect } from 'vitest';
import type { Metastore, MetastoreEntry, MetastoreOperation, MetastoreScanOptions } from '../../../kernel/contracts/metastore.ts';
import { fromUtf8, toHex, utf8 } from '../test-bytes.ts';

export interface MetastoreSuiteCapabilities {
  /**
   * Opens the storage behind `closed` (already closed) again, to check that commits survive a
   * restart. Omit for stores that keep nothing once closed; those tests then skip with that reason.
   */
  reopen?: (closed: Metastore) => Promise<Metastore>;
  /**
   * The largest value the store accepts, when below the contract's METASTORE_VALUE_BYTES_MAX (a
   * replicated store, whose batches travel in one raft log entry). The maximum-size test uses it.
   */
  valueBytesMax?: number;
}

/** What each group of tests in the Metastore suite needs: the store under test, and more stores. */
export interface MetastoreSuiteContext {
  /** The fresh store of the current test. */
  store(): Metastore;
  /** Another fresh store, closed after the current test. */
  open(): Promise<Metastore>;
  capabilities: MetastoreSuiteCapabilities;
}

/** The most pages `scanAll` follows before it calls the scan endless. */
const SCAN_PAGES_MAX = 1_000;

/**
 * Follows cursors until a page comes without one, checking on every page what the contract says
 * about pages: never more than the limit, and no cursor on a short page.
 */
export async function scanAll(store: Metastore, options: MetastoreScanOptions): Promise<MetastoreEntry[]> {
  const entries: MetastoreEntry[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < SCAN_PAGES_MAX; page++) {
    const result = await store.scan({ ...options, ...(cursor === undefined ? {} : { cursor }) });
    if (options.limit !== undefined) {
      expect(result.entries.length).toBeLessThanOrEqual(options.limit);
      if (result.entries.length < options.limit) expect(result.cursor).toBeUndefined();
    }
    entries.push(...result.entries);
    if (result.cursor === undefined) return entries;
    expect(typeof result.cursor).toBe('string');
    cursor = result.cursor;
  }
  throw new Error(`scan did not end after ${SCAN_PAGES_MAX} pages`);
}

export async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code });
}

export function putOperation(key: Uint8Array, value: Uint8Array): MetastoreOperation {
  return { type: 'put', key, value };
}

/** Stores every key with its own text as the value, in one batch; returns the commit version. */
export async function putKeys(store: Metastore, keys: readonly Uint8Array[]): Promise<number> {
  return store.batch(keys.map((key) => putOperation(key, key)));
}

export function textKeys(texts: readonly string[]): Uint8Array[] {
  return texts.map(utf8);
}

/** Keys as text, for readable assertions on scans. */
export function keyTexts(entries: readonly MetastoreEntry[]): string[] {
  return entries.map((entry) => fromUtf8(entry.key));
}

/** Keys as hex, for keys that are not text. */
export function keyHexes(entries: readonly MetastoreEntry[]): string[] {
  return entries.map((entry) => toHex(entry.key));
}

/** Interleaves from both ends, so no driver gets its keys already sorted. */
export function shuffled<T>(items: readonly T[]): T[] {
  const result: T[] = [];
  for (let low = 0, high = items.length - 1; low <= high; low++, high--) {
    result.push(items[high]!);
    if (low !== high) result.push(items[low]!);
  }
  return result;
}
