import fc from 'fast-check';
import type { MetastoreOperation, MetastorePrecondition } from '../../kernel/contracts/metastore.ts';
import type { KvDurability, KvStore } from '../../kernel/kv/index.ts';
import { patternBytes, toHex, utf8 } from '../conformance/test-bytes.ts';

/**
 * Generated workloads for the KV crash test, and the run that records what the store acknowledged
 * and when. A workload is a list of steps; a step issues one or more commits (and maybe a sync) at
 * once, without waiting between them, so that they meet in one commit group, then waits for all.
 *
 * Keys come from two families: a small pool that commits keep overwriting, deleting and guarding
 * with preconditions (two of its keys are long enough to live in overflow pages), and a range of
 * numbered keys that bulk commits fill and empty by the hundred, so leaves split and merge.
 */

/** Short keys of the pool; overwrites and preconditions keep hitting the same few. */
const POOL_SHORT_KEYS = 16;
/** Longer than the engine's inline key limit (448 bytes), so they go to overflow pages. */
const POOL_LONG_KEY_BYTES = 600;
const POOL_LONG_KEYS = 2;
/** Numbered keys bulk commits fill and empty. */
const BULK_KEYS = 2_000;
const BULK_RUN_LENGTH_MAX = 120;

const STEPS_MIN = 4;
const STEPS_MAX = 24;
const GROUP_COMMITS_MAX = 4;
const COMMIT_OPERATIONS_MAX = 6;
const COMMIT_PRECONDITIONS_MAX = 2;

/** Inline values, and values past the engine's inline limit that need one or several overflow pages. */
const SMALL_VALUE_BYTES_MAX = 40;
const LARGE_VALUE_BYTES_MIN = 449;
const LARGE_VALUE_BYTES_MAX = 9_000;
const BULK_VALUE_BYTES_MAX = 120;

/** A version no workload reaches: a precondition naming it always fails. */
const VERSION_NEVER_REACHED = 2 ** 40;

export const POOL_KEYS: readonly Uint8Array[] = [
  ...Array.from({ length: POOL_SHORT_KEYS }, (_, index) => utf8(`pool/${index.toString().padStart(2, '0')}`)),
  ...Array.from({ length: POOL_LONG_KEYS }, (_, index) => {
    const key = patternBytes(POOL_LONG_KEY_BYTES, 1000 + index);
    key.set(utf8('pool/long/'));
    return key;
  }),
];

export function bulkKey(index: number): Uint8Array {
  return utf8(`bulk/${index.toString().padStart(5, '0')}`);
}

export type PreconditionKind = 'current' | 'absent' | 'stale';

/** A value by size and seed, so workloads print short and replay exactly. */
export interface ValueSpec {
  sizeBytes: number;
  seed: number;
}

export type OperationSpec =
  | { type: 'put'; key: number; value: ValueSpec }
  | { type: 'delete'; key: number }
  | { type: 'bulk-put'; first: number; count: number; valueBytes: number; seed: number }
  | { type: 'bulk-delete'; first: number; count: number };

export interface CommitSpec {
  kind: 'commit';
  operations: OperationSpec[];
  preconditions: { key: number; kind: PreconditionKind }[];
  durability: KvDurability;
  /** `batch`: through the Metastore call, whose durability is the store's default (durable). */
  via: 'commit' | 'batch';
}

export type StepItem = CommitSpec | { kind: 'sync' };

export interface Workload {
  steps: StepItem[][];
  /** The store's page cache: small ones make the engine evict and re-read pages. */
  cachePages: number;
  /** Whether the run ends with `close()`, whose sync is one more crash point. */
  closeAtEnd: boolean;
  /** Seeds the crash images, together with the crash point. */
  imageSeed: number;
}

const valueArbitrary: fc.Arbitrary<ValueSpec> = fc.record({
  sizeBytes: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: SMALL_VALUE_BYTES_MAX }) },
    { weight: 1, arbitrary: fc.integer({ min: LARGE_VALUE_BYTES_MIN, max: LARGE_VALUE_BYTES_MAX }) },
  ),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
});

const poolKeyArbitrary = fc.integer({ min: 0, max: POOL_KEYS.length - 1 });
const bulkRunArbitrary = fc
  .record({ first: fc.integer({ min: 0, max: BULK_KEYS - 1 }), count: fc.integer({ min: 1, max: BULK_RUN_LENGTH_MAX }) })
  .map(({ first, count }) => ({ first, count: Math.min(count, BULK_KEYS - first) }));

