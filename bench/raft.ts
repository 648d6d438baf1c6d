/**
 * `npm run bench:raft -- [--seconds S] [--proposals N] [--in-process-only] [--skip-etcd] [--skip-nexus] [--workload NAME]`
 *
 * Part A, the Raft core alone (bench/raft-in-process.ts): committed proposals per second of a
 * 3-node group in one process, memory storage, messages handed over in memory, batching on. The
 * issue's target is above 200,000/s.
 *
 * Part B, real clusters side by side: a 3-member etcd cluster (etcd 3.4, Debian's etcd-server,
 * bench/raft-etcd.ts) and a zone of 3 nexus node processes (bench/raft-nexus.ts), both on
 * 127.0.0.1, each member fsyncing to the same disk. Both get the same closed-loop load
 * (bench/raft-load.ts): durable writes of 24-byte keys and 150-byte values from 1, 64 and 256
 * concurrent clients (writes/s, p50 and p99 latency), and linearizable reads from 64 clients.
 * It prints one table with our ratio to etcd (above 1: more per second, or slower latency).
 *
 * Both clusters run at once and take turns: each workload runs in ROUNDS_PER_WORKLOAD rounds, in
 * every round each system for its share of the seconds (the order alternating between rounds),
 * and a system's rounds are merged into one result. On a machine others share, the load then
 * falls on both sides alike, where measuring one cluster after the other compared each with the
 * load of its own minutes. The idle cluster costs the other its heartbeats only.
 *
 * Each workload first runs unmeasured on each system for as long as it is then measured. A zone
 * node is JavaScript, which V8 compiles to optimised code only once it has run often enough:
 * after the 1 s connection warm-up, its 1-client writes took 1.6-2.6 ms at p50 in the first
 * second and came down to 1.1-1.3 ms after 6-8 s (with TurboFan off, `--no-opt`, they stayed at
 * 2.2-2.8 ms; after 10 s of 1-client writes, the first measured second was at 1.0-1.3 ms), while
 * etcd's, compiled ahead of time, stayed flat. Measured without it, the first workload compared
 * etcd with a node still warming up, not with one that has served for more than a few seconds.
 *
 * `--workload NAME` runs only the workloads whose name starts with NAME (e.g. `--workload 'writes, 1 client'`):
 * a quicker measurement of one row (~30 s).
 *
 * Data lives in a temporary directory, removed at the end; every process started is stopped by
 * PID. Benchmarks are not tests: nothing here asserts on time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { etcdAvailable, startEtcdCluster } from './raft-etcd.ts';
import { runInProcessBench } from './raft-in-process.ts';
import { benchKey, benchValue, combineLoadResults, KEY_BYTES, runLoad, type LoadResult, VALUE_BYTES } from './raft-load.ts';
import { profileIntervalMs, startNexusCluster } from './raft-nexus.ts';

const PROPOSALS_DEFAULT = 500_000;
const SECONDS_DEFAULT = 5;
const IN_PROCESS_BATCH_PROPOSALS = 256;
const WRITE_CLIENTS = [1, 64, 256] as const;
const READ_CLIENTS = 64;
const WARM_UP_CLIENTS = Math.max(...WRITE_CLIENTS, READ_CLIENTS);
const ROUNDS_PER_WORKLOAD = 5;

/** What one system answers to the load; each side of the table is one. */
interface ConsensusSystem {
  readonly name: string;
  put(key: Uint8Array, value: Uint8Array): Promise<unknown>;
  /** Linearizable. */
  get(key: Uint8Array): Promise<unknown>;
  stop(): Promise<void>;
}

type Measurements = Map<string, LoadResult>;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    proposals: { type: 'string' },
    'in-process-only': { type: 'boolean' },
    'skip-etcd': { type: 'boolean' },
    'skip-nexus': { type: 'boolean' },
    workload: { type: 'string' },
  },
  strict: true,
});
const seconds = Number(values.seconds ?? SECONDS_DEFAULT);
const proposals = Number(values.proposals ?? PROPOSALS_DEFAULT);

partA();
if (!values['in-process-only']) await partB();

function partA(): void {
  const payloadBytes = KEY_BYTES + VALUE_BYTES;
  const result = runInProcessBench({ proposals, payloadBytes, batchProposals: IN_PROCESS_BATCH_PROPOSALS });
  console.log(`Part A: Raft core, 3 nodes in one process, memory storage, ${payloadBytes}-byte proposals in batches of ${IN_PROCESS_BATCH_PROPOSALS}`);
  console.log(
    `  ${Math.round(result.proposalsPerSecond).toLocaleString('en-US')} committed proposals/s ` +
      `(${result.proposals.toLocaleString('en-US')} in ${result.elapsedMs.toFixed(0)} ms; ${result.readiesHandled} Readies, ${result.messagesDelivered} messages)\n`,
  );
}

async function partB(): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'nexusfs-bench-raft-'));
  const systems: ConsensusSystem[] = [];
  let columns: Array<{ name: string; measurements: Measurements }> = [];
  try {
    if (!values['skip-etcd']) {
      const version = etcdAvailable();
      if (version === undefined) console.log('etcd is not installed (apt-get install -y etcd-server): its column is left out\n');
      else systems.push(await etcdSystem(join(directory, 'etcd'), version));
    }
    if (!values['skip-nexus']) systems.push(await nexusSystem(join(directory, 'nexus')));
    columns = await measure(systems);
  } finally {
    for (const system of systems) await system.stop();
    await rm(directory, { recursive: true, force: true });
  }
  printTable(columns);
}

