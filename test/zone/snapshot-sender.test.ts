import { describe, expect, it } from 'vitest';
import { MemoryStorageFile } from '../../drivers/memory/storage-file.ts';
import { AssertionError } from '../../kernel/assert.ts';
import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import { ClosedError } from '../../kernel/errors.ts';
import { openKvStore, type KvSnapshot, type KvStore } from '../../kernel/kv/index.ts';
import type { SnapshotMessage } from '../../kernel/raft/message.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { SNAPSHOT_BYTES_IN_FLIGHT_MAX, SNAPSHOT_CHUNK_RESEND_TICKS, SNAPSHOT_CHUNKS_IN_FLIGHT_MAX } from '../../kernel/zone/constants.ts';
import { decodeSnapshotChunk } from '../../kernel/zone/snapshot-chunk.ts';
import { SnapshotSender } from '../../kernel/zone/snapshot-transfer.ts';
import { PinnedState } from '../../kernel/zone/zone-state-machine.ts';

/**
 * The leader's side of snapshot transfers (SnapshotSender over PinnedState), driven by hand: each
 * read of the pinned KvStore snapshot can be held, so a transfer can end while its chunk is read.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A KvStore snapshot whose reads wait while `hold` is set, and which counts reads made after its release. */
class HeldSnapshot implements KvSnapshot {
  hold: Promise<void> | undefined;
  readsAfterRelease = 0;
  released = false;
  /** Thrown by the next read instead of reading. */
  failWith: Error | undefined;

  constructor(private readonly inner: KvSnapshot) {}

  get version(): number {
    return this.inner.version;
  }

  get: KvSnapshot['get'] = async (key) => await this.read(() => this.inner.get(key));
  getMany: KvSnapshot['getMany'] = async (keys) => await this.read(() => this.inner.getMany(keys));
  scan: KvSnapshot['scan'] = async (options) => await this.read(() => this.inner.scan(options));

  release(): void {
    this.released = true;
    this.inner.release();
  }

  private async read<T>(run: () => Promise<T>): Promise<T> {
    if (this.failWith !== undefined) throw this.failWith;
    await this.hold;
    if (this.released) this.readsAfterRelease++;
    return await run();
  }
}

interface Harness {
  readonly sender: SnapshotSender;
  readonly snapshots: HeldSnapshot[];
  readonly sent: ZoneMessage[];
  readonly reports: [NodeId, string][];
  readonly failures: unknown[];
  leads: boolean;
}

async function storeWithKeys(count: number): Promise<KvStore> {
  const store = await openKvStore(new MemoryStorageFile());
  const operations = Array.from({ length: count }, (_, index) => ({ type: 'put' as const, key: encoder.encode(`/k${String(index).padStart(3, '0')}`), value: encoder.encode('value') }));
  await store.commit(operations, []);
  return store;
}

function harness(store: KvStore): Harness {
  const snapshots: HeldSnapshot[] = [];
  const state: Harness = {
    snapshots,
    sent: [],
    reports: [],
    failures: [],
    leads: true,
    sender: new SnapshotSender({
      send: (message) => state.sent.push(message),
      pinState: () => {
        const snapshot = new HeldSnapshot(store.snapshot());
        snapshots.push(snapshot);
        return new PinnedState(snapshot, 64);
      },
      report: (to, status) => state.reports.push([to, status]),
      leadsIn: () => state.leads,
      logFollows: () => true,
      fail: (error) => state.failures.push(error),
    }),
  };
  return state;
}

function snapshotMessage(to: NodeId): SnapshotMessage {
  return { type: 'snapshot', from: 1, to, term: 2, snapshot: { metadata: { index: 10, term: 2, confState: { voters: [1, to], learners: [] } }, data: Uint8Array.of(2) } };
}

/** A gate: `hold` to pass to a HeldSnapshot, `open` to let its reads go on. */
function gate(): { hold: Promise<void>; open: () => void } {
  let open = (): void => {};
  const hold = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { hold, open };
}

/** Lets every pending read and its continuation run (a window of chunks is read one after another). */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 100; turn++) await new Promise<void>((resolve) => setTimeout(resolve, 0));
}

