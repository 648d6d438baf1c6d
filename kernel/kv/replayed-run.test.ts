import { describe, expect, it } from 'vitest';
import { compareBytes } from '../contracts/bytes.ts';
import type { MetastoreOperation } from '../contracts/metastore.ts';
import type { ResolvedMetastoreScan } from '../contracts/metastore-validation.ts';
import { type LoggedBatch, type ReadBatch, encodeLogRecord, readCommitLog } from './commit-log.ts';
import { crc32c } from './crc32c.ts';
import { openKvStore } from './kv-store.ts';
import { ReplayedRun } from './replayed-run.ts';
import { CountingStorageFile } from './test-storage.ts';
import { SeededRandom, numberedKey } from './test-workload.ts';
import { type BufferedEntry, type FrozenEntries, WriteBuffer, keyPrefix } from './write-buffer.ts';

const encoder = new TextEncoder();

function describeEntry(entry: BufferedEntry | undefined): string {
  return entry === undefined ? '-' : `${entry.key.join('.')}@${entry.version}=${entry.value?.join('.') ?? 'deleted'}`;
}

function drain(entries: FrozenEntries, scan: ResolvedMetastoreScan, version: number): string[] {
  const cursor = entries.cursor(scan, version);
  const found: string[] = [];
  for (let entry = cursor.next(); entry !== undefined; entry = cursor.next()) found.push(describeEntry(entry));
  return found;
}

/** Keys that tie where a run compares first: a shared prefix of 4 and of 20 bytes, keys of 0-3 bytes, keys that are prefixes of others. */
function keySpace(): Uint8Array[] {
  const keys: Uint8Array[] = [new Uint8Array(0), Uint8Array.of(1), Uint8Array.of(1, 0), Uint8Array.of(1, 0, 0), Uint8Array.of(1, 0, 0, 0), Uint8Array.of(255, 255, 255)];
  for (let index = 0; index < 40; index++) keys.push(numberedKey(index));
  for (let index = 0; index < 40; index++) keys.push(encoder.encode(`a-long-shared-prefix/${index}`));
  for (let index = 0; index < 20; index++) keys.push(numberedKey(index, 'key-000000'));
  return keys;
}

/** The batches as a log holds them, read back as replay reads them (records of one and of several batches). */
async function readBack(batches: readonly LoggedBatch[], random: SeededRandom): Promise<ReadBatch[]> {
  const records: Uint8Array[] = [];
  for (let next = 0; next < batches.length; ) {
    const take = 1 + random.below(3);
    records.push(encodeLogRecord(batches.slice(next, next + take)));
    next += take;
  }
  const log = new Uint8Array(records.reduce((total, record) => total + record.length, 0));
  let offset = 0;
  for (const record of records) {
    log.set(record, offset);
    offset += record.length;
  }
  const read = await readCommitLog(new CountingStorageFile(log), 0);
  expect(read.batches.map((batch) => batch.version)).toEqual(batches.map((batch) => batch.version));
  return read.batches;
}

describe('ReplayedRun', () => {
  // Seed 4's index is sorted by a compare function, as a run of more than OPERATION_SLOTS_MAX entries is.
  for (const [seed, packedEntriesMax] of [[1, undefined], [2, undefined], [3, undefined], [4, 0]] as const) {
    const index = packedEntriesMax === undefined ? 'numeric sort' : 'compare-function sort';
    it(`reads as a WriteBuffer filled with the same batches: lookups and scans at every version, newest entries (seed ${seed}, ${index})`, async () => {
      const random = new SeededRandom(seed);
      const keys = keySpace();
      const batches: LoggedBatch[] = [];
      const buffer = new WriteBuffer(0);
      for (let version = 1; version <= 120; version++) {
        // Some batches write a key twice: the later write is the key's entry at that version.
        const operations: MetastoreOperation[] = Array.from({ length: 1 + random.below(6) }, () => {
          const key = keys[random.below(keys.length)]!;
          return random.below(4) === 0 ? { type: 'delete' as const, key } : { type: 'put' as const, key, value: Uint8Array.of(version % 256, random.below(256)) };
        });
        batches.push({ version, operations });
        for (const operation of operations) buffer.add(operation.key, version, operation.type === 'put' ? operation.value : null);
        buffer.publish(version);
      }
      const run = ReplayedRun.fromBatches(await readBack(batches, random), packedEntriesMax);
      expect(run.entryCount).toBe(buffer.entryCount);
      expect([...run.newestEntries()].map(describeEntry)).toEqual([...buffer.newestEntries()].map(describeEntry));
      expect([...run.keyPrefixes()]).toEqual([...buffer.newestEntries()].map((entry) => keyPrefix(entry.key)));
      const absent = [Uint8Array.of(0), Uint8Array.of(1, 0, 0, 0, 0), encoder.encode('a-long-shared-prefix/'), encoder.encode('zzz')];
      for (const version of [0, 1, 17, 60, 119, 120, 500]) {
        for (const key of [...keys, ...absent]) expect(describeEntry(run.lookup(key, version)), `${key.join('.')} at ${version}`).toBe(describeEntry(buffer.lookup(key, version)));
        for (let scan = 0; scan < 20; scan++) {
          const bounds = [keys[random.below(keys.length)], keys[random.below(keys.length)]].sort((left, right) => compareBytes(left!, right!));
          const start = random.below(4) === 0 ? undefined : bounds[0];
          const end = random.below(4) === 0 ? undefined : bounds[1];
          for (const reverse of [false, true]) {
            const range = { start, end, reverse, limit: 1000 };
            expect(drain(run, range, version)).toEqual(drain(buffer, range, version));
          }
        }
      }
    });
  }

  it('is empty when no batch is replayed', () => {
    const run = ReplayedRun.fromBatches([]);
    expect(run.entryCount).toBe(0);
    expect(run.lookup(numberedKey(1), 10)).toBeUndefined();
    expect(drain(run, { start: undefined, end: undefined, reverse: true, limit: 10 }, 10)).toEqual([]);
    expect([...run.newestEntries()]).toEqual([]);
  });

  it('refuses to replay a record of one batch whose checksum holds but whose operation does not parse', async () => {
    const record = encodeLogRecord([{ version: 1, operations: [{ type: 'put', key: numberedKey(1), value: Uint8Array.of(1) }] }]);
    const view = new DataView(record.buffer);
    // The operation's type byte (after the record and batch headers): 7 is neither put nor delete.
    record[24] = 7;
    view.setUint32(4, crc32c(record.subarray(8)), true);
    const read = await readCommitLog(new CountingStorageFile(record), 0);
    expect(read.batches.map((batch) => batch.version)).toEqual([1]);
    expect(() => ReplayedRun.fromBatches(read.batches)).toThrow(expect.objectContaining({ code: 'ECORRUPT' }));
    await expect(openKvStore(new CountingStorageFile(), { log: new CountingStorageFile(record), secondLog: new CountingStorageFile() })).rejects.toMatchObject({
      code: 'ECORRUPT',
      message: expect.stringContaining('operation type 7'),
    });
  });
});
