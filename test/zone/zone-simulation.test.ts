import { describe, expect, it } from 'vitest';
import type { MetastoreOperation } from '../../kernel/contracts/metastore.ts';
import type { KvStore } from '../../kernel/kv/index.ts';
import { KvRaftStorage } from '../../kernel/raft/kv-raft-storage.ts';
import { SeededRandom } from '../../kernel/raft/random.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { ZONE_RAFT_KEY_PREFIX } from '../../kernel/zone/constants.ts';
import { ZoneTestCluster } from './zone-cluster.ts';

/**
 * A seeded simulation of a whole zone (replicas, KvStores with their raft logs, the memory
 * network), aimed at snapshots: the log is compacted every few entries and chunks are small, so
 * nodes that crash or are cut off fall behind compactions and catch up through transfers of many
 * chunks, while messages (chunks and acknowledgements included) are dropped and duplicated, links
 * are cut, and nodes crash at any moment (their file as it is then, a commit under way included),
 * during transfers and installs too. Afterwards every replica must hold the same state, and every
 * acknowledged write must be there (or overwritten by a later version).
 *
 * Ten seeds run here in every runtime; ZONE_SIMULATION_SEEDS and ZONE_SIMULATION_STEPS run more.
 */
const openRaftStorage = (store: KvStore) => KvRaftStorage.open(store, { keyPrefix: ZONE_RAFT_KEY_PREFIX });

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const NODE_IDS: readonly NodeId[] = [1, 2, 3];
const KEYS = 48;
const STEPS_DEFAULT = 240;
const SEEDS_DEFAULT = 10;
const LAST_WRITE_ATTEMPTS_MAX = 5;
/** Task rounds, then microtasks, a crash may wait into a tick before it takes the file's image. */
const CRASH_ROUNDS_MAX = 12;
const CRASH_TURNS_MAX = 3000;
/** Microtasks a crash waits for the moment it aims at (a transfer's last chunk) before it gives up aiming. */
const CRASH_AIM_TURNS_MAX = 40_000;
/** Microtasks an aimed crash waits once its moment came: staging the last chunk, persisting and installing take a few hundred. */
const CRASH_AIMED_TURNS_MAX = 600;
/** While aiming, microtasks between two ticks. */
const CRASH_AIM_TURNS_PER_TICK = 400;

const environment = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
const SEEDS = Number(environment['ZONE_SIMULATION_SEEDS'] ?? SEEDS_DEFAULT);
const FIRST_SEED = Number(environment['ZONE_SIMULATION_FIRST_SEED'] ?? 1);
const STEPS = Number(environment['ZONE_SIMULATION_STEPS'] ?? STEPS_DEFAULT);

/**
 * The last acknowledged write of each key: its version, and its value (undefined: deleted). With
 * the keys that writes without an answer (timed out, or still pending) would delete: such a write
 * may still have committed.
 */
interface Acknowledged {
  readonly writes: Map<string, { version: number; value: string | undefined }>;
  /** How many writes without an answer delete each key. */
  readonly unansweredDeletes: Map<string, number>;
}

interface SimulationReport {
  chunksSent: number;
  transfersWithSeveralChunks: number;
  crashes: number;
  acknowledgedWrites: number;
}

/**
 * Ticks, lets a random number of task rounds and microtasks run (the work the tick starts: a
 * transfer, an install, a commit), and crashes `victim` with its file as it is then: that work is
 * cut wherever it is. With `after`, the random wait starts once `after()` holds (or after
 * CRASH_AIM_TURNS_MAX microtasks), so that the crash lands near the moment it names.
 */
async function crashMidTick(cluster: ZoneTestCluster, victim: NodeId, random: SeededRandom, after?: () => boolean): Promise<void> {
  const round = (): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, 0));
  cluster.ticker.tick();
  if (after !== undefined) {
    // Aiming, one microtask at a time (the replicas and the memory network make progress in
    // microtasks, so the moment is seen as it comes), with a tick every CRASH_AIM_TURNS_PER_TICK.
    for (let turn = 1; !after() && turn < CRASH_AIM_TURNS_MAX; turn++) {
      if (turn % CRASH_AIM_TURNS_PER_TICK === 0) cluster.ticker.tick();
      await Promise.resolve();
    }
  } else {
    const rounds = random.integerBelow(CRASH_ROUNDS_MAX);
    for (let index = 0; index < rounds; index++) await round();
  }
  const turns = random.integerBelow(after === undefined ? CRASH_TURNS_MAX : CRASH_AIMED_TURNS_MAX);
  for (let turn = 0; turn < turns; turn++) await Promise.resolve();
  await cluster.crash(victim, cluster.nodes.get(victim)!.file.image());
}

