import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  Metastore,
  MetastoreEntry,
  MetastoreOperation,
  MetastorePrecondition,
  MetastoreScanOptions,
  MetastoreScanPage,
} from '../../kernel/contracts/metastore.ts';
import { type KvSnapshot, type KvStore, openKvStore } from '../../kernel/kv/index.ts';
import { MemoryMetastore } from '../../drivers/memory/metastore.ts';
import { MemoryStorageFile } from '../../drivers/memory/storage-file.ts';
import { patternBytes, toHex } from '../conformance/test-bytes.ts';

/**
 * Differential test of the KV engine against the reference MemoryMetastore: random sequences of
 * commands run on both side by side, and every answer must match: entries of gets, getMany and
 * every page of every kind of scan (prefix, start, end, reverse, limit, cursor), which commits
 * succeed or fail, the codes of errors for bad input, and the order of versions. Versions are not
 * compared as numbers (the contract promises only that they grow); each store's versions are
 * mapped to commit numbers first.
 *
 * Beyond the Metastore contract it covers what only the engine has: explicit durability,
 * snapshots (compared with a copy of the reference taken when the snapshot was), sync, and close
 * and reopen on the same bytes in the middle of a sequence. Values and keys are sometimes long
 * enough for overflow pages, bulk puts split leaves, and the cache is small so pages are evicted.
 */

const RUNS = 60;
const COMMANDS_MAX = 50;
const BATCH_OPERATIONS_MAX = 5;
const SCAN_LIMIT_MAX = 6;
const BULK_KEYS_MAX = 150;
/** Commits issued together by one `concurrent` command. */
const CONCURRENT_COMMITS_MAX = 6;
/** The smallest cache the engine accepts, so a few hundred keys already make it evict. */
const CACHE_PAGES = 16;
/** A version no sequence reaches: a precondition naming it always fails. */
const VERSION_NEVER_REACHED = 2 ** 40;
/** Pages one scan may take before it is called endless. */
const SCAN_PAGES_MAX = 1_000;
/** Snapshots one sequence may hold at once. */
const SNAPSHOTS_MAX = 3;

const KEY_BYTE_VALUES = [0x00, 0x61, 0x62, 0x7f, 0x80, 0xff];
const LONG_KEY_BYTES = 700;
const LONG_VALUE_BYTES_MAX = 9_000;

const shortBytes = (minLength: number): fc.Arbitrary<Uint8Array> =>
  fc.array(fc.constantFrom(...KEY_BYTE_VALUES), { minLength, maxLength: 3 }).map((values) => Uint8Array.from(values));

/** Mostly short keys from a few byte values; sometimes a long one (overflow) that starts like them. */
const keyArbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 9, arbitrary: shortBytes(1) },
  {
    weight: 1,
    arbitrary: fc.tuple(shortBytes(1), fc.integer({ min: 1, max: 3 })).map(([head, seed]) => {
      const key = patternBytes(LONG_KEY_BYTES, seed);
      key.set(head);
      return key;
    }),
  },
);
const boundArbitrary = fc.option(shortBytes(0), { nil: undefined, freq: 2 });
const valueArbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 449, max: LONG_VALUE_BYTES_MAX }), fc.nat()).map(([size, seed]) => patternBytes(size, seed)) },
);

type PreconditionKind = 'current' | 'absent' | 'stale';
type Durability = 'durable' | 'relaxed';

/** One of several commits issued together, so that the engine groups them. */
interface ConcurrentCommit {
  operations: MetastoreOperation[];
  preconditions: { key: Uint8Array; kind: PreconditionKind }[];
  durability: Durability;
}

type Command =
  | { kind: 'put'; key: Uint8Array; value: Uint8Array }
  | { kind: 'delete'; key: Uint8Array }
  | {
      kind: 'commit';
      operations: MetastoreOperation[];
      preconditions: { key: Uint8Array; kind: PreconditionKind }[];
      durability: Durability | 'batch';
    }
  | { kind: 'concurrent'; commits: ConcurrentCommit[] }
  | { kind: 'bulk'; first: number; count: number; seed: number; remove: boolean }
  | { kind: 'get'; key: Uint8Array }
  | { kind: 'getMany'; keys: Uint8Array[] }
  | { kind: 'scan'; prefix?: Uint8Array; start?: Uint8Array; end?: Uint8Array; reverse: boolean; limit: number | undefined }
  | { kind: 'bad-input'; which: number }
  | { kind: 'snapshot' }
  | { kind: 'snapshot-read'; which: number; scan: { prefix?: Uint8Array; reverse: boolean } }
  | { kind: 'release'; which: number }
  | { kind: 'sync' }
  | { kind: 'reopen' };

