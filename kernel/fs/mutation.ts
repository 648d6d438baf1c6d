import { assert } from '../assert.ts';
import type { Metastore, MetastoreOperation } from '../contracts/metastore.ts';
import { InvalidArgumentError } from '../errors.ts';
import {
  decodeEntry,
  decodeJson,
  descendantsPrefix,
  encodeEntry,
  encodeJson,
  encodeLogRecord,
  entryKey,
  logKey,
  pathOfEntryKey,
  REVISION_KEY,
  referenceKey,
  type StoredEntry,
} from './layout.ts';
import { CHANGE_LOG_RETAINED, TREE_ENTRIES_MAX, type ChangeEvent } from './types.ts';

/**
 * One mutation of a zone: reads what it needs, stages entry writes, blob reference changes and
 * change events, then commits them as one Metastore batch together with the next revision and its
 * change log record.
 *
 * The batch's only precondition is the revision key's version as read when the mutation started.
 * Every mutation writes that key, so any other commit in between (from another NexusFS over the
 * same Metastore) fails the batch with ECONFLICT and the caller retries from fresh reads: the
 * reads and the writes of one mutation are serializable without a precondition per key.
 */
export class Mutation {
  readonly revision: number;
  readonly timestampMs: number;
  readonly #metastore: Metastore;
  readonly #revisionVersion: number | null;
  readonly #staged = new Map<string, StoredEntry | null>();
  readonly #references = new Map<string, ReferenceDelta>();
  readonly #events: ChangeEvent[] = [];
  readonly #sideRecords: MetastoreOperation[] = [];
  readonly #afterCommit: (() => void)[] = [];

  private constructor(metastore: Metastore, revision: number, revisionVersion: number | null, timestampMs: number) {
    this.#metastore = metastore;
    this.revision = revision;
    this.#revisionVersion = revisionVersion;
    this.timestampMs = timestampMs;
  }

  /**
   * Starts the next mutation. `known` is the revision and its key's version as the caller's last
   * commit left them: it saves a read, and if another writer has committed since, the batch's
   * precondition fails and the caller starts again without it.
   */
  static async begin(metastore: Metastore, timestampMs: number, known?: KnownRevision): Promise<Mutation> {
    if (known !== undefined) return new Mutation(metastore, known.revision + 1, known.version, timestampMs);
    const stored = await metastore.get(REVISION_KEY);
    const current = stored === undefined ? 0 : readRevision(stored.value);
    return new Mutation(metastore, current + 1, stored?.version ?? null, timestampMs);
  }

  get isEmpty(): boolean {
    return this.#staged.size === 0 && this.#events.length === 0 && this.#sideRecords.length === 0;
  }