const operationArbitrary: fc.Arbitrary<OperationSpec> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ type: fc.constant('put' as const), key: poolKeyArbitrary, value: valueArbitrary }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('delete' as const), key: poolKeyArbitrary }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(bulkRunArbitrary, fc.integer({ min: 1, max: BULK_VALUE_BYTES_MAX }), fc.integer({ min: 1, max: 1_000_000 }))
      .map(([run, valueBytes, seed]) => ({ type: 'bulk-put' as const, ...run, valueBytes, seed })),
  },
  { weight: 1, arbitrary: bulkRunArbitrary.map((run) => ({ type: 'bulk-delete' as const, ...run })) },
);

const commitArbitrary: fc.Arbitrary<CommitSpec> = fc
  .record({
    kind: fc.constant('commit' as const),
    operations: fc.array(operationArbitrary, { minLength: 0, maxLength: COMMIT_OPERATIONS_MAX }),
    preconditions: fc.oneof(
      { weight: 3, arbitrary: fc.constant<CommitSpec['preconditions']>([]) },
      {
        weight: 1,
        arbitrary: fc.array(
          fc.record({ key: poolKeyArbitrary, kind: fc.constantFrom<PreconditionKind>('current', 'current', 'absent', 'stale') }),
          { minLength: 1, maxLength: COMMIT_PRECONDITIONS_MAX },
        ),
      },
    ),
    durability: fc.constantFrom<KvDurability>('durable', 'relaxed'),
    via: fc.constantFrom<CommitSpec['via']>('commit', 'commit', 'commit', 'batch'),
  })
  .map((spec) => (spec.via === 'batch' ? { ...spec, durability: 'durable' as const } : spec));

const stepItemArbitrary: fc.Arbitrary<StepItem> = fc.oneof(
  { weight: 8, arbitrary: commitArbitrary },
  { weight: 1, arbitrary: fc.constant({ kind: 'sync' as const }) },
);