const operationArbitrary: fc.Arbitrary<MetastoreOperation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ type: fc.constant('put' as const), key: keyArbitrary, value: valueArbitrary }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('delete' as const), key: keyArbitrary }) },
);

const scanArbitrary = fc
  .record({
    prefix: boundArbitrary,
    start: boundArbitrary,
    end: boundArbitrary,
    reverse: fc.boolean(),
    limit: fc.option(fc.integer({ min: 1, max: SCAN_LIMIT_MAX }), { nil: undefined, freq: 4 }),
  })
  .map(({ prefix, start, end, reverse, limit }) => ({
    kind: 'scan' as const,
    ...(prefix === undefined ? {} : { prefix }),
    ...(start === undefined ? {} : { start }),
    ...(end === undefined ? {} : { end }),
    reverse,
    limit,
  }));

const preconditionsArbitrary = fc.array(
  fc.record({ key: keyArbitrary, kind: fc.constantFrom<PreconditionKind>('current', 'absent', 'stale') }),
  { maxLength: 2 },
);

const concurrentCommitArbitrary: fc.Arbitrary<ConcurrentCommit> = fc.record({
  operations: fc.array(operationArbitrary, { maxLength: BATCH_OPERATIONS_MAX }),
  preconditions: preconditionsArbitrary,
  durability: fc.constantFrom<Durability>('durable', 'relaxed'),
});

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArbitrary, value: valueArbitrary }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArbitrary }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      operations: fc.array(operationArbitrary, { maxLength: BATCH_OPERATIONS_MAX }),
      preconditions: preconditionsArbitrary,
      durability: fc.constantFrom<Durability | 'batch'>('durable', 'relaxed', 'batch'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('concurrent' as const),
      commits: fc.array(concurrentCommitArbitrary, { minLength: 2, maxLength: CONCURRENT_COMMITS_MAX }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('bulk' as const),
      first: fc.integer({ min: 0, max: 400 }),
      count: fc.integer({ min: 1, max: BULK_KEYS_MAX }),
      seed: fc.nat(),
      remove: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), key: keyArbitrary }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('getMany' as const), keys: fc.array(keyArbitrary, { maxLength: 4 }) }) },
  { weight: 4, arbitrary: scanArbitrary },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bad-input' as const), which: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('snapshot-read' as const),
      which: fc.nat(),
      scan: fc.record({ prefix: fc.option(shortBytes(0), { nil: undefined }), reverse: fc.boolean() }, { requiredKeys: ['reverse'] }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), which: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

/**
 * With a commit log, a write buffer this small is merged into the tree every few commits, so
 * sequences read across merges, from the buffer, the tree, and both at once.
 */
const WRITE_BUFFER_BYTES = 2_000;

describe('KvStore against MemoryMetastore', () => {
  const titles = ['', ', with a commit log and write buffer', ', with two commit logs (checkpoints beside commits, snapshots held across them)'];
  for (const logCount of [0, 1, 2] as const) it(`answers random command sequences exactly like the reference${titles[logCount]}`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArbitrary, { maxLength: COMMANDS_MAX }), async (commands) => {
        const run = await DifferentialRun.start(logCount);
        try {
          for (const command of commands) await run.execute(command);
          await run.finish();
        } finally {
          await run.close();
        }
      }),
      { numRuns: RUNS },
    );
  }, 120_000);
});

/** The same preconditions in each store's own version numbering. */
interface PreconditionsForBoth {
  engine: MetastorePrecondition[];
  reference: MetastorePrecondition[];
}

/** A snapshot of the engine, and the reference's entries when it was taken. */
interface HeldSnapshot {
  snapshot: KvSnapshot;
  entries: MetastoreEntry[];
}

