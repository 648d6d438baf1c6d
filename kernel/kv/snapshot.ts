import type { MetastoreEntry, MetastoreScanOptions, MetastoreScanPage } from '../contracts/metastore.ts';
import { assertMetastoreKey, assertMetastoreKeys, isEmptyMetastoreScan, resolveMetastoreScan } from '../contracts/metastore-validation.ts';
import { ClosedError } from '../errors.ts';
import type { KvSnapshot } from './kv-store-types.ts';
import type { Meta } from './meta.ts';
import type { PageStore } from './page-store.ts';
import { type ReadableState, readState, scanState } from './state-read.ts';

/**
 * A committed state a reader has pinned: its tree's pages are not reused until it is unpinned, and
 * its write buffer is read at its version (a checkpoint starts a new buffer and leaves this one as
 * it was, so the state stays whole across it).
 */
export interface PinnedState extends ReadableState {
  meta: Meta;
}

/** What a snapshot needs of the store that pinned its state. */
export interface SnapshotHost {
  pages(): PageStore;
  unpin(state: PinnedState): void;
  /** Throws ClosedError once the store is closed. */
  assertReadable(operation: string): void;
}

/** A read transaction: one pinned state, read until released. */
export class PinnedSnapshot implements KvSnapshot {
  readonly version: number;
  readonly #engine: SnapshotHost;
  readonly #state: PinnedState;
  #released = false;

  constructor(engine: SnapshotHost, state: PinnedState) {
    this.#engine = engine;
    this.#state = state;
    this.version = state.version;
  }

  async get(key: Uint8Array): Promise<MetastoreEntry | undefined> {
    this.#assertReadable('get');
    assertMetastoreKey(key);
    return readState(this.#engine.pages(), this.#state, key);
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(MetastoreEntry | undefined)[]> {
    this.#assertReadable('getMany');
    assertMetastoreKeys(keys);
    const entries: (MetastoreEntry | undefined)[] = [];
    for (const key of keys) entries.push(await readState(this.#engine.pages(), this.#state, key));
    return entries;
  }

  async scan(options: MetastoreScanOptions): Promise<MetastoreScanPage> {
    this.#assertReadable('scan');
    const scan = resolveMetastoreScan(options);
    if (isEmptyMetastoreScan(scan)) return { entries: [] };
    return scanState(this.#engine.pages(), this.#state, scan);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#engine.unpin(this.#state);
  }

  #assertReadable(operation: string): void {
    if (this.#released) throw new ClosedError(`cannot ${operation}: the snapshot was released`);
    this.#engine.assertReadable(`${operation} on a snapshot`);
  }
}