  async get(path: string): Promise<StoredEntry | undefined> {
    if (this.#staged.has(path)) return this.#staged.get(path) ?? undefined;
    const stored = await this.#metastore.get(entryKey(path));
    return stored === undefined ? undefined : decodeEntry(stored.value, path);
  }

  async getMany(paths: readonly string[]): Promise<(StoredEntry | undefined)[]> {
    const unstaged = paths.filter((path) => !this.#staged.has(path));
    const stored = await this.#metastore.getMany(unstaged.map(entryKey));
    const fromStore = new Map(unstaged.map((path, index) => [path, stored[index]]));
    return paths.map((path) => {
      if (this.#staged.has(path)) return this.#staged.get(path) ?? undefined;
      const entry = fromStore.get(path);
      return entry === undefined ? undefined : decodeEntry(entry.value, path);
    });
  }

  /**
   * Every entry strictly below `path` as stored before this mutation, in path order. Bounded by
   * TREE_ENTRIES_MAX: a larger tree is EINVAL rather than an unbounded batch.
   */
  async subtree(path: string, operation: string): Promise<{ path: string; entry: StoredEntry }[]> {
    const entries: { path: string; entry: StoredEntry }[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.#metastore.scan({ prefix: descendantsPrefix(path), cursor, limit: 1000 });
      for (const stored of page.entries) {
        const entryPath = pathOfEntryKey(stored.key);
        entries.push({ path: entryPath, entry: decodeEntry(stored.value, entryPath) });
      }
      if (entries.length > TREE_ENTRIES_MAX) {
        throw new InvalidArgumentError(
          `cannot ${operation} ${path}: it holds more than ${TREE_ENTRIES_MAX} entries, the most one mutation may touch`,
        );
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
    return entries;
  }

  put(path: string, entry: StoredEntry): void {
    this.#staged.set(path, entry);
  }

  remove(path: string): void {
    this.#staged.set(path, null);
  }

  /** Counts one more (or one fewer) entry referring to blob `contentId` in the mount. */
  reference(mountPath: string, contentId: string, delta: 1 | -1): void {
    const id = `${mountPath}\u0000${contentId}`;
    const existing = this.#references.get(id);
    if (existing === undefined) this.#references.set(id, { mountPath, contentId, delta });
    else existing.delta += delta;
  }

  event(event: Omit<ChangeEvent, 'revision' | 'timestampMs'>): void {
    this.#events.push({ ...event, revision: this.revision, timestampMs: this.timestampMs });
  }

  /** Stages a write outside the entry space (mount records), committed with the rest. */
  record(operation: MetastoreOperation): void {
    this.#sideRecords.push(operation);
  }

  /** Runs `effect` once the commit succeeded, before the next mutation starts (in-memory state). */
  onCommit(effect: () => void): void {
    this.#afterCommit.push(effect);
  }

  get events(): readonly ChangeEvent[] {
    return this.#events;
  }

  /**
   * Commits atomically. Returns the blobs that no entry of their mount refers to any more, and the
   * revision as committed (for the next `begin`).
   */
  async commit(): Promise<{ unreferenced: { mountPath: string; contentId: string }[]; committed: KnownRevision }> {
    assert(!this.isEmpty, 'an empty mutation must not be committed');
    const operations: MetastoreOperation[] = [];
    for (const [path, entry] of this.#staged) {
      operations.push(
        entry === null
          ? { type: 'delete', key: entryKey(path) }
          : { type: 'put', key: entryKey(path), value: encodeEntry(entry) },
      );
    }
    const unreferenced = await this.#stageReferenceCounts(operations);
    operations.push(...this.#sideRecords);
    operations.push({ type: 'put', key: logKey(this.revision), value: encodeLogRecord(this.#events) });
    if (this.revision > CHANGE_LOG_RETAINED) {
      operations.push({ type: 'delete', key: logKey(this.revision - CHANGE_LOG_RETAINED) });
    }
    operations.push({ type: 'put', key: REVISION_KEY, value: encodeJson({ revision: this.revision }) });
    const version = await this.#metastore.batch(operations, [{ key: REVISION_KEY, version: this.#revisionVersion }]);
    for (const effect of this.#afterCommit) effect();
    return { unreferenced, committed: { revision: this.revision, version } };
  }

  async #stageReferenceCounts(operations: MetastoreOperation[]): Promise<{ mountPath: string; contentId: string }[]> {
    const changed = [...this.#references.values()].filter((reference) => reference.delta !== 0);
    const keys = changed.map((reference) => referenceKey(reference.mountPath, reference.contentId));
    const stored = await this.#metastore.getMany(keys);
    const unreferenced: { mountPath: string; contentId: string }[] = [];
    changed.forEach((reference, index) => {
      const entry = stored[index];
      const current = entry === undefined ? 0 : readCount(entry.value);
      const next = current + reference.delta;
      assert(next >= 0, `reference count of ${reference.contentId} in ${reference.mountPath} would go below zero`);
      const key = keys[index]!;
      if (next === 0) {
        operations.push({ type: 'delete', key });
        unreferenced.push({ mountPath: reference.mountPath, contentId: reference.contentId });
      } else {
        operations.push({ type: 'put', key, value: encodeJson({ count: next }) });
      }
    });
    return unreferenced;
  }
}

/** A zone revision and the Metastore version of the key that holds it. */
export interface KnownRevision {
  revision: number;
  version: number | null;
}

interface ReferenceDelta {
  mountPath: string;
  contentId: string;
  delta: number;
}

export function readRevision(bytes: Uint8Array): number {
  return decodeJson<{ revision: number }>(bytes, 'the zone revision').revision;
}

function readCount(bytes: Uint8Array): number {
  return decodeJson<{ count: number }>(bytes, 'a blob reference count').count;
}
