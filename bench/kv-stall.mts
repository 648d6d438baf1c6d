/**
 * `npm run bench:kv-stall -- [--seconds S] [--committers N] [--preload-keys N] [--rounds R] [--mode 'no pauses'|pauses]`
 *
 * How long commits wait while a checkpoint merges the write buffer into the tree: N concurrent
 * committers (256 by default) each commit one durable put after another (random 24-byte keys,
 * 150-byte values, so the store grows and every checkpoint reaches most leaves) into a KV store on
 * real files (openFileKvStore: two commit logs, checkpoints beside the commit loop), over a tree
 * preloaded with --preload-keys keys and reopened (so the first checkpoints read their leaves from
 * the file).
 *
 * Two modes side by side, taking turns in each round (the order alternating) so the load of the
 * machine falls on both alike: `no pauses` runs each checkpoint's merge, writes and leaf decoding
 * in one stretch (the file store's default, for an embedded store); `pauses` opens the store with
 * `pacedCheckpoints`, as servers do, which gives the event loop a turn (setImmediate) after each
 * budget of checkpoint work (CHECKPOINT_PAUSE_WORK_BYTES).
 *
 * Prints per mode: commits and commits/s, commit latency p50/p99/p999/max, the longest event-loop
 * stall (perf_hooks.monitorEventLoopDelay at 1 ms resolution: how late a timer due every
 * millisecond ran) and its p99, and the checkpoints (tree write transactions) measured. The load
 * average before and after is printed with it. Data lives in a temporary directory, removed at the
 * end. Benchmarks are not tests: nothing here asserts on time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { METASTORE_BATCH_OPERATIONS_MAX } from '../kernel/contracts/metastore.ts';
import type { KvStore } from '../kernel/kv/index.ts';
import { SeededRandom } from '../kernel/raft/random.ts';
import { type FileKvStoreOptions, openFileKvStore } from '../drivers/node-fs/file-kv-store.ts';

const SECONDS_DEFAULT = 10;
const COMMITTERS_DEFAULT = 256;
const PRELOAD_KEYS_DEFAULT = 300_000;
const ROUNDS_DEFAULT = 2;
const KEY_BYTES = 24;
const VALUE_BYTES = 150;
const PRELOAD_BATCH_KEYS = Math.min(10_000, METASTORE_BATCH_OPERATIONS_MAX);
/** The event-loop delay monitor's sampling interval. */
const LOOP_DELAY_RESOLUTION_MS = 1;

interface Mode {
  readonly name: string;
  readonly options: FileKvStoreOptions;
}

const MODES: readonly Mode[] = [
  // The file store's own default (an embedded store).
  { name: 'no pauses', options: {} },
  // What a server's stores open with (zone nodes, nexus serve).
  { name: 'pauses', options: { pacedCheckpoints: true } },
];

interface RoundResult {
  latenciesMs: number[];
  seconds: number;
  stallMaxMs: number;
  stallP99Ms: number;
  checkpoints: number;
}

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: String(SECONDS_DEFAULT) },
    committers: { type: 'string', default: String(COMMITTERS_DEFAULT) },
    'preload-keys': { type: 'string', default: String(PRELOAD_KEYS_DEFAULT) },
    rounds: { type: 'string', default: String(ROUNDS_DEFAULT) },
    mode: { type: 'string' },
  },
});
const seconds = Number(args.seconds);
const committers = Number(args.committers);
const preloadKeys = Number(args['preload-keys']);
const rounds = Number(args.rounds);
const modes = MODES.filter((mode) => args.mode === undefined || mode.name === args.mode);

function randomKey(random: SeededRandom): Uint8Array {
  const key = new Uint8Array(KEY_BYTES);
  for (let index = 0; index < KEY_BYTES; index += 4) new DataView(key.buffer).setUint32(index, random.nextUint32());
  return key;
}