describe('SnapshotSender', () => {
  it('a transfer that ends while its chunk is read stops without reading the released snapshot, and sends nothing', async () => {
    const store = await storeWithKeys(20);
    try {
      const test = harness(store);
      const { hold, open } = gate();
      test.sender.start(snapshotMessage(2));
      const [snapshot] = test.snapshots;
      snapshot!.hold = hold;
      // The read now waits in its first step. Leadership moves: the next tick ends the transfer.
      test.leads = false;
      test.sender.tick();
      expect(test.reports).toEqual([[2, 'failed']]);
      // The KvStore snapshot stays pinned for the read under way ...
      expect(snapshot!.released).toBe(false);
      open();
      await settle();
      // ... which stops at its next step and releases it, reading nothing more.
      expect(snapshot!.released).toBe(true);
      expect(snapshot!.readsAfterRelease).toBe(0);
      expect(test.sent).toEqual([]);
      expect(test.reports).toEqual([[2, 'failed']]);
      expect(test.failures).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('a transfer replaced while its chunk is read gives way to the new one, which sends its first chunk', async () => {
    const store = await storeWithKeys(20);
    try {
      const test = harness(store);
      const { hold, open } = gate();
      test.sender.start(snapshotMessage(2));
      test.snapshots[0]!.hold = hold;
      test.sender.start(snapshotMessage(2));
      open();
      await settle();
      expect(test.snapshots.map((snapshot) => [snapshot.released, snapshot.readsAfterRelease])).toEqual([
        [true, 0],
        [false, 0],
      ]);
      expect(test.sent.map((message) => (message.type === 'snapshot-chunk' ? [message.transferId, message.chunk] : message.type))).toEqual([[2, 0]]);
      expect(test.failures).toEqual([]);
      test.sender.close();
      expect(test.snapshots[1]!.released).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('sends chunk 0 alone, then keeps SNAPSHOT_CHUNKS_IN_FLIGHT_MAX chunks in flight, acknowledged cumulatively, and sends all of them again when unanswered', async () => {
    const store = await storeWithKeys(40);
    try {
      const test = harness(store);
      const chunksSent = (): number[] => test.sent.flatMap((message) => (message.type === 'snapshot-chunk' ? [message.chunk] : []));
      const acknowledge = (chunk: number): void => test.sender.onResponse({ type: 'snapshot-chunk-response', from: 2, to: 1, term: 2, transferId: 1, chunk, reject: false });
      test.sender.start(snapshotMessage(2));
      await settle();
      expect(chunksSent()).toEqual([0]);
      acknowledge(0);
      await settle();
      expect(chunksSent()).toEqual([0, 1, 2, 3, 4]);
      expect(SNAPSHOT_CHUNKS_IN_FLIGHT_MAX).toBe(4);
      // Up to chunk 2: two more leave.
      acknowledge(2);
      await settle();
      expect(chunksSent()).toEqual([0, 1, 2, 3, 4, 5, 6]);
      test.sent.length = 0;
      for (let tick = 0; tick < SNAPSHOT_CHUNK_RESEND_TICKS; tick++) test.sender.tick();
      expect(chunksSent()).toEqual([3, 4, 5, 6]);
      test.sender.close();
    } finally {
      await store.close();
    }
  });

  it('keeps fewer chunks in flight when they reach SNAPSHOT_BYTES_IN_FLIGHT_MAX', async () => {
    const store = await openKvStore(new MemoryStorageFile());
    try {
      // Chunks of one entry of 1.5 MiB: three reach the bound.
      const value = new Uint8Array(1.5 * 1024 * 1024);
      for (let index = 0; index < 8; index++) await store.commit([{ type: 'put', key: encoder.encode(`/big${index}`), value }], []);
      const test = harness(store);
      test.sender.start(snapshotMessage(2));
      await settle();
      test.sender.onResponse({ type: 'snapshot-chunk-response', from: 2, to: 1, term: 2, transferId: 1, chunk: 0, reject: false });
      await settle();
      const inFlight = test.sent.filter((message) => message.type === 'snapshot-chunk' && message.chunk > 0);
      expect(inFlight.length).toBe(Math.ceil(SNAPSHOT_BYTES_IN_FLIGHT_MAX / value.length));
      expect(inFlight.length).toBeLessThan(SNAPSHOT_CHUNKS_IN_FLIGHT_MAX);
      test.sender.close();
    } finally {
      await store.close();
    }
  });

  it('goes on after the key a follower answers chunk 0 with, numbering on from its chunk', async () => {
    const store = await storeWithKeys(40);
    try {
      const test = harness(store);
      test.sender.start(snapshotMessage(2));
      await settle();
      test.sender.onResponse({ type: 'snapshot-chunk-response', from: 2, to: 1, term: 2, transferId: 1, chunk: 6, reject: false, resumeAfter: encoder.encode('/k011') });
      await settle();
      const chunks = test.sent.flatMap((message) => (message.type === 'snapshot-chunk' ? [message] : []));
      expect(chunks.map((message) => message.chunk)).toEqual([0, 7, 8, 9, 10]);
      expect(decodeSnapshotChunk(chunks[1]!.data).entries.map((entry) => decoder.decode(entry.key))[0]).toBe('/k012');
      test.sender.close();
    } finally {
      await store.close();
    }
  });

  it('a store error while reading fails the transfer; a broken invariant fails the replica instead', async () => {
    const store = await storeWithKeys(20);
    try {
      const closed = harness(store);
      closed.sender.start(snapshotMessage(2));
      await settle();
      expect(closed.sent).toMatchObject([{ type: 'snapshot-chunk', chunk: 0 }]);
      closed.snapshots[0]!.failWith = new ClosedError('the store is closed');
      closed.sender.onResponse({ type: 'snapshot-chunk-response', from: 2, to: 1, term: 2, transferId: 1, chunk: 0, reject: false });
      await settle();
      expect(closed.reports).toEqual([[2, 'failed']]);
      expect(closed.failures).toEqual([]);

      const broken = harness(store);
      const bug = new AssertionError('a broken invariant');
      broken.sender.start(snapshotMessage(3));
      await settle();
      broken.snapshots[0]!.failWith = bug;
      broken.sender.onResponse({ type: 'snapshot-chunk-response', from: 3, to: 1, term: 2, transferId: 1, chunk: 0, reject: false });
      await settle();
      expect(broken.failures).toEqual([bug]);
      expect(broken.reports).toEqual([]);
      broken.sender.close();
    } finally {
      await store.close();
    }
  });
});