/** Calls that must fail with EINVAL on both stores, one per kind of bad input. */
const BAD_INPUTS: ((store: Metastore) => Promise<unknown>)[] = [
  (store) => store.get(new Uint8Array(0)),
  (store) => store.get(new Uint8Array(4097)),
  (store) => store.put(Uint8Array.of(1), 'text' as unknown as Uint8Array),
  (store) => store.getMany([Uint8Array.of(1), new Uint8Array(0)]),
  (store) => store.scan({ start: Uint8Array.of(2), end: Uint8Array.of(1) }),
  (store) => store.scan({ limit: 0 }),
  (store) => store.scan({ limit: 1.5 }),
  (store) => store.scan({ cursor: '***' }),
  (store) => store.batch([{ type: 'put', key: Uint8Array.of(1), value: Uint8Array.of(1) }], [{ key: Uint8Array.of(1), version: 0 }]),
  (store) => store.batch([{ type: 'put', key: Uint8Array.of(1), value: Uint8Array.of(1) }], [{ key: Uint8Array.of(1), version: -2 }]),
  (store) => store.batch([{ type: 'nope', key: Uint8Array.of(1) } as unknown as MetastoreOperation]),
];

class DifferentialRun {
  #file: MemoryStorageFile;
  /** The commit logs, when the run has them. */
  #log: MemoryStorageFile | undefined;
  #secondLog: MemoryStorageFile | undefined;
  #engine: KvStore;
  readonly #reference = new MemoryMetastore();
  /** Engine version → reference version, for every commit, so entries compare across stores. */
  readonly #versions = new Map<number, number>();
  #lastEngineVersion = 0;
  readonly #snapshots: HeldSnapshot[] = [];

  private constructor(file: MemoryStorageFile, logs: { log: MemoryStorageFile | undefined; secondLog: MemoryStorageFile | undefined }, engine: KvStore) {
    this.#file = file;
    this.#log = logs.log;
    this.#secondLog = logs.secondLog;
    this.#engine = engine;
  }

  static async start(logCount: 0 | 1 | 2): Promise<DifferentialRun> {
    const file = new MemoryStorageFile();
    const log = logCount > 0 ? new MemoryStorageFile() : undefined;
    const secondLog = logCount > 1 ? new MemoryStorageFile() : undefined;
    const engine = await openKvStore(file, { cachePages: CACHE_PAGES, log, secondLog, writeBufferBytes: WRITE_BUFFER_BYTES });
    return new DifferentialRun(file, { log, secondLog }, engine);
  }

