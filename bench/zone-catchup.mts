/**
 * Zone catch-up through a snapshot, over the whole node stack (KvStores on files, the WebSocket
 * transport on 127.0.0.1): a one-node zone is filled with `--keys` keys in batches and compacts its
 * log as it goes, then a second node joins and can only catch up through a snapshot transfer in
 * default-sized chunks. Prints the time from the join request until the new node has applied the
 * leader's last index, the snapshot's index and the fewest chunks its keys fit in
 * (SNAPSHOT_CHUNK_ENTRIES_MAX a chunk; byte-bounded chunks may be more).
 *
 *   npm run bench:zone-catchup -- --keys 100000,200000 [--writers 8]
 *
 * With `--writers N`, N loops keep committing batches of new keys during the catch-up, which then
 * ends when the new node has installed a snapshot and applied all but N of the leader's entries
 * (the snapshot indexes it went through are counted: its installs, one per transfer completed, and
 * its own snapshots).
 *
 * With `--one-way-delay-ms N`, the two replicas run in this process instead, on KvStores on files,
 * over a memory network that delivers each message N ms after it is sent (a round trip of 2N ms,
 * which a socket on 127.0.0.1 does not have), and node 2 is added with addMember.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { MetastoreOperation } from '../kernel/contracts/metastore.ts';
import { createZone, joinZone, type ZoneNode } from '../runtimes/node/zone-node.ts';
import { openFileKvStore } from '../drivers/node-fs/file-kv-store.ts';
import { MemoryZoneNetwork } from '../drivers/memory/zone-transport.ts';
import type { ZoneMessage, ZoneTransport } from '../kernel/contracts/zone-transport.ts';
import { KvRaftStorage } from '../kernel/raft/kv-raft-storage.ts';
import { SeededRandom } from '../kernel/raft/random.ts';
import type { NodeId } from '../kernel/raft/types.ts';
import { SNAPSHOT_CHUNK_ENTRIES_MAX, ZONE_RAFT_KEY_PREFIX } from '../kernel/zone/constants.ts';
import { ZoneReplica } from '../kernel/zone/zone-replica.ts';
import { IntervalTicker } from '../runtimes/node/interval-ticker.ts';
import { freePort } from '../test/zone/process/nexus-process.ts';

const KEYS_PER_BATCH = 1000;
/** A value of this many bytes makes a stored entry (key, version, value, chunk framing) about 88 bytes, as last session's 8.8 MiB for 100k keys. */
const VALUE_BYTES = 55;
const CATCH_UP_WAIT_MS_MAX = 120_000;
/** Keys per commit of each `--writers` loop. */
const LIVE_BATCH_KEYS = 10;
const POLL_MS = 2;

const encoder = new TextEncoder();

function batch(first: number, count: number, prefix: string): MetastoreOperation[] {
  const operations: MetastoreOperation[] = [];
  for (let index = first; index < first + count; index++) {
    const value = `metadata of file ${index} `.padEnd(VALUE_BYTES, '.');
    operations.push({ type: 'put', key: encoder.encode(`/${prefix}/${String(index).padStart(7, '0')}`), value: encoder.encode(value) });
  }
  return operations;
}

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

async function measure(keyCount: number, writers: number): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'nexus-bench-catchup-'));
  const timing = { snapshotIntervalEntries: 20 };
  const nodes: ZoneNode[] = [];
  try {
    const one = await createZone({ dataDir: join(root, 'one'), listen: `127.0.0.1:${await freePort()}`, zoneId: 'catchup', ...timing });
    nodes.push(one);
    for (let first = 0; first < keyCount; first += KEYS_PER_BATCH) await one.replica.commit(batch(first, Math.min(KEYS_PER_BATCH, keyCount - first), 'files'));
    const snapshotIndex = one.replica.status().snapshotIndex;

    let writing = true;
    let written = 0;
    const writeLoop = async (): Promise<void> => {
      while (writing) {
        const first = written;
        written += LIVE_BATCH_KEYS;
        await one.replica.commit(batch(first, LIVE_BATCH_KEYS, 'live'));
      }
    };
    const writing$ = Promise.all(Array.from({ length: writers }, writeLoop));

    const startedMs = performance.now();
    const two = await joinZone({ dataDir: join(root, 'two'), listen: `127.0.0.1:${await freePort()}`, peer: one.identity.address, token: one.identity.token, promotionWaitMs: 0, ...timing });
    nodes.push(two);
    // Snapshot indexes node 2 reached: each install of a transfer, and its own snapshots under writes.
    const installs = new Set<number>();
    let caughtUp = false;
    while (performance.now() - startedMs < CATCH_UP_WAIT_MS_MAX) {
      const status = two.replica.status();
      if (status.snapshotIndex > 1) installs.add(status.snapshotIndex);
      // Under writes, within the entries that may be in flight to it.
      if (installs.size > 0 && status.appliedIndex >= one.replica.status().appliedIndex - writers) {
        caughtUp = true;
        break;
      }
      await sleep(POLL_MS);
    }
    const elapsedMs = performance.now() - startedMs;
    writing = false;
    await writing$;
    const chunks = Math.ceil(keyCount / SNAPSHOT_CHUNK_ENTRIES_MAX);
    const live = writers > 0 ? `, ${writers} writers wrote ${written} keys meanwhile, ${installs.size} snapshot indexes at node 2 (installs and its own snapshots)` : '';
    const outcome = caughtUp ? `caught up in ${(elapsedMs / 1000).toFixed(2)} s` : `NOT caught up after ${(elapsedMs / 1000).toFixed(2)} s`;
    console.log(`${keyCount} keys (snapshot at ${snapshotIndex}, at least ${chunks} chunks): ${outcome}${live}`);
  } finally {
    for (const node of nodes.reverse()) await node.close();
    await rm(root, { recursive: true, force: true });
  }
}

