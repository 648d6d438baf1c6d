import { describe, expect, it } from 'vitest';
import { CheckpointPacer } from './checkpoint-pacer.ts';
import { CHECKPOINT_PAUSE_CALLS_MAX, CHECKPOINT_PAUSE_PRESSURE_SCALE_MAX, META_SLOT_COUNT, PAGE_BYTES, WRITE_BUFFER_ENTRY_OVERHEAD_BYTES } from './constants.ts';
import type { KvSnapshot, KvStore } from './kv-store-types.ts';
import { openKvStore } from './kv-store.ts';
import type { BranchNode, PageReference, TreeNode } from './node.ts';
import { decodeNode, openNodePage } from './node-codec.ts';
import { checkStoreFile } from './store-check.ts';
import { CountingStorageFile } from './test-storage.ts';
import { HEAVY_TEST_TIMEOUT_MS, SeededRandom, hex, numberedKey } from './test-workload.ts';
import { type TreeChange, type TreeMergeTarget, mergeIntoTree } from './tree-merge.ts';

/**
 * Checkpoints pause after each budget of work (CheckpointPacer, KvStoreOptions.checkpointPause):
 * the merge never builds more than a budget's leaves in one stretch, into an empty tree as into a
 * populated one; commits complete while a checkpoint is paused; and whatever commits, reads,
 * snapshots, a close or a failure do at a pause, the state is the one the commits describe.
 */

/** Lets every pending promise chain of in-memory storage run: a bounded number of microtask turns. */
async function drainMicrotasks(): Promise<void> {
  for (let turn = 0; turn < 2_000; turn++) await Promise.resolve();
}

/** A pacer that also adds up the work it is told of. */
class CountingPacer extends CheckpointPacer {
  spentBytes = 0;

  override spend(bytes: number): boolean {
    this.spentBytes += bytes;
    return super.spend(bytes);
  }
}

/**
 * A tree in memory for the merge alone: leaf pages as the merge sealed them, branches as nodes.
 * Records, in order, each leaf page the merge builds and each pause it takes.
 */
class MemoryMergeTarget implements TreeMergeTarget {
  txn = 1;
  readonly readsConcurrentMax = 4;
  readonly events: ('leaf' | 'pause')[] = [];
  readonly pacer: CountingPacer;
  readonly #leafPages = new Map<number, Uint8Array>();
  readonly #branches = new Map<number, BranchNode>();
  #nextPageId = META_SLOT_COUNT;

  constructor(workBytes: number) {
    const schedule = (resume: () => void): void => {
      this.events.push('pause');
      void Promise.resolve().then(resume);
    };
    this.pacer = new CountingPacer({ schedule, workBytes, pressure: () => 0, hurry: () => false });
  }

  read(reference: PageReference): TreeNode {
    return this.#branches.get(reference.pageId) ?? decodeNode(this.#leafPages.get(reference.pageId)!, reference);
  }

  allocate(): number {
    return this.#nextPageId++;
  }

  free(): void {}

  newRun(): never {
    throw new Error('this test has no overflow runs');
  }

  freeRun(): never {
    throw new Error('this test has no overflow runs');
  }

  addNode(node: TreeNode): void {
    this.#branches.set(node.pageId, node as BranchNode);
  }

  addLeafPage(pageId: number, page: Uint8Array): void {
    this.#leafPages.set(pageId, page);
    this.events.push('leaf');
  }

  cachedNode(): undefined {
    return undefined;
  }

  /** Branches are kept as nodes here (readNodePages gives them no page bytes). */
  async nodeOfPage(_page: Uint8Array, reference: PageReference): Promise<TreeNode> {
    return this.read(reference);
  }

  async readNodePages(references: readonly PageReference[]): Promise<{ page: Uint8Array; kind: 'leaf' | 'branch'; count: number }[]> {
    return references.map((reference) => {
      const branch = this.#branches.get(reference.pageId);
      if (branch !== undefined) return { page: new Uint8Array(0), kind: 'branch' as const, count: branch.children.length };
      const page = this.#leafPages.get(reference.pageId)!;
      return { page, kind: 'leaf' as const, count: openNodePage(page, reference).count };
    });
  }

  readOverflow(): never {
    throw new Error('this test has no overflow runs');
  }