async function simulate(seed: number): Promise<SimulationReport> {
  const random = new SeededRandom(seed);
  const cluster = await ZoneTestCluster.start({
    openRaftStorage,
    snapshotIntervalEntries: 5,
    snapshotChunkBytes: 160,
    snapshotInstallOperationsPerCommit: 6,
    requestTimeoutTicks: 40,
  });
  const report: SimulationReport = { chunksSent: 0, transfersWithSeveralChunks: 0, crashes: 0, acknowledgedWrites: 0 };
  const acknowledged: Acknowledged = { writes: new Map(), unansweredDeletes: new Map() };
  const down = new Set<NodeId>();
  let faults = true;
  /** Nodes a last snapshot chunk was sent to: their install is about to run. */
  const lastChunkSentTo = new Set<NodeId>();
  cluster.network.dropRule = (delivery) => {
    const { message } = delivery;
    if (message.type === 'snapshot-chunk') {
      report.chunksSent++;
      if (message.chunk === 1) report.transfersWithSeveralChunks++;
      if (message.last) lastChunkSentTo.add(message.to);
    }
    if (!faults) return false;
    const draw = random.fraction();
    // A duplicate: the network routes a second copy (judged again, so it may be dropped).
    if (draw < 0.03) cluster.network.route(delivery);
    return draw > 0.95;
  };
  try {
    for (let step = 0; step < STEPS; step++) {
      const running = NODE_IDS.filter((nodeId) => !down.has(nodeId));
      const action = random.integerBelow(100);
      if (action < 35) {
        write(cluster, running[random.integerBelow(running.length)]!, random, acknowledged, report);
      } else if (action < 39 && down.size === 0) {
        const victim = running[random.integerBelow(running.length)]!;
        await crashMidTick(cluster, victim, random);
        down.add(victim);
        report.crashes++;
      } else if (action < 42 && down.size > 0 && step % 3 === 0) {
        const [revived] = down;
        down.delete(revived!);
        await cluster.restart(revived!);
        // Now and then it crashes again as it catches up: near the end of a transfer, amid its install.
        if (random.integerBelow(2) === 0) {
          lastChunkSentTo.delete(revived!);
          await crashMidTick(cluster, revived!, random, () => lastChunkSentTo.has(revived!));
          down.add(revived!);
          report.crashes++;
        }
      } else if (action < 43) {
        const isolated = NODE_IDS[random.integerBelow(NODE_IDS.length)]!;
        cluster.network.isolate(ZoneTestCluster.address(isolated));
      } else if (action < 47) {
        cluster.network.heal();
      } else {
        await cluster.tick();
      }
    }
    faults = false;
    cluster.network.heal();
    for (const nodeId of down) await cluster.restart(nodeId);
    down.clear();
    // A write after the faults: once every replica has applied it, they all hold the same state.
    // (Retried: a write proposed as leadership changes may get no answer.)
    let last: number | undefined;
    for (let attempt = 0; last === undefined && attempt < LAST_WRITE_ATTEMPTS_MAX; attempt++) {
      await cluster.waitUntil(() => cluster.leaderId() !== undefined, 'a leader');
      const leader = cluster.leaderId()!;
      last = await cluster.drive(cluster.replica(leader).metastore.put(encoder.encode('last'), encoder.encode('write')), 'the last write').catch((error: unknown) => {
        if ((error as { code?: string }).code !== 'EBUSY') throw error;
        return undefined;
      });
    }
    if (last === undefined) throw new Error(`seed ${seed}: no write succeeded after the faults`);
    await cluster.waitUntil(() => NODE_IDS.every((nodeId) => cluster.replica(nodeId).status().appliedIndex >= last), `seed ${seed}: every replica to apply the last write`);
    const states = [];
    for (const nodeId of NODE_IDS) states.push(await stateAt(cluster, nodeId));
    for (const state of states.slice(1)) expect(state).toEqual(states[0]);
    const state = states[0]!;
    for (const [key, write] of acknowledged.writes) {
      const stored = state.get(key);
      const what = `seed ${seed}: key ${key}, acknowledged at version ${write.version}`;
      if (stored !== undefined && stored.version > write.version) continue;
      if (stored === undefined && (acknowledged.unansweredDeletes.get(key) ?? 0) > 0) continue;
      expect({ what, version: write.value === undefined ? undefined : stored?.version, value: stored?.value }).toEqual({ what, version: write.value === undefined ? undefined : write.version, value: write.value });
    }
    return report;
  } finally {
    await cluster.close();
  }
}