/** A ZoneTransport that hands each message to `inner` `delayMs` after it is sent (in order: timers of one delay fire in order). */
function delayed(inner: ZoneTransport, delayMs: number): ZoneTransport {
  return {
    listen: (registration) => inner.listen(registration),
    send: (zoneId: string, message: ZoneMessage) => void setTimeout(() => inner.send(zoneId, message), delayMs),
    setPeer: (zoneId, nodeId, address, publicKey) => inner.setPeer(zoneId, nodeId, address, publicKey),
    removePeer: (zoneId, nodeId) => inner.removePeer(zoneId, nodeId),
    close: () => inner.close(),
  };
}

async function measureDelayed(keyCount: number, oneWayDelayMs: number): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'nexus-bench-catchup-'));
  const network = new MemoryZoneNetwork();
  const ticker = new IntervalTicker(100);
  const replicas: ZoneReplica[] = [];
  const stores: Awaited<ReturnType<typeof openFileKvStore>>[] = [];
  const open = async (nodeId: NodeId, extra: { bootstrap?: { members: { nodeId: NodeId; address: string }[] }; peers?: { nodeId: NodeId; address: string }[] }) => {
    const store = await openFileKvStore(join(root, `node-${nodeId}.kv`));
    stores.push(store);
    const replica = await ZoneReplica.open({
      zoneId: 'catchup',
      nodeId,
      store,
      raftStorage: await KvRaftStorage.open(store, { keyPrefix: ZONE_RAFT_KEY_PREFIX }),
      transport: delayed(network.endpoint(`memory:node-${nodeId}`), oneWayDelayMs),
      ticker,
      random: new SeededRandom(nodeId),
      snapshotIntervalEntries: 20,
      ...extra,
    });
    replicas.push(replica);
    return replica;
  };
  try {
    const one = await open(1, { bootstrap: { members: [{ nodeId: 1, address: 'memory:node-1' }] } });
    await one.campaign();
    while (one.status().role !== 'leader') await sleep(POLL_MS);
    for (let first = 0; first < keyCount; first += KEYS_PER_BATCH) await one.commit(batch(first, Math.min(KEYS_PER_BATCH, keyCount - first), 'files'));
    const startedMs = performance.now();
    const two = await open(2, { peers: [{ nodeId: 1, address: 'memory:node-1' }] });
    await one.addMember({ nodeId: 2, address: 'memory:node-2' }, { waitForPromotion: false });
    while (two.status().appliedIndex < one.status().appliedIndex) {
      if (performance.now() - startedMs > CATCH_UP_WAIT_MS_MAX) throw new Error(`node 2 did not catch up within ${CATCH_UP_WAIT_MS_MAX} ms`);
      await sleep(POLL_MS);
    }
    const elapsedMs = performance.now() - startedMs;
    console.log(`${keyCount} keys, one-way delay ${oneWayDelayMs} ms (snapshot at ${one.status().snapshotIndex}, at least ${Math.ceil(keyCount / SNAPSHOT_CHUNK_ENTRIES_MAX)} chunks): caught up in ${(elapsedMs / 1000).toFixed(2)} s`);
  } finally {
    for (const replica of replicas.reverse()) await replica.close();
    for (const store of stores) await store.close();
    ticker.stop();
    await rm(root, { recursive: true, force: true });
  }
}

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '100000,200000' },
    writers: { type: 'string', default: '0' },
    'one-way-delay-ms': { type: 'string', default: '-1' },
  },
  strict: true,
});
const keyCounts = args.keys.split(',').map(Number);
const writers = Number(args.writers);
const oneWayDelayMs = Number(args['one-way-delay-ms']);
for (const keyCount of keyCounts) {
  if (oneWayDelayMs >= 0) await measureDelayed(keyCount, oneWayDelayMs);
  else await measure(keyCount, writers);
}
