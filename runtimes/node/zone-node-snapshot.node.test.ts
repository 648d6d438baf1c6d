import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MetastoreOperation } from '../../kernel/contracts/metastore.ts';
import type { ZoneReplica } from '../../kernel/zone/zone-replica.ts';
import { eventually, freePort } from '../../test/zone/process/nexus-process.ts';
import { createZone, joinZone, type ZoneNode } from './zone-node.ts';

/**
 * Zone snapshots through the whole node stack: KvStores on files with their commit logs, the
 * WebSocket transport between the nodes. A zone whose log is compacted every few entries takes a
 * new member, which can only catch up through a snapshot, streamed over the socket with 4 KiB chunks
 * (that the sender keeps to the chunk size is asserted in test/zone/zone-snapshot.test.ts, which
 * counts the chunks on the wire; this test asserts the whole stack delivers the state).
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TIMING = { tickIntervalMs: 20, snapshotIntervalEntries: 3, snapshotChunkBytes: 4096 };
const KEY_COUNT = 3000;
const KEYS_PER_BATCH = 300;

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

async function stateOf(replica: ZoneReplica): Promise<string[]> {
  const page = await replica.metastore.scan({ limit: 10_000 });
  return page.entries.map((entry) => `${decoder.decode(entry.key)}@${entry.version}=${decoder.decode(entry.value)}`);
}

describe('zone node: snapshots over WebSocket', () => {
  it('brings a new member of a compacted zone up to date through a snapshot over WebSocket', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nexus-zone-snapshot-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const one: ZoneNode = await createZone({ dataDir: join(root, 'one'), listen: `127.0.0.1:${await freePort()}`, zoneId: 'snapshots', ...TIMING });
    cleanups.push(() => one.close());
    await eventually('node 1 to lead', async () => (one.replica.status().role === 'leader' ? true : undefined));
    for (let first = 0; first < KEY_COUNT; first += KEYS_PER_BATCH) {
      const operations: MetastoreOperation[] = [];
      for (let index = first; index < first + KEYS_PER_BATCH; index++) {
        operations.push({ type: 'put', key: encoder.encode(`/docs/${String(index).padStart(5, '0')}`), value: encoder.encode(`file ${index} `.repeat(4)) });
      }
      await one.replica.commit(operations);
    }
    expect(one.replica.status().snapshotIndex).toBeGreaterThan(1);

    const two: ZoneNode = await joinZone({
      dataDir: join(root, 'two'),
      listen: `127.0.0.1:${await freePort()}`,
      peer: one.identity.address,
      token: one.identity.token,
      ...TIMING,
    });
    cleanups.push(() => two.close());
    const target = one.replica.status().appliedIndex;
    await eventually('node 2 to catch up', async () => (two.replica.status().appliedIndex >= target && two.replica.status().leader === 1 ? true : undefined), 60_000);
    // Its raft log starts after the snapshot it installed: it never replayed the compacted entries.
    expect(two.replica.status().snapshotIndex).toBeGreaterThan(1);
    const expected = await stateOf(one.replica);
    expect(expected).toHaveLength(KEY_COUNT);
    expect(await stateOf(two.replica)).toEqual(expected);
  }, 90_000);
});