/** Proposes a random batch at `nodeId` without waiting; its outcome is recorded when it comes. */
function write(cluster: ZoneTestCluster, nodeId: NodeId, random: SeededRandom, acknowledged: Acknowledged, report: SimulationReport): void {
  const operations: MetastoreOperation[] = [];
  const count = 1 + random.integerBelow(4);
  for (let index = 0; index < count; index++) {
    const key = `key/${random.integerBelow(KEYS)}`;
    if (random.integerBelow(5) === 0) operations.push({ type: 'delete', key: encoder.encode(key) });
    else operations.push({ type: 'put', key: encoder.encode(key), value: encoder.encode(`${key} ${'x'.repeat(random.integerBelow(40))}`) });
  }
  const deletes = operations.filter((operation) => operation.type === 'delete').map((operation) => decoder.decode(operation.key));
  for (const key of deletes) acknowledged.unansweredDeletes.set(key, (acknowledged.unansweredDeletes.get(key) ?? 0) + 1);
  cluster.replica(nodeId).commit(operations).then(
    (version) => {
      report.acknowledgedWrites++;
      for (const key of deletes) acknowledged.unansweredDeletes.set(key, acknowledged.unansweredDeletes.get(key)! - 1);
      for (const operation of operations) {
        const key = decoder.decode(operation.key);
        const previous = acknowledged.writes.get(key);
        if (previous !== undefined && previous.version > version) continue;
        acknowledged.writes.set(key, { version, value: operation.type === 'put' ? decoder.decode(operation.value) : undefined });
      }
    },
    () => {},
  );
}

async function stateAt(cluster: ZoneTestCluster, nodeId: NodeId): Promise<Map<string, { version: number; value: string }>> {
  const page = await cluster.drive(cluster.replica(nodeId).metastore.scan({ limit: 10_000 }), `a scan at node ${nodeId}`);
  expect(page.cursor).toBeUndefined();
  return new Map(page.entries.map((entry) => [decoder.decode(entry.key), { version: entry.version, value: decoder.decode(entry.value) }]));
}

describe('zone simulation: snapshots under faults', () => {
  it(`keeps replicas identical and acknowledged writes, seeds ${FIRST_SEED}..${FIRST_SEED + SEEDS - 1} (${STEPS} steps each)`, async () => {
    const reports: SimulationReport[] = [];
    for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
      reports.push(
        await simulate(seed).catch((error: unknown) => {
          throw new Error(`zone simulation seed ${seed} failed (replay: ZONE_SIMULATION_FIRST_SEED=${seed} ZONE_SIMULATION_SEEDS=1)`, { cause: error });
        }),
      );
      if (environment['ZONE_SIMULATION_VERBOSE'] !== undefined) console.log(`seed ${seed}: ${JSON.stringify(reports[reports.length - 1])}`);
    }
    const total = (field: keyof SimulationReport): number => reports.reduce((sum, report) => sum + report[field], 0);
    // The simulation did what it is for: crashes, and transfers of several chunks.
    expect(total('crashes')).toBeGreaterThan(0);
    expect(total('transfersWithSeveralChunks')).toBeGreaterThan(0);
    expect(total('acknowledgedWrites')).toBeGreaterThan(SEEDS * 10);
  }, 300_000);
});