  /** Every entry under `root`, in key order, as `key=value@version`. */
  describe(root: PageReference | undefined): string[] {
    if (root === undefined) return [];
    const node = this.read(root);
    if (node.kind === 'branch') return node.children.flatMap((child) => this.describe(child));
    return node.keys.map((key, index) => `${hex(key)}=${hex(node.values[index] as Uint8Array)}@${node.versions[index]}`);
  }

  /** The most leaves built between two pauses. */
  leavesBetweenPausesMax(): number {
    let most = 0;
    let leaves = 0;
    for (const event of this.events) {
      leaves = event === 'leaf' ? leaves + 1 : 0;
      most = Math.max(most, leaves);
    }
    return most;
  }
}

type Reference = Map<string, string>;

function describeReference(reference: Reference): string[] {
  return [...reference.entries()].sort(([left], [right]) => (left < right ? -1 : 1)).map(([key, rest]) => `${key}=${rest}`);
}

async function scanAll(reader: KvStore | KvSnapshot): Promise<string[]> {
  const described: string[] = [];
  for (let page = await reader.scan({ limit: 500 }); ; page = await reader.scan({ limit: 500, cursor: page.cursor! })) {
    for (const entry of page.entries) described.push(`${hex(entry.key)}=${hex(entry.value)}@${entry.version}`);
    if (page.cursor === undefined) return described;
  }
}

/** A tree file whose reads fail once `failReads` is set, as a failing disk's would. */
class FailingReadsStorageFile extends CountingStorageFile {
  failReads = false;

  override async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.failReads) throw new Error('simulated read failure');
    return super.read(offset, length);
  }
}

/**
 * A store on memory files whose checkpoints pause until the test resumes them: `pending` holds
 * the resume of each pause taken and not yet resumed.
 */
async function openPausedStore(options: { tree?: CountingStorageFile; workBytes: number; writeBufferBytes: number; cachePages?: number }) {
  const tree = options.tree ?? new CountingStorageFile();
  const log = new CountingStorageFile();
  const secondLog = new CountingStorageFile();
  const pending: (() => void)[] = [];
  let pauses = 0;
  const store = await openKvStore(tree, {
    log,
    secondLog,
    writeBufferBytes: options.writeBufferBytes,
    cachePages: options.cachePages ?? 16,
    checkpointPauseWorkBytes: options.workBytes,
    checkpointPause: (resume) => {
      pauses++;
      pending.push(resume);
    },
  });
  const reopen = (): Promise<KvStore> =>
    openKvStore(new CountingStorageFile(tree.image()), { log: new CountingStorageFile(log.image()), secondLog: new CountingStorageFile(secondLog.image()) });
  return { store, tree, pending, pauses: () => pauses, reopen };
}

/**
 * Runs the pending pauses until `promise` settles, calling `atPause` at each before resuming it;
 * returns what it settled with. Bounded: a checkpoint that never ends fails the test.
 */
async function resumeUntil<T>(promise: Promise<T>, pending: (() => void)[], atPause: () => Promise<void> = async () => {}): Promise<T> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let turn = 0; !settled; turn++) {
    expect(turn).toBeLessThan(100_000);
    await drainMicrotasks();
    const resume = pending.shift();
    if (resume === undefined) continue;
    await atPause();
    resume();
  }
  return promise;
}