  async execute(command: Command): Promise<void> {
    switch (command.kind) {
      case 'put':
        return this.#compareCommits(
          () => this.#engine.put(command.key, command.value),
          () => this.#reference.put(command.key, command.value),
        );
      case 'delete':
        return this.#compareCommits(() => this.#engine.delete(command.key), () => this.#reference.delete(command.key));
      case 'commit':
        return this.#commit(command);
      case 'concurrent':
        return this.#concurrent(command.commits);
      case 'bulk':
        return this.#bulk(command);
      case 'get':
        return this.#compareReads(async (store) => [await store.get(command.key)]);
      case 'getMany':
        return this.#compareReads((store) => store.getMany(command.keys));
      case 'scan':
        return this.#scan(command);
      case 'bad-input':
        return this.#badInput(BAD_INPUTS[command.which % BAD_INPUTS.length]!);
      case 'snapshot':
        return this.#takeSnapshot();
      case 'snapshot-read':
        return this.#readSnapshot(command.which, command.scan);
      case 'release':
        return this.#release(command.which);
      case 'sync':
        return this.#engine.sync();
      case 'reopen':
        return this.#reopen();
    }
  }

  /** The last check of a sequence: everything, in both directions. */
  async finish(): Promise<void> {
    await this.#scan({ kind: 'scan', reverse: false, limit: undefined });
    await this.#scan({ kind: 'scan', reverse: true, limit: 3 });
    for (const held of this.#snapshots) await this.#readSnapshot(this.#snapshots.indexOf(held), { reverse: false });
  }

  async close(): Promise<void> {
    for (const held of this.#snapshots.splice(0)) held.snapshot.release();
    await this.#engine.close();
    await this.#reference.close();
  }

  async #commit(command: Extract<Command, { kind: 'commit' }>): Promise<void> {
    const { engine: engineConditions, reference: referenceConditions } = await this.#preconditions(command.preconditions);
    const { operations, durability } = command;
    await this.#compareCommits(
      () =>
        durability === 'batch'
          ? this.#engine.batch(operations, engineConditions)
          : this.#engine.commit(operations, engineConditions, { durability }),
      () => this.#reference.batch(operations, referenceConditions),
    );
  }

  /**
   * Issues every commit to the engine at once, so they meet in one commit group, and to the
   * reference one after another in the same order: the engine checks each against the state that
   * includes the commits queued before it, which is exactly what the reference does.
   */
  async #concurrent(commits: readonly ConcurrentCommit[]): Promise<void> {
    const preconditions: PreconditionsForBoth[] = [];
    for (const commit of commits) preconditions.push(await this.#preconditions(commit.preconditions));
    const engineOutcomes = commits.map((commit, index) =>
      outcome(() => this.#engine.commit(commit.operations, preconditions[index]!.engine, { durability: commit.durability })),
    );
    const referenceOutcomes: (number | Failure)[] = [];
    for (const [index, commit] of commits.entries()) {
      referenceOutcomes.push(await outcome(() => this.#reference.batch(commit.operations, preconditions[index]!.reference)));
    }
    const engine = await Promise.all(engineOutcomes);
    expect(engine.map(describeOutcome)).toEqual(referenceOutcomes.map(describeOutcome));
    for (const [index, version] of engine.entries()) {
      if (typeof version !== 'number') continue;
      expect(version).toBeGreaterThan(this.#lastEngineVersion);
      this.#lastEngineVersion = version;
      this.#versions.set(version, referenceOutcomes[index] as number);
    }
  }

  /** The same preconditions for both stores, each naming versions in that store's own numbering. */
  async #preconditions(
    specs: readonly { key: Uint8Array; kind: PreconditionKind }[],
  ): Promise<PreconditionsForBoth> {
    const engine: MetastorePrecondition[] = [];
    const reference: MetastorePrecondition[] = [];
    for (const { key, kind } of specs) {
      const current = (await this.#reference.get(key))?.version ?? null;
      if (kind === 'absent' || (kind === 'current' && current === null)) {
        engine.push({ key, version: null });
        reference.push({ key, version: null });
      } else if (kind === 'stale') {
        engine.push({ key, version: VERSION_NEVER_REACHED });
        reference.push({ key, version: VERSION_NEVER_REACHED });
      } else {
        engine.push({ key, version: this.#engineVersionOf(current!) });
        reference.push({ key, version: current });
      }
    }
    return { engine, reference };
  }

  async #bulk(command: Extract<Command, { kind: 'bulk' }>): Promise<void> {
    const operations: MetastoreOperation[] = Array.from({ length: command.count }, (_, index) => {
      const key = Uint8Array.of(0x62, 0x75, (command.first + index) >> 8, (command.first + index) & 0xff);
      return command.remove ? { type: 'delete', key } : { type: 'put', key, value: patternBytes(40, command.seed + index) };
    });
    await this.#compareCommits(
      () => this.#engine.commit(operations, [], { durability: 'relaxed' }),
      () => this.#reference.batch(operations),
    );
  }

  /** Runs one commit on both; both succeed (the engine with a larger version) or fail with one code. */
  async #compareCommits(onEngine: () => Promise<number>, onReference: () => Promise<number>): Promise<void> {
    const [engine, reference] = [await outcome(onEngine), await outcome(onReference)];
    expect(describeOutcome(engine)).toBe(describeOutcome(reference));
    if (typeof engine !== 'number' || typeof reference !== 'number') return;
    expect(engine).toBeGreaterThan(this.#lastEngineVersion);
    this.#lastEngineVersion = engine;
    this.#versions.set(engine, reference);
  }

  async #compareReads(read: (store: Metastore) => Promise<(MetastoreEntry | undefined)[]>): Promise<void> {
    const [engine, reference] = [await read(this.#engine), await read(this.#reference)];
    expect(engine.map((entry) => this.#describe(entry, true))).toEqual(reference.map((entry) => this.#describe(entry, false)));
  }

  /** Compares every page of the scan, following each store's own cursor, and the pages' cursors. */
  async #scan(command: Extract<Command, { kind: 'scan' }>): Promise<void> {
    const { kind: _kind, limit, ...range } = command;
    const options: MetastoreScanOptions = { ...range, ...(limit === undefined ? {} : { limit }) };
    let engineCursor: string | undefined;
    let referenceCursor: string | undefined;
    for (let page = 0; ; page++) {
      expect(page, 'a scan that does not end').toBeLessThan(SCAN_PAGES_MAX);
      const engine = await outcome(() => this.#engine.scan(withCursor(options, engineCursor)));
      const reference = await outcome(() => this.#reference.scan(withCursor(options, referenceCursor)));
      expect(this.#describePage(engine, true)).toEqual(this.#describePage(reference, false));
      if (!isPage(engine) || !isPage(reference) || engine.cursor === undefined) return;
      [engineCursor, referenceCursor] = [engine.cursor, reference.cursor];
    }
  }

  async #badInput(call: (store: Metastore) => Promise<unknown>): Promise<void> {
    const [engine, reference] = [await outcome(() => call(this.#engine)), await outcome(() => call(this.#reference))];
    expect(describeOutcome(engine)).toBe(describeOutcome(reference));
    expect(describeOutcome(engine)).toBe('error EINVAL');
  }

  async #takeSnapshot(): Promise<void> {
    if (this.#snapshots.length === SNAPSHOTS_MAX) this.#snapshots.shift()!.snapshot.release();
    const snapshot = this.#engine.snapshot();
    const entries = (await this.#reference.scan({})).entries;
    expect(snapshot.version).toBe(this.#lastEngineVersion);
    this.#snapshots.push({ snapshot, entries });
  }

  async #readSnapshot(which: number, scan: { prefix?: Uint8Array | undefined; reverse: boolean }): Promise<void> {
    if (this.#snapshots.length === 0) return;
    const { snapshot, entries } = this.#snapshots[which % this.#snapshots.length]!;
    const prefix = scan.prefix === undefined ? '' : toHex(scan.prefix);
    const expected = entries.filter((entry) => toHex(entry.key).startsWith(prefix));
    if (scan.reverse) expected.reverse();
    const page = await snapshot.scan({ ...(scan.prefix === undefined ? {} : { prefix: scan.prefix }), reverse: scan.reverse });
    expect(page.entries.map((entry) => this.#describe(entry, true))).toEqual(expected.map((entry) => this.#describe(entry, false)));
    const first = expected[0];
    if (first !== undefined) expect(this.#describe(await snapshot.get(first.key), true)).toBe(this.#describe(first, false));
  }

  #release(which: number): void {
    if (this.#snapshots.length === 0) return;
    const [held] = this.#snapshots.splice(which % this.#snapshots.length, 1);
    held!.snapshot.release();
    held!.snapshot.release(); // idempotent
  }

  /** Closes the engine (which makes relaxed commits durable) and opens it again on the same bytes. */
  async #reopen(): Promise<void> {
    for (const held of this.#snapshots.splice(0)) held.snapshot.release();
    await this.#engine.close();
    this.#file = new MemoryStorageFile(this.#file.image());
    this.#log = this.#log === undefined ? undefined : new MemoryStorageFile(this.#log.image());
    this.#secondLog = this.#secondLog === undefined ? undefined : new MemoryStorageFile(this.#secondLog.image());
    this.#engine = await openKvStore(this.#file, { cachePages: CACHE_PAGES, log: this.#log, secondLog: this.#secondLog, writeBufferBytes: WRITE_BUFFER_BYTES });
  }

  #engineVersionOf(referenceVersion: number): number {
    for (const [engine, reference] of this.#versions) if (reference === referenceVersion) return engine;
    throw new Error(`no engine version maps to reference version ${referenceVersion}`);
  }

  /** An entry with its version as the reference's, so the two stores' entries compare equal. */
  #describe(entry: MetastoreEntry | undefined, fromEngine: boolean): string | undefined {
    if (entry === undefined) return undefined;
    const version = fromEngine ? this.#versions.get(entry.version) : entry.version;
    return `${toHex(entry.key)}=${entry.value.length}:${toHex(entry.value.subarray(0, 16))}:${hashOf(entry.value)}@${version}`;
  }

  #describePage(page: MetastoreScanPage | Failure, fromEngine: boolean): unknown {
    if (!isPage(page)) return describeOutcome(page);
    return { entries: page.entries.map((entry) => this.#describe(entry, fromEngine)), more: page.cursor !== undefined };
  }
}

interface Failure {
  code: unknown;
}

async function outcome<T>(call: () => Promise<T>): Promise<T | Failure> {
  try {
    return await call();
  } catch (error) {
    return { code: (error as { code?: unknown }).code ?? String(error) };
  }
}

function isPage(value: MetastoreScanPage | Failure): value is MetastoreScanPage {
  return 'entries' in value;
}

function describeOutcome(value: unknown): string {
  if (typeof value === 'number') return 'committed';
  if (typeof value === 'object' && value !== null && 'code' in value) return `error ${String((value as Failure).code)}`;
  return 'answered';
}

function withCursor(options: MetastoreScanOptions, cursor: string | undefined): MetastoreScanOptions {
  return cursor === undefined ? options : { ...options, cursor };
}

function hashOf(bytes: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 16777619) >>> 0;
  return hash.toString(16);
}