async function preload(path: string, mode: Mode, seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const value = new Uint8Array(VALUE_BYTES).fill(7);
  const store = await openFileKvStore(path, mode.options);
  for (let loaded = 0; loaded < preloadKeys; loaded += PRELOAD_BATCH_KEYS) {
    const count = Math.min(PRELOAD_BATCH_KEYS, preloadKeys - loaded);
    await store.commit(Array.from({ length: count }, () => ({ type: 'put' as const, key: randomKey(random), value })), [], { durability: 'relaxed' });
  }
  await store.close();
}

async function committer(store: KvStore, random: SeededRandom, deadline: number, latenciesMs: number[]): Promise<void> {
  const value = new Uint8Array(VALUE_BYTES);
  while (performance.now() < deadline) {
    value.fill(random.integerBelow(256));
    const started = performance.now();
    await store.commit([{ type: 'put', key: randomKey(random), value }], [], { durability: 'durable' });
    latenciesMs.push(performance.now() - started);
  }
}

async function runRound(directory: string, mode: Mode, round: number): Promise<RoundResult> {
  const path = join(directory, `${mode.name.replaceAll(' ', '-')}-${round}.kv`);
  await preload(path, mode, round + 1);
  const store = await openFileKvStore(path, mode.options);
  const transactionsBefore = (await store.stats()).writeTransactionCount;
  const latenciesMs: number[] = [];
  const monitor = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  monitor.enable();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: committers }, (_, index) => committer(store, new SeededRandom(1000 * round + index + 7), deadline, latenciesMs)));
  const elapsedSeconds = (performance.now() - started) / 1000;
  monitor.disable();
  const checkpoints = (await store.stats()).writeTransactionCount - transactionsBefore;
  await store.close();
  return { latenciesMs, seconds: elapsedSeconds, stallMaxMs: monitor.max / 1e6, stallP99Ms: monitor.percentile(99) / 1e6, checkpoints };
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

function row(mode: Mode, results: readonly RoundResult[]): string[] {
  const latencies = results.flatMap((result) => result.latenciesMs).sort((left, right) => left - right);
  const totalSeconds = results.reduce((sum, result) => sum + result.seconds, 0);
  const fixed = (value: number): string => value.toFixed(1);
  return [
    mode.name,
    String(latencies.length),
    String(Math.round(latencies.length / totalSeconds)),
    fixed(percentile(latencies, 0.5)),
    fixed(percentile(latencies, 0.99)),
    fixed(percentile(latencies, 0.999)),
    fixed(latencies.at(-1) ?? Number.NaN),
    results.map((result) => fixed(result.stallMaxMs)).join(' / '),
    fixed(Math.max(...results.map((result) => result.stallP99Ms))),
    String(results.reduce((sum, result) => sum + result.checkpoints, 0)),
  ];
}

function printTable(rows: readonly string[][]): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  for (const cells of rows) console.log(cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  '));
}

const loadBefore = loadavg();
const directory = await mkdtemp(join(tmpdir(), 'nexus-kv-stall-'));
const results = new Map<Mode, RoundResult[]>(modes.map((mode) => [mode, []]));
try {
  console.log(`${committers} durable committers, ${seconds} s per mode and round, ${rounds} rounds, over ${preloadKeys} preloaded keys`);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? modes : [...modes].reverse();
    for (const mode of order) {
      const result = await runRound(directory, mode, round);
      results.get(mode)!.push(result);
      console.log(`round ${round + 1} ${mode.name}: ${result.latenciesMs.length} commits, longest stall ${result.stallMaxMs.toFixed(1)} ms, ${result.checkpoints} checkpoints`);
    }
  }
} finally {
  await rm(directory, { recursive: true, force: true });
}
printTable([
  ['mode', 'commits', 'commits/s', 'p50 ms', 'p99 ms', 'p999 ms', 'max ms', 'longest stall ms (per round)', 'stall p99 ms', 'checkpoints'],
  ...modes.map((mode) => row(mode, results.get(mode)!)),
]);
const loadAfter = loadavg();
console.log(`load average before ${loadBefore.map((load) => load.toFixed(2)).join(' ')}, after ${loadAfter.map((load) => load.toFixed(2)).join(' ')}`);
