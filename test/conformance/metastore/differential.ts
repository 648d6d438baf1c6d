import fc from 'fast-check';
import { expect, it } from 'vitest';
import type { Metastore, MetastoreEntry, MetastoreOperation, MetastorePrecondition } from '../../../kernel/contracts/metastore.ts';
import { MetastoreModel, type ModelEntry } from './model.ts';
import { expectCode, type MetastoreSuiteContext, scanAll } from './context.ts';
import { toHex } from '../test-bytes.ts';

/**
 * Random sequences of operations, run on the driver and on MetastoreModel side by side, comparing
 * every answer. Keys come from a handful of byte values chosen where ordering goes wrong (0x00,
 * 0x7f/0x80, 0xff) and are one or two bytes long, so sequences keep hitting the same keys, prefixes
 * and bounds, and half of the scans have no bound of a given kind, so pages are often full.
 *
 * Runs are few and short so the test stays fast in all four runtimes; a failure prints the seed
 * and the shrunk sequence, and `fc.assert(..., { seed, path })` replays it exactly.
 */
const DIFFERENTIAL_RUNS = 40;
const DIFFERENTIAL_COMMANDS_MAX = 30;
const DIFFERENTIAL_BATCH_OPERATIONS_MAX = 4;
const DIFFERENTIAL_SCAN_LIMIT_MAX = 5;
const KEY_BYTE_VALUES = [0x00, 0x61, 0x7f, 0x80, 0xff];
const KEY_BYTES_MAX = 2;

type PreconditionKind = 'current' | 'absent' | 'stale';

type Command =
  | { kind: 'put'; key: Uint8Array; value: Uint8Array }
  | { kind: 'delete'; key: Uint8Array }
  | { kind: 'batch'; operations: MetastoreOperation[]; preconditions: { key: Uint8Array; kind: PreconditionKind }[] }
  | { kind: 'getMany'; keys: Uint8Array[] }
  | {
      kind: 'scan';
      prefix: Uint8Array | undefined;
      start: Uint8Array | undefined;
      end: Uint8Array | undefined;
      reverse: boolean;
      limit: number;
    };

function byteStringArbitrary(minLength: number): fc.Arbitrary<Uint8Array> {
  return fc
    .array(fc.constantFrom(...KEY_BYTE_VALUES), { minLength, maxLength: KEY_BYTES_MAX })
    .map((values) => Uint8Array.from(values));
}

const keyArbitrary = byteStringArbitrary(1);
/** `freq: 2`: half of the bounds are absent. */
const boundArbitrary = fc.option(byteStringArbitrary(0), { nil: undefined, freq: 2 });
const valueArbitrary = fc.uint8Array({ maxLength: 4 });

const operationArbitrary: fc.Arbitrary<MetastoreOperation> = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key: keyArbitrary, value: valueArbitrary }),
  fc.record({ type: fc.constant('delete' as const), key: keyArbitrary }),
);

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArbitrary, value: valueArbitrary }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArbitrary }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('batch' as const),
      operations: fc.array(operationArbitrary, { maxLength: DIFFERENTIAL_BATCH_OPERATIONS_MAX }),
      preconditions: fc.array(
        fc.record({ key: keyArbitrary, kind: fc.constantFrom<PreconditionKind>('current', 'absent', 'stale') }),
        { maxLength: 2 },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('getMany' as const), keys: fc.array(keyArbitrary, { maxLength: 4 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('scan' as const),
      prefix: boundArbitrary,
      start: boundArbitrary,
      end: boundArbitrary,
      reverse: fc.boolean(),
      limit: fc.integer({ min: 1, max: DIFFERENTIAL_SCAN_LIMIT_MAX }),
    }),
  },
);

export function runMetastoreDifferentialTest(context: MetastoreSuiteContext): void {
  it('answers random operation sequences exactly like a sorted array', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArbitrary, { maxLength: DIFFERENTIAL_COMMANDS_MAX }), async (commands) => {
        const store = await context.open();
        try {
          const run = new DifferentialRun(store);
          for (const command of commands) await run.execute(command);
        } finally {
          await store.close();
        }
      }),
      { numRuns: DIFFERENTIAL_RUNS },
    );
  });
}

/** One sequence: the driver, the model, and the last version the driver handed out. */
class DifferentialRun {
  readonly #store: Metastore;
  readonly #model = new MetastoreModel();
  #lastVersion = 0;

  constructor(store: Metastore) {
    this.#store = store;
  }

  async execute(command: Command): Promise<void> {
    switch (command.kind) {
      case 'put':
        return this.#batch([{ type: 'put', key: command.key, value: command.value }], [], () =>
          this.#store.put(command.key, command.value),
        );
      case 'delete':
        return this.#batch([{ type: 'delete', key: command.key }], [], () => this.#store.delete(command.key));
      case 'batch': {
        const preconditions = command.preconditions.map(({ key, kind }) => this.#precondition(key, kind));
        return this.#batch(command.operations, preconditions, () => this.#store.batch(command.operations, preconditions));
      }
      case 'getMany':
        return this.#getMany(command.keys);
      case 'scan':
        return this.#scan(command);
    }
  }

  #precondition(key: Uint8Array, kind: PreconditionKind): MetastorePrecondition {
    const current = this.#model.get(key)?.version ?? null;
    if (kind === 'current') return { key, version: current };
    if (kind === 'absent') return { key, version: null };
    // Any positive version other than the current one must fail.
    return { key, version: current === null ? this.#lastVersion + 1 : current + 1 };
  }

  /** Runs one commit on the driver and, when the model says it succeeds, on the model too. */
  async #batch(
    operations: readonly MetastoreOperation[],
    preconditions: readonly MetastorePrecondition[],
    commit: () => Promise<number>,
  ): Promise<void> {
    const holds = preconditions.every(({ key, version }) => (this.#model.get(key)?.version ?? null) === version);
    if (!holds) {
      await expectCode(commit(), 'ECONFLICT');
      return;
    }
    const version = await commit();
    expect(version).toBeGreaterThan(this.#lastVersion);
    this.#lastVersion = version;
    for (const operation of operations) {
      if (operation.type === 'put') this.#model.put(operation.key, operation.value, version);
      else this.#model.delete(operation.key);
    }
  }

  async #getMany(keys: Uint8Array[]): Promise<void> {
    const actual = await this.#store.getMany(keys);
    expect(actual.map(describeEntry)).toEqual(keys.map((key) => describeEntry(this.#model.get(key))));
  }

  async #scan(command: Extract<Command, { kind: 'scan' }>): Promise<void> {
    const options = {
      ...(command.prefix === undefined ? {} : { prefix: command.prefix }),
      ...(command.start === undefined ? {} : { start: command.start }),
      ...(command.end === undefined ? {} : { end: command.end }),
      reverse: command.reverse,
    };
    if (command.start !== undefined && command.end !== undefined && toHex(command.start) > toHex(command.end)) {
      await expectCode(this.#store.scan(options), 'EINVAL');
      return;
    }
    const expected = this.#model.scan(command).map(describeEntry);
    const firstPage = await this.#store.scan({ ...options, limit: command.limit });
    expect(firstPage.entries.map(describeEntry)).toEqual(expected.slice(0, command.limit));
    const paged = await scanAll(this.#store, { ...options, limit: command.limit });
    expect(paged.map(describeEntry)).toEqual(expected);
  }
}

function describeEntry(entry: MetastoreEntry | ModelEntry | undefined): string | undefined {
  return entry === undefined ? undefined : `${toHex(entry.key)}=${toHex(entry.value)}@${entry.version}`;
}