async function etcdSystem(directory: string, version: string): Promise<ConsensusSystem> {
  const cluster = await startEtcdCluster(directory, version);
  const decoder = new TextDecoder();
  return {
    name: `etcd ${version}`,
    // etcd3 takes strings or Buffers; keys here are ASCII, values bytes.
    put: (key, value) => cluster.leader.put(decoder.decode(key)).value(Buffer.from(value.buffer, value.byteOffset, value.byteLength)).exec(),
    get: (key) => cluster.leader.get(decoder.decode(key)).buffer(),
    stop: () => cluster.stop(),
  };
}

async function nexusSystem(directory: string): Promise<ConsensusSystem> {
  const cluster = await startNexusCluster(directory);
  return {
    name: 'nexusfs zone',
    put: (key, value) => cluster.leader.commit([{ type: 'put', key, value }]),
    get: (key) => cluster.leader.get(key),
    stop: () => cluster.stop(),
  };
}

interface Workload {
  readonly name: string;
  readonly clients: number;
  readonly operation: (system: ConsensusSystem) => (client: number, sequence: number) => Promise<unknown>;
}

function writeOperation(system: ConsensusSystem): (client: number, sequence: number) => Promise<unknown> {
  return (client, sequence) => system.put(benchKey(client * 997 + sequence), benchValue(sequence));
}

/** A function, not a constant: the module's top-level await runs partB before later constants exist. */
function workloads(): Workload[] {
  return [
    ...WRITE_CLIENTS.map((clients) => ({ name: `writes, ${clients} client${clients === 1 ? '' : 's'}`, clients, operation: writeOperation })),
    {
      name: `linearizable reads, ${READ_CLIENTS} clients`,
      clients: READ_CLIENTS,
      operation: (system: ConsensusSystem) => (client: number, sequence: number) => system.get(benchKey(client * 31 + sequence)),
    },
  ];
}

/** Every workload on every system, in interleaved rounds (see the file comment). */
async function measure(systems: readonly ConsensusSystem[]): Promise<Array<{ name: string; measurements: Measurements }>> {
  const columns = systems.map((system) => ({ name: system.name, measurements: new Map() as Measurements }));
  for (const system of systems) {
    console.log(`${system.name}: 1 s of warm-up writes from ${WARM_UP_CLIENTS} clients`);
    // As many clients as the largest workload: connections are opened here, not measured later.
    await runLoad({ clients: WARM_UP_CLIENTS, seconds: 1, operation: writeOperation(system) });
  }
  console.log(`${seconds} s per workload and system, in ${ROUNDS_PER_WORKLOAD} rounds taking turns, each workload after as long of it unmeasured`);
  for (const workload of workloads().filter((workload) => workload.name.startsWith(values.workload ?? ''))) {
    // Unmeasured, as long as measured (see the file comment on warming up).
    for (const system of systems) await runLoad({ clients: workload.clients, seconds, operation: workload.operation(system) });
    const rounds = systems.map((): LoadResult[] => []);
    for (let round = 0; round < ROUNDS_PER_WORKLOAD; round++) {
      const order = systems.map((_, index) => index);
      if (round % 2 === 1) order.reverse();
      for (const index of order) {
        // Profiled nodes log with ISO times: these say which workload a profile line belongs to.
        if (profileIntervalMs() !== undefined) console.log(`  ${new Date().toISOString()} ${systems[index]!.name}, ${workload.name}, round ${round + 1}`);
        rounds[index]!.push(await runLoad({ clients: workload.clients, seconds: seconds / ROUNDS_PER_WORKLOAD, operation: workload.operation(systems[index]!) }));
      }
    }
    for (const [index, system] of systems.entries()) {
      const result = combineLoadResults(rounds[index]!);
      columns[index]!.measurements.set(workload.name, result);
      console.log(`  ${system.name}, ${workload.name}: ${describe(result)}`);
    }
  }
  return columns;
}

function describe(result: LoadResult): string {
  return `${Math.round(result.operationsPerSecond)}/s, p50 ${result.latencyMsP50.toFixed(2)} ms, p99 ${result.latencyMsP99.toFixed(2)} ms`;
}

function printTable(columns: Array<{ name: string; measurements: Measurements }>): void {
  if (columns.length === 0) return;
  const etcd = columns.find((column) => column.name.startsWith('etcd'));
  const nexus = columns.find((column) => column.name.startsWith('nexusfs'));
  const rows: string[][] = [['workload (3 members, durable, 24 B keys, 150 B values)', ...columns.map((column) => column.name), ...(etcd && nexus ? ['nexusfs / etcd'] : [])]];
  const workloads = [...columns[0]!.measurements.keys()];
  for (const workload of workloads) {
    for (const [metric, pick] of [
      ['ops/s', (result: LoadResult) => result.operationsPerSecond],
      ['p50 ms', (result: LoadResult) => result.latencyMsP50],
      ['p99 ms', (result: LoadResult) => result.latencyMsP99],
    ] as const) {
      const cells = columns.map((column) => {
        const result = column.measurements.get(workload);
        return result === undefined ? '-' : formatNumber(pick(result));
      });
      const ratio = etcd && nexus ? [formatRatio(pick(nexus.measurements.get(workload)!), pick(etcd.measurements.get(workload)!))] : [];
      rows.push([`${workload}: ${metric}`, ...cells, ...ratio]);
    }
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  console.log('\nPart B: 3-member clusters on 127.0.0.1, closed-loop clients, ' + `${seconds} s per workload, ${VALUE_BYTES}-byte values`);
  for (const [index, row] of rows.entries()) {
    console.log(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  '));
    if (index === 0) console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  }
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}

function formatRatio(ours: number, theirs: number): string {
  if (!Number.isFinite(ours) || !Number.isFinite(theirs) || theirs === 0) return '-';
  const ratio = ours / theirs;
  return ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(2);
}