describe('checkpoint pauses', { timeout: HEAVY_TEST_TIMEOUT_MS }, () => {
  it('builds at most a budget of leaves between two pauses of a merge, into an empty tree and into a populated one', async () => {
    const workBytes = 4 * PAGE_BYTES;
    const target = new MemoryMergeTarget(workBytes);
    const value = (index: number, round: number): Uint8Array => new Uint8Array(60).fill((index + round) % 256);
    const reference: Reference = new Map();
    const first: TreeChange[] = [];
    for (let index = 0; index < 3_000; index++) {
      first.push({ key: numberedKey(index * 2), version: 1, value: value(index, 0) });
      reference.set(hex(numberedKey(index * 2)), `${hex(value(index, 0))}@1`);
    }
    const root = await mergeIntoTree(target, undefined, first);
    // 3,000 entries of about 80 bytes: some 70 leaves, all built by the first merge.
    expect(target.events.filter((event) => event === 'leaf').length).toBeGreaterThan(50);
    expect(target.leavesBetweenPausesMax()).toBeLessThanOrEqual(workBytes / PAGE_BYTES + 1);
    expect(target.describe(root)).toEqual(describeReference(reference));

    target.txn = 2;
    target.events.length = 0;
    const second: TreeChange[] = [];
    for (let index = 0; index < 3_000; index++) {
      const key = numberedKey(index * 2);
      if (index % 3 === 0) {
        second.push({ key, version: 2, value: value(index, 1) });
        reference.set(hex(key), `${hex(value(index, 1))}@2`);
      } else if (index % 7 === 0) {
        second.push({ key, version: 2, value: null });
        reference.delete(hex(key));
      }
      if (index % 2 === 0) {
        const inserted = numberedKey(index * 2 + 1);
        second.push({ key: inserted, version: 2, value: value(index, 2) });
        reference.set(hex(inserted), `${hex(value(index, 2))}@2`);
      }
    }
    second.sort((left, right) => (hex(left.key) < hex(right.key) ? -1 : 1));
    const merged = await mergeIntoTree(target, root, second);
    expect(target.events.filter((event) => event === 'leaf').length).toBeGreaterThan(50);
    expect(target.leavesBetweenPausesMax()).toBeLessThanOrEqual(workBytes / PAGE_BYTES + 1);
    expect(target.describe(merged)).toEqual(describeReference(reference));
  });

  it('counts a merge\'s work once: each change\'s bytes where it is merged, its key where its order is checked, each leaf built', async () => {
    const target = new MemoryMergeTarget(16 * PAGE_BYTES);
    const changes: TreeChange[] = [];
    for (let index = 0; index < 2_000; index++) changes.push({ key: numberedKey(index), version: 1, value: new Uint8Array(40 + (index % 7)) });
    await mergeIntoTree(target, undefined, changes);
    const leaves = target.events.filter((event) => event === 'leaf').length;
    let expected = leaves * PAGE_BYTES;
    for (const change of changes) expected += change.key.length + (change.key.length + change.value!.length + WRITE_BUFFER_ENTRY_OVERHEAD_BYTES);
    // Each change counted twice over (the order check as a whole change too) paused a merge twice as often.
    expect(target.pacer.spentBytes).toBe(expected);
  });

  it('completes a commit issued while a checkpoint is paused before the checkpoint ends, into an empty tree and into a populated one', async () => {
    const { store, pending, pauses, reopen } = await openPausedStore({ workBytes: 16 * 1024, writeBufferBytes: 64 * 1024 });
    const value = new Uint8Array(100).fill(1);
    for (const round of [0, 1]) {
      // Enough for a checkpoint: the first into the empty tree, the second into the tree it made.
      const batch = Array.from({ length: 1_000 }, (_, index) => ({ type: 'put' as const, key: numberedKey(round * 1_000 + index), value }));
      const transactionsBefore = (await store.stats()).writeTransactionCount;
      const pausesBefore = pauses();
      await store.batch(batch);
      await drainMicrotasks();
      expect(pending.length).toBe(1);
      const late = numberedKey(round, 'late');
      let committed = false;
      const commit = store.put(late, value).then(() => (committed = true));
      await drainMicrotasks();
      expect(committed).toBe(true);
      expect((await store.stats()).writeTransactionCount).toBe(transactionsBefore);
      expect((await store.get(late))?.value).toEqual(value);
      expect((await store.get(numberedKey(round * 1_000 + 999)))?.value).toEqual(value);
      await resumeUntil(commit, pending);
      // The checkpoint: every pause resumed, the tree written once.
      while (pending.length > 0) {
        pending.shift()!();
        await drainMicrotasks();
      }
      expect((await store.stats()).writeTransactionCount).toBe(transactionsBefore + 1);
      // 1,000 changes of some 170 bytes of work, checked, merged and built into about 30 leaves.
      expect(pauses() - pausesBefore).toBeGreaterThan(20);
    }
    await resumeUntil(store.close(), pending);
    const reopened = await reopen();
    expect((await reopened.scan({ limit: 5_000 })).entries.length).toBe(2_002);
    await reopened.close();
  });

  for (const seed of [1, 2, 3]) {
    it(`leaves the state the commits describe with commits, reads and snapshots at every pause (seed ${seed})`, async () => {
      const random = new SeededRandom(seed);
      const { store, tree, pending, pauses, reopen } = await openPausedStore({ workBytes: 2 * 1024, writeBufferBytes: 24 * 1024 });
      const keySpace = 600;
      /** Commits as they resolved, in version order. */
      const history: { version: number; operations: { key: string; value: string | null }[] }[] = [];
      const stateAt = (version: number): string[] => {
        const state: Reference = new Map();
        for (const commit of history) {
          if (commit.version > version) break;
          for (const { key, value } of commit.operations) {
            if (value === null) state.delete(key);
            else state.set(key, `${value}@${commit.version}`);
          }
        }
        return describeReference(state);
      };
      const commit = (): Promise<unknown> => {
        const operations = new Map<string, { type: 'put' | 'delete'; key: Uint8Array; value: Uint8Array }>();
        for (let count = 1 + random.below(30); count > 0; count--) {
          const key = numberedKey(random.below(keySpace));
          operations.set(hex(key), { type: random.below(5) === 0 ? 'delete' : 'put', key, value: random.bytes(random.below(120)) });
        }
        const batch = [...operations.values()].map(({ type, key, value }) => (type === 'put' ? { type, key, value } : { type, key }));
        return store.batch(batch).then((version) => {
          history.push({ version, operations: [...operations.values()].map(({ type, key, value }) => ({ key: hex(key), value: type === 'put' ? hex(value) : null })) });
        });
      };
      const inFlight: Promise<unknown>[] = [];
      const pinned: { snapshot: KvSnapshot; version: number; described: string[] }[] = [];
      const checked: { version: number; described: string[] }[] = [];
      let committing = true;
      const atPause = async (): Promise<void> => {
        const action = random.below(4);
        if (action === 0 && committing) inFlight.push(commit());
        if (action === 1) {
          const snapshot = store.snapshot();
          pinned.push({ snapshot, version: snapshot.version, described: await scanAll(snapshot) });
        }
        if (action === 2 && pinned.length > 0) {
          // Read again after later pauses (and perhaps the publish): the same state.
          const oldest = pinned.shift()!;
          checked.push({ version: oldest.version, described: await scanAll(oldest.snapshot) });
          checked.push(oldest);
          oldest.snapshot.release();
        }
        if (action === 3) {
          const key = numberedKey(random.below(keySpace));
          const snapshot = store.snapshot();
          const entry = await snapshot.get(key);
          const described = entry === undefined ? [] : [`${hex(key)}=${hex(entry.value)}@${entry.version}`];
          checked.push({ version: snapshot.version, described, key: hex(key) } as { version: number; described: string[] });
          snapshot.release();
        }
      };
      for (let round = 0; round < 150; round++) {
        inFlight.push(commit());
        await resumeUntil(Promise.all(inFlight.splice(0)), pending, atPause);
      }
      committing = false;
      await resumeUntil(Promise.all(inFlight.splice(0)), pending, atPause);
      for (const { snapshot, version, described } of pinned) {
        checked.push({ version, described });
        checked.push({ version, described: await scanAll(snapshot) });
        snapshot.release();
      }
      history.sort((left, right) => left.version - right.version);
      for (const { version, described, key } of checked as { version: number; described: string[]; key?: string }[]) {
        const expected = stateAt(version);
        expect(described).toEqual(key === undefined ? expected : expected.filter((entry) => entry.startsWith(`${key}=`)));
      }
      expect(await scanAll(store)).toEqual(stateAt(history.at(-1)!.version));
      expect((await store.stats()).writeTransactionCount).toBeGreaterThan(5);
      expect(pauses()).toBeGreaterThan(100);
      await resumeUntil(store.close(), pending);
      // A close leaves the commits since the last checkpoint in the log; the tree it leaves is whole.
      await checkStoreFile(new CountingStorageFile(tree.image()));
      const reopened = await reopen();
      expect(await scanAll(reopened)).toEqual(stateAt(history.at(-1)!.version));
      await reopened.close();
    });
  }

  it('waits for a paused checkpoint at close, pausing no more, and loses no commit acknowledged before or during it', async () => {
    const { store, pending, pauses, reopen } = await openPausedStore({ workBytes: 8 * 1024, writeBufferBytes: 32 * 1024 });
    const value = new Uint8Array(80).fill(9);
    await store.batch(Array.from({ length: 600 }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value })));
    await drainMicrotasks();
    expect(pending.length).toBe(1);
    await resumeUntil(store.put(numberedKey(600), value), pending);
    const closing = store.close();
    const pausesAtClose = pauses();
    await expect(store.put(numberedKey(601), value)).rejects.toMatchObject({ code: 'ECLOSED' });
    await resumeUntil(closing, pending);
    // The checkpoint in flight and the close's own ran to their ends once resumed.
    expect(pauses()).toBe(pausesAtClose);
    const reopened = await reopen();
    expect((await reopened.scan({ limit: 1_000 })).entries.length).toBe(601);
    await reopened.close();
  });

  it('fails the store when the tree cannot be read at a pause of its merge, and keeps every acknowledged commit in the logs', async () => {
    const tree = new FailingReadsStorageFile();
    const { store, pending, reopen } = await openPausedStore({ tree, workBytes: 8 * 1024, writeBufferBytes: 32 * 1024, cachePages: 16 });
    const value = new Uint8Array(80).fill(3);
    // A first checkpoint makes a tree of some 20 leaves, more than the cache keeps.
    await store.batch(Array.from({ length: 600 }, (_, index) => ({ type: 'put' as const, key: numberedKey(index * 2), value })));
    while ((await store.stats()).writeTransactionCount === 0) {
      expect(pending.length).toBeGreaterThan(0);
      pending.shift()!();
      await drainMicrotasks();
    }
    // The second merges into it: its reads of the tree fail from its first pause on.
    await store.batch(Array.from({ length: 600 }, (_, index) => ({ type: 'put' as const, key: numberedKey(index * 2 + 1), value })));
    await drainMicrotasks();
    expect(pending.length).toBe(1);
    await resumeUntil(store.put(numberedKey(5_000), value), pending);
    tree.failReads = true;
    while (pending.length > 0) {
      pending.shift()!();
      await drainMicrotasks();
    }
    await expect(store.put(numberedKey(5_001), value)).rejects.toThrow('simulated read failure');
    tree.failReads = false;
    await store.close();
    const reopened = await reopen();
    expect((await reopened.scan({ limit: 2_000 })).entries.length).toBe(1_201);
    await reopened.close();
  });

  it('resumes a paused checkpoint after CHECKPOINT_PAUSE_CALLS_MAX calls on the store, without the runtime taking its turn', async () => {
    const { store, pending, pauses } = await openPausedStore({ workBytes: 8 * 1024, writeBufferBytes: 32 * 1024 });
    const value = new Uint8Array(80).fill(5);
    await store.batch(Array.from({ length: 600 }, (_, index) => ({ type: 'put' as const, key: numberedKey(index), value })));
    await drainMicrotasks();
    expect(pending.length).toBe(1);
    const pausesBefore = pauses();
    // A loop of reads from the buffers that never lets the runtime turn: one call short, the checkpoint waits.
    for (let call = 0; call < CHECKPOINT_PAUSE_CALLS_MAX - 1; call++) await store.get(numberedKey(call));
    await drainMicrotasks();
    expect(pauses()).toBe(pausesBefore);
    await store.get(numberedKey(0));
    await drainMicrotasks();
    // Resumed by the last call: the checkpoint went on to its next pause.
    expect(pauses()).toBe(pausesBefore + 1);
    // The first pause's resume, still pending, now does nothing.
    await resumeUntil(store.close(), pending);
  });

  it('pauses after the work budget, and after more of it the fuller the fresh buffer, up to CHECKPOINT_PAUSE_PRESSURE_SCALE_MAX times', async () => {
    let pressure = 0;
    const pacer = new CheckpointPacer({ schedule: (resume) => resume(), workBytes: 1_000, pressure: () => pressure, hurry: () => false });
    expect(pacer.spend(999)).toBe(false);
    expect(pacer.spend(1)).toBe(true);
    pressure = 0.75;
    await pacer.pause();
    expect(pacer.spend(3_999)).toBe(false);
    expect(pacer.spend(1)).toBe(true);
    pressure = 2;
    await pacer.pause();
    expect(pacer.spend(CHECKPOINT_PAUSE_PRESSURE_SCALE_MAX * 1_000 - 1)).toBe(false);
    expect(pacer.due).toBe(false);
    expect(pacer.spend(1)).toBe(true);
    expect(pacer.pauses).toBe(2);
  });

  it('refuses a checkpointPause that is not a function and a checkpointPauseWorkBytes that is not a positive integer', async () => {
    const checkpointPause = 'soon' as unknown as (resume: () => void) => void;
    await expect(openKvStore(new CountingStorageFile(), { checkpointPause })).rejects.toMatchObject({ code: 'EINVAL' });
    for (const checkpointPauseWorkBytes of [0, -1, 1.5, Number.NaN]) {
      await expect(openKvStore(new CountingStorageFile(), { checkpointPauseWorkBytes })).rejects.toMatchObject({ code: 'EINVAL' });
    }
  });
});
