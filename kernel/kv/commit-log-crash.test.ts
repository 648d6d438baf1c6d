import { describe, expect, it } from 'vitest';
import { COMMIT_LOG_GROWTH_BYTES } from './constants.ts';
import type { MetastoreOperation } from '../contracts/metastore.ts';
import type { KvStore } from './kv-store-types.ts';
import { readCommitLog } from './commit-log.ts';
import { openKvStore } from './kv-store.ts';
import { checkStoreFile } from './store-check.ts';
import { CountingStorageFile, type StorageEvent, crashImage, lastDurableState, randomCrashFates } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, SeededRandom, hex, numberedKey } from './test-workload.ts';

/**
 * Crash safety of a store with a commit log: two files, one crash. Every write and sync of either
 * file is one event in one sequence; a crash after event k leaves each file with what it had
 * synced by then plus any of its later writes, lost, kept or torn, in any order. Reopened with its
 * log, the store must hold exactly the state after some commit, at least the last acknowledged as
 * durable, pass checkStoreFile, and take new commits. Small checkpoint thresholds make workloads
 * cross several checkpoints (tree synced, log started over), so crashes land in every phase.
 *
 * With a second log (KvStoreOptions.secondLog) checkpoints run beside the commits: the workload's
 * next commits are logged (to the other log) while the tree is written, so crashes land in every
 * write of all three files with a checkpoint in flight.
 */

type FileName = 'tree' | 'log' | 'log2';
type TaggedEvent = (StorageEvent & { file: FileName }) | { kind: 'mark'; label: string; file: 'both' };

/**
 * A file that appends its writes and syncs to a sequence it shares with the other files.
 * `latencyTurns`: microtask turns each write and sync takes, so that a slow tree file keeps
 * a checkpoint in flight across several commits of the workload (deterministically: no timers).
 */
class SharedRecordingFile extends CountingStorageFile {
  readonly #name: FileName;
  readonly #events: TaggedEvent[];
  readonly #latencyTurns: number;

  constructor(name: FileName, events: TaggedEvent[], latencyTurns = 0) {
    super();
    this.#name = name;
    this.#events = events;
    this.#latencyTurns = latencyTurns;
  }