export const workloadArbitrary: fc.Arbitrary<Workload> = fc.record({
  steps: fc.array(fc.array(stepItemArbitrary, { minLength: 1, maxLength: GROUP_COMMITS_MAX }), {
    minLength: STEPS_MIN,
    maxLength: STEPS_MAX,
  }),
  cachePages: fc.constantFrom(16, 64, 4096),
  closeAtEnd: fc.boolean(),
  imageSeed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

// ---------------------------------------------------------------------------------------------
// running a workload

/** Something the store acknowledged, and the number of storage events seen when it did. */
export interface Acknowledged {
  /** Successful commits, in call order, that this acknowledgement makes durable (a prefix). */
  durablePrefix: number;
  ackEvent: number;
}

/** One successful commit, in call order. */
export interface CommittedRecord {
  version: number;
  operations: MetastoreOperation[];
  durability: KvDurability;
  /** Storage events seen when the commit was called: none of its writes are among them. */
  issueEvent: number;
  ackEvent: number;
}

/** What a run of a workload on a store left to check crash images against. */
export interface WorkloadTrace {
  commits: CommittedRecord[];
  acknowledgements: Acknowledged[];
}

/** Where the run's expectations and the store's answers first disagreed, if they did. */
export class WorkloadMismatch extends Error {}

/** The one source of storage event counts: the crash file the store writes through. */
export interface EventCounter {
  readonly eventCount: number;
}

/**
 * Runs `workload` on `store`, checking each commit's outcome (a new, larger version, or ECONFLICT
 * exactly when a precondition fails) against a model that applies the commits in call order, and
 * recording what was acknowledged when. The model knows a key's version only once the commit that
 * wrote it has resolved; until then it knows the key changed, which is all a precondition needs.
 */
export async function runWorkload(store: KvStore, workload: Workload, counter: EventCounter): Promise<WorkloadTrace> {
  const run = new WorkloadRun(store, counter);
  for (const step of workload.steps) await run.step(step);
  if (workload.closeAtEnd) {
    await store.close();
    run.acknowledgeAll();
  }
  return run.trace();
}

/** A key's state in call order: its value and the commit (by call position) that wrote it. */
interface ModelSlot {
  value: Uint8Array;
  commit: PendingCommit;
}

interface PendingCommit {
  version: number | undefined;
}

class WorkloadRun {
  readonly #store: KvStore;
  readonly #counter: EventCounter;
  readonly #slots = new Map<string, ModelSlot>();
  readonly #commits: CommittedRecord[] = [];
  readonly #acknowledgements: Acknowledged[] = [];

  constructor(store: KvStore, counter: EventCounter) {
    this.#store = store;
    this.#counter = counter;
  }

  async step(items: readonly StepItem[]): Promise<void> {
    const resolvedBefore = this.#commits.length;
    const outcomes = items.map((item) => (item.kind === 'sync' ? this.#sync(resolvedBefore) : this.#commit(item)));
    await Promise.all(outcomes);
    this.#checkVersionsIncrease(resolvedBefore);
  }

  acknowledgeAll(): void {
    this.#acknowledgements.push({ durablePrefix: this.#commits.length, ackEvent: this.#counter.eventCount });
  }

  trace(): WorkloadTrace {
    return { commits: this.#commits, acknowledgements: this.#acknowledgements };
  }

  async #sync(resolvedBefore: number): Promise<void> {
    await this.#store.sync();
    this.#acknowledgements.push({ durablePrefix: resolvedBefore, ackEvent: this.#counter.eventCount });
  }

  /** Issues one commit now (synchronously up to the store call) and checks its outcome later. */
  async #commit(spec: CommitSpec): Promise<void> {
    const operations = spec.operations.flatMap(materialize);
    const preconditions = spec.preconditions.map(({ key, kind }) => this.#precondition(POOL_KEYS[key]!, kind));
    const holds = preconditions.every((precondition) => this.#holds(precondition));
    const pending: PendingCommit = { version: undefined };
    let record: CommittedRecord | undefined;
    if (holds) {
      record = { version: 0, operations, durability: spec.durability, issueEvent: this.#counter.eventCount, ackEvent: 0 };
      this.#commits.push(record);
      this.#apply(operations, pending);
    }
    const outcome =
      spec.via === 'batch'
        ? this.#store.batch(operations, preconditions)
        : this.#store.commit(operations, preconditions, { durability: spec.durability });
    await this.#settle(outcome, { record, pending });
    if (record !== undefined && spec.durability === 'durable') {
      this.#acknowledgements.push({ durablePrefix: this.#commits.indexOf(record) + 1, ackEvent: record.ackEvent });
    }
  }

  /** A precondition of the kind asked for, from what is resolved now. */
  #precondition(key: Uint8Array, kind: PreconditionKind): MetastorePrecondition {
    const version = this.#resolvedVersion(key);
    if (kind === 'absent') return { key, version: null };
    if (kind === 'current') return { key, version };
    // Older than the current version, or one never handed out: never the version at check time.
    return { key, version: version !== null && version > 1 ? version - 1 : VERSION_NEVER_REACHED };
  }

  /** The version the key has by resolved commits; `null` when absent (or written by an unresolved one). */
  #resolvedVersion(key: Uint8Array): number | null {
    return this.#slots.get(toHex(key))?.commit.version ?? null;
  }

  /** Whether the precondition holds against the state in call order (queued commits included). */
  #holds(precondition: MetastorePrecondition): boolean {
    const slot = this.#slots.get(toHex(precondition.key));
    if (precondition.version === null) return slot === undefined;
    // A key last written by an unresolved commit has a version newer than any we could name.
    return slot !== undefined && slot.commit.version === precondition.version;
  }

  #apply(operations: readonly MetastoreOperation[], commit: PendingCommit): void {
    for (const operation of operations) {
      if (operation.type === 'put') this.#slots.set(toHex(operation.key), { value: operation.value, commit });
      else this.#slots.delete(toHex(operation.key));
    }
  }

  /**
   * Waits for a commit and checks its outcome against the model: `record` is set when the model
   * expects it to succeed; `pending` learns the version it got.
   */
  async #settle(outcome: Promise<number>, expected: { record: CommittedRecord | undefined; pending: PendingCommit }): Promise<void> {
    const { record, pending } = expected;
    let version: number;
    try {
      version = await outcome;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (record === undefined && code === 'ECONFLICT') return;
      throw error;
    }
    if (record === undefined) throw new WorkloadMismatch(`a commit succeeded (version ${version}) whose precondition fails`);
    record.version = version;
    record.ackEvent = this.#counter.eventCount;
    pending.version = version;
  }

  #checkVersionsIncrease(from: number): void {
    for (let index = Math.max(1, from); index < this.#commits.length; index++) {
      const [previous, current] = [this.#commits[index - 1]!.version, this.#commits[index]!.version];
      if (current <= previous) throw new WorkloadMismatch(`commit ${index} got version ${current}, after version ${previous}`);
    }
  }
}

/** The operations an operation spec stands for. */
export function materialize(spec: OperationSpec): MetastoreOperation[] {
  switch (spec.type) {
    case 'put':
      return [{ type: 'put', key: POOL_KEYS[spec.key]!, value: patternBytes(spec.value.sizeBytes, spec.value.seed) }];
    case 'delete':
      return [{ type: 'delete', key: POOL_KEYS[spec.key]! }];
    case 'bulk-put':
      return Array.from({ length: spec.count }, (_, index) => ({
        type: 'put' as const,
        key: bulkKey(spec.first + index),
        value: patternBytes(spec.valueBytes, spec.seed + index),
      }));
    case 'bulk-delete':
      return Array.from({ length: spec.count }, (_, index) => ({ type: 'delete' as const, key: bulkKey(spec.first + index) }));
  }
}