  override async write(offset: number, data: Uint8Array): Promise<void> {
    // Issued first, finished later: a crash meanwhile may or may not find it on the medium.
    this.#events.push({ kind: 'write', offset, data: new Uint8Array(data), file: this.#name });
    for (let turn = 0; turn < this.#latencyTurns; turn++) await Promise.resolve();
    await super.write(offset, data);
  }

  override async sync(): Promise<void> {
    for (let turn = 0; turn < this.#latencyTurns; turn++) await Promise.resolve();
    await super.sync();
    this.#events.push({ kind: 'sync', file: this.#name });
  }

  /** Left open: the workload closes its store and opens another on the same files. */
  override async close(): Promise<void> {}
}

/** Microtask turns of each tree write and sync with two logs: a checkpoint spans several commits. */
const TREE_LATENCY_TURNS = 2000;

interface Shape {
  commits: number;
  keys: number;
  operationsMax: number;
  writeBufferBytes: number;
  crashPointsMax: number;
}

const SHAPES: readonly { seed: number; shape: Shape }[] = [
  { seed: 11, shape: { commits: 60, keys: 40, operationsMax: 8, writeBufferBytes: 60_000, crashPointsMax: 90 } },
  { seed: 12, shape: { commits: 50, keys: 300, operationsMax: 40, writeBufferBytes: 200_000, crashPointsMax: 50 } },
  // Large values: records of hundreds of kilobytes, so the log grows its file and starts over past it.
  { seed: 13, shape: { commits: 12, keys: 30, operationsMax: 3, writeBufferBytes: 800_000, crashPointsMax: 20 } },
];

async function describeState(store: KvStore): Promise<string> {
  const page = await store.scan({ limit: 10_000 });
  return page.entries.map((entry) => `${hex(entry.key)}=${hex(entry.value).slice(0, 16)}:${entry.value.length}@${entry.version}`).join(',');
}

/** The state a tree file recovers alone, without its logs. */
async function describeTree(image: Uint8Array): Promise<string> {
  const store = await openKvStore(new CountingStorageFile(image), { cachePages: 16 });
  const state = await describeState(store);
  await store.close();
  return state;
}

/** A state as describeState gives it, without the versions: what a commit redone after a crash leaves. */
function withoutVersions(state: string): string {
  return state.replace(/@\d+/g, '');
}

async function recordWorkload(
  seed: number,
  shape: Shape,
  twoLogs: boolean,
): Promise<{ events: TaggedEvent[]; states: string[]; commits: MetastoreOperation[][] }> {
  const random = new SeededRandom(seed);
  const events: TaggedEvent[] = [];
  const tree = new SharedRecordingFile('tree', events, twoLogs ? TREE_LATENCY_TURNS : 0);
  const log = new SharedRecordingFile('log', events);
  const secondLog = twoLogs ? new SharedRecordingFile('log2', events) : undefined;
  const open = (): Promise<KvStore> => openKvStore(tree, { cachePages: 16, log, secondLog, writeBufferBytes: shape.writeBufferBytes });
  let store = await open();
  const states = [await describeState(store)];
  const commits: MetastoreOperation[][] = [[]];
  events.push({ kind: 'mark', label: 'state 0 durable', file: 'both' });
  const largeValues = seed === 13;
  for (let commit = 1; commit <= shape.commits; commit++) {
    const operations = Array.from({ length: 1 + random.below(shape.operationsMax) }, () => {
      const key = numberedKey(random.below(shape.keys));
      if (random.below(4) === 0) return { type: 'delete' as const, key };
      const length = largeValues ? 60_000 + random.below(COMMIT_LOG_GROWTH_BYTES / 8) : random.below(5) === 0 ? 5000 + random.below(9000) : random.below(200);
      return { type: 'put' as const, key, value: random.bytes(length) };
    });
    const durable = random.below(2) === 0;
    await store.commit(operations, [], { durability: durable ? 'durable' : 'relaxed' });
    commits.push(operations);
    states.push(await describeState(store));
    if (durable) events.push({ kind: 'mark', label: `state ${commit} durable`, file: 'both' });
    if (!durable && random.below(8) === 0) {
      await store.sync();
      events.push({ kind: 'mark', label: `state ${commit} durable`, file: 'both' });
    }
    if (twoLogs && commit === Math.floor(shape.commits / 2)) {
      // A clean close leaves the commits since the last checkpoint in a log, and the reopen reads
      // them back, empties the other log for new commits and checkpoints them at the next commit.
      await store.close();
      events.push({ kind: 'mark', label: `state ${commit} durable`, file: 'both' });
      store = await open();
    }
  }
  await store.close();
  return { events, states, commits };
}

/** The events of one file, as crashImage takes them. */
function eventsOf(events: readonly TaggedEvent[], file: FileName): StorageEvent[] {
  return events.filter((event) => event.file === file).map((event): StorageEvent => (event.kind === 'write' ? { kind: 'write', offset: event.offset, data: event.data } : { kind: 'sync' }));
}



describe('KV crash recovery with a commit log', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  for (const twoLogs of [false, true]) for (const { seed, shape } of SHAPES) {
    const files = twoLogs ? 'any of the three files, checkpoints beside commits' : 'either file';
    it(`recovers a whole state that keeps every durable commit, at crashes in ${files} (seed ${seed})`, async () => {
      const { events, states, commits } = await recordWorkload(seed, shape, twoLogs);
      const random = new SeededRandom(seed * 7919);
      const writeCount = events.filter((event) => event.kind === 'write').length;
      const stride = Math.max(1, Math.ceil(writeCount / shape.crashPointsMax));
      const logSyncs = events.filter((event) => event.kind === 'sync' && (event.file === 'log' || event.file === 'log2')).length;
      const treeSyncs = events.filter((event) => event.kind === 'sync' && event.file === 'tree').length;
      // Durable commits synced the log; checkpoints synced the tree, several times.
      expect(logSyncs).toBeGreaterThan(shape.commits / 4);
      expect(treeSyncs).toBeGreaterThan(2);
      // The log started over (a record written at offset 0 after later ones), and in the large
      // shape grew its file past the first step.
      const logWrites = events.filter((event) => event.kind === 'write' && event.file === 'log') as { offset: number; data: Uint8Array }[];
      expect(logWrites.some((write, index) => write.offset === 0 && logWrites.slice(0, index).some((earlier) => earlier.offset > 0))).toBe(true);
      if (seed === 13) expect(Math.max(...logWrites.map((write) => write.offset + write.data.length))).toBeGreaterThan(COMMIT_LOG_GROWTH_BYTES);
      let writesSeen = 0;
      let crashPoints = 0;
      let replayed = 0;
      let duringMerge = 0;
      let loggedDuringMerge = 0;
      // Whether the tree was written since its last sync: a checkpoint is in its merge.
      let treeUnsynced = false;
      for (let eventCount = 0; eventCount <= events.length; eventCount++) {
        const last = events[eventCount - 1];
        if (last?.kind === 'write' || last?.kind === 'sync') treeUnsynced = last.file === 'tree' ? last.kind === 'write' : treeUnsynced;
        if (last?.kind !== 'write' && eventCount !== events.length) continue;
        // Every commit logged while a checkpoint writes the tree is a crash point, besides the stride's.
        const loggedBesideMerge = last?.kind === 'write' && last.file !== 'tree' && treeUnsynced;
        if (writesSeen++ % stride !== 0 && eventCount !== events.length && !loggedBesideMerge) continue;
        crashPoints++;
        // The tree file is written only by checkpoints: a crash right after such a write falls in a merge.
        if ((last as { file: string }).file === 'tree') duringMerge++;
        // A commit logged while the tree was half written: the checkpoint ran beside it.
        if (loggedBesideMerge) loggedDuringMerge++;
        const before = events.slice(0, eventCount);
        const imageOf = (file: FileName) => new CountingStorageFile(crashImage(eventsOf(before, file), eventsOf(before, file).length, randomCrashFates(random)));
        const tree = imageOf('tree');
        const log = imageOf('log');
        const secondLog = twoLogs ? imageOf('log2') : undefined;
        // Until a crash point shows one: the tree alone recovers less than with its logs.
        const treeState = replayed > 0 ? undefined : await describeTree(tree.image());
        const store = await openKvStore(tree, { cachePages: 16, log, secondLog, writeBufferBytes: shape.writeBufferBytes });
        const state = await describeState(store);
        if (treeState !== undefined && state !== treeState) replayed++;
        const durable = lastDurableState(events, eventCount);
        const message = `crash after ${eventCount} events, last durable state ${durable}`;
        expect(states.slice(durable), message).toContain(state);
        // The store redoes the commit after the state it recovered, as a caller whose commit was lost
        // would: its record is as long as the lost one, and goes where the log goes on. Then a new
        // durable commit, and a second crash that keeps every write: both must be there, and nothing
        // the first crash lost (a whole record it left past where replay stopped) may come back.
        const recoveredCommits = states.indexOf(state, durable);
        if (recoveredCommits + 1 < states.length) {
          await store.commit(commits[recoveredCommits + 1]!, [], { durability: 'relaxed' });
          expect(withoutVersions(await describeState(store)), message).toBe(withoutVersions(states[recoveredCommits + 1]!));
        }
        const version = await store.put(numberedKey(100_000), new Uint8Array([7]));
        const acknowledged = await describeState(store);
        const crashedAgain = await openKvStore(new CountingStorageFile(tree.image()), {
          log: new CountingStorageFile(log.image()),
          secondLog: secondLog === undefined ? undefined : new CountingStorageFile(secondLog.image()),
        });
        expect(await describeState(crashedAgain), `${message}, then a second crash`).toBe(acknowledged);
        await crashedAgain.close();
        // And across a clean reopen.
        await store.close();
        await checkStoreFile(new CountingStorageFile(tree.image()));
        const reopened = await openKvStore(new CountingStorageFile(tree.image()), {
          log: new CountingStorageFile(log.image()),
          secondLog: secondLog === undefined ? undefined : new CountingStorageFile(secondLog.image()),
        });
        expect((await reopened.get(numberedKey(100_000)))?.version).toBe(version);
        await reopened.close();
      }
      // One crash point every `stride` writes: at least half the points asked for.
      expect(crashPoints).toBeGreaterThanOrEqual(Math.floor(Math.min(writeCount, shape.crashPointsMax) / 2));
      // Some crashes left commits only in the log: recovery replayed them.
      expect(replayed).toBeGreaterThan(0);
      // And some crashed while a checkpoint merged the write buffer into the tree.
      expect(duringMerge).toBeGreaterThan(0);
      // With two logs, some crashed after a commit was logged while a checkpoint wrote the tree;
      // with one, never (the commits wait for the checkpoint).
      if (twoLogs) expect(loggedDuringMerge).toBeGreaterThan(0);
      else expect(loggedDuringMerge).toBe(0);
      if (twoLogs) expect(events.some((event) => event.file === 'log2' && event.kind === 'write')).toBe(true);
    });
  }

  it('ends replay at a torn record inside the preallocated log, though whole records of an earlier round lie behind it', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    // Three commits of this size fill the write buffer: the third one checkpoints.
    const store = await openKvStore(tree, { log, writeBufferBytes: 1_000 });
    const value = (index: number) => new Uint8Array(300).fill(index);
    for (let index = 1; index <= 2; index++) await store.put(numberedKey(index), value(index));
    const roundOneLog = log.image();
    await store.put(numberedKey(3), value(3));
    expect(tree.syncCount).toBeGreaterThan(0);
    // The new round writes from offset 0 over the old one: records 4 and 5 cover records 1 and 2
    // (same sizes), and record 3 of the earlier round is still whole behind them.
    for (let index = 4; index <= 5; index++) await store.put(numberedKey(index), value(index));
    expect((await readCommitLog(new CountingStorageFile(roundOneLog), 0)).batches.length).toBe(2);
    const logImage = log.image();
    const treeImage = tree.image();
    await store.close();
    expect(logImage.length).toBeGreaterThanOrEqual(COMMIT_LOG_GROWTH_BYTES);
    const recordLength = new DataView(logImage.buffer).getUint32(0, true);
    const half = Math.floor(recordLength / 2);
    // Crash while record 5 was written: only its first half reached the disk, record 2's old bytes after it.
    const torn = logImage.slice();
    torn.set(roundOneLog.subarray(recordLength + half, 2 * recordLength), recordLength + half);
    expect((await readCommitLog(new CountingStorageFile(torn), 3)).batches.map((batch) => batch.version)).toEqual([4]);
    const reopened = await openKvStore(new CountingStorageFile(treeImage), { log: new CountingStorageFile(torn) });
    for (let index = 1; index <= 4; index++) expect(await reopened.get(numberedKey(index))).toMatchObject({ value: value(index), version: index });
    expect(await reopened.get(numberedKey(5))).toBeUndefined();
    // Usable: the next commit numbers itself after the replayed ones.
    expect(await reopened.put(numberedKey(6), value(6))).toBeGreaterThan(4);
    await reopened.close();
  });

  it('refuses to replay a log record whose checksum holds but whose contents do not parse', async () => {
    const tree = new CountingStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log });
    await store.put(numberedKey(1), new Uint8Array([1]));
    // Crash now: the tree was never synced, the commit is only in the log.
    const treeImage = new Uint8Array(0);
    const logImage = log.image();
    await store.close();
    // A batch count of 2 where one batch follows: the checksum is recomputed, so only the parse can fail.
    const damaged = new Uint8Array(logImage);
    const view = new DataView(damaged.buffer);
    view.setUint32(8, 2, true);
    const { crc32c } = await import('./crc32c.ts');
    view.setUint32(4, crc32c(damaged.subarray(8, view.getUint32(0, true))), true);
    await expect(openKvStore(new CountingStorageFile(treeImage), { log: new CountingStorageFile(damaged) })).rejects.toMatchObject({ code: 'ECORRUPT' });
    // The undamaged log replays the commit.
    const reopened = await openKvStore(new CountingStorageFile(treeImage), { log: new CountingStorageFile(logImage) });
    expect((await reopened.get(numberedKey(1)))?.value).toEqual(new Uint8Array([1]));
    await reopened.close();
  });
});
