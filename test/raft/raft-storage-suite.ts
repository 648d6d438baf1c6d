import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClosedError, CompactedError, InvalidArgumentError } from '../../kernel/errors.ts';
import {
  entrySizeBytes,
  type ConfState,
  type Entry,
  type HardState,
  type RaftPersistRequest,
  type Snapshot,
  type WritableRaftStorage,
} from '../../kernel/raft/index.ts';
import { patternBytes, utf8 } from '../conformance/test-bytes.ts';

/**
 * The RaftStorage conformance suite: every WritableRaftStorage's test calls `runRaftStorageSuite`
 * with a factory that opens a fresh, empty storage, in every runtime where it exists. Each test
 * checks one sentence of the contracts in kernel/raft/storage.ts (RaftStorage reads,
 * WritableRaftStorage writes). Crash durability is the crash test's (test/crash/raft-*.ts).
 */
export interface RaftStorageSuiteCapabilities {
  /**
   * Opens the medium behind `closed` (already closed) again, to check that what was written
   * survives a restart. Omit for storages that keep nothing once closed; those tests then skip.
   */
  reopen?: (closed: WritableRaftStorage) => Promise<WritableRaftStorage>;
}

const NO_REOPEN = 'the implementation declares no reopen capability: it keeps nothing once closed';

const THREE_VOTERS: ConfState = { voters: [1, 2, 3], learners: [] };
const JOINT: ConfState = { voters: [1, 2, 4], learners: [5], votersOutgoing: [1, 2, 3], learnersNext: [3], autoLeave: true };

export function entry(index: number, term: number, data: string | Uint8Array = `e${index}`, type: Entry['type'] = 'normal'): Entry {
  return { index, term, type, data: typeof data === 'string' ? utf8(data) : data };
}

export function entryRange(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, offset) => entry(from + offset, term));
}

export function persistRequest(parts: Partial<RaftPersistRequest>): RaftPersistRequest {
  return { hardState: undefined, entries: [], snapshot: undefined, mustSync: true, ...parts };
}

function snapshotAt(index: number, term: number, confState: ConfState = THREE_VOTERS, data = patternBytes(100, index)): Snapshot {
  return { metadata: { index, term, confState }, data };
}

/** index/term of every entry in [low, high). */
function describeEntries(storage: WritableRaftStorage, low: number, high: number): string[] {
  return storage.entries(low, high, Infinity).map((stored) => `${stored.index}/${stored.term}`);
}

/** Everything a storage answers, to compare a storage with itself after a reopen. */
export function describeStorage(storage: WritableRaftStorage): unknown {
  const first = storage.firstIndex();
  const last = storage.lastIndex();
  return {
    initialState: storage.initialState(),
    firstIndex: first,
    lastIndex: last,
    compactedTerm: storage.term(first - 1),
    entries: storage.entries(first, last + 1, Infinity).map((stored) => ({ ...stored, data: Array.from(stored.data) })),
    snapshot: { metadata: storage.snapshot().metadata, data: Array.from(storage.snapshot().data) },
  };
}

export function runRaftStorageSuite(
  name: string,
  factory: () => Promise<WritableRaftStorage>,
  capabilities: RaftStorageSuiteCapabilities = {},
): void {
  describe(`RaftStorage conformance: ${name}`, () => {
    let current: WritableRaftStorage | undefined;
    const storage = (): WritableRaftStorage => current!;
    beforeEach(async () => {
      current = await factory();
    });
    afterEach(async () => {
      await current?.close();
      current = undefined;
    });

    describe('reads', () => {
      it('starts empty: first index 1, last index 0, term 0 at index 0, an empty hard state and membership', () => {
        expect([storage().firstIndex(), storage().lastIndex(), storage().term(0)]).toEqual([1, 0, 0]);
        expect(storage().initialState()).toEqual({ hardState: { term: 0, vote: 0, commit: 0 }, confState: { voters: [], learners: [] } });
        expect(storage().snapshot().metadata.index).toBe(0);
      });

      it('answers entries in [low, high) within the size budget, but at least one', async () => {
        await storage().persist(persistRequest({ entries: entryRange(1, 10, 1) }));
        expect(describeEntries(storage(), 3, 6)).toEqual(['3/1', '4/1', '5/1']);
        expect(storage().entries(4, 4, Infinity)).toEqual([]);
        const twoEntries = entrySizeBytes(entry(5, 1)) * 2;
        expect(storage().entries(5, 11, twoEntries).length).toBe(2);
        expect(storage().entries(5, 11, 1).length).toBe(1);
      });

      it('returns entries byte for byte, with their type', async () => {
        const stored = [entry(1, 1, patternBytes(3000, 7)), entry(2, 1, new Uint8Array(0)), entry(3, 2, utf8('change'), 'config-change')];
        await storage().persist(persistRequest({ entries: stored }));
        expect(storage().entries(1, 4, Infinity)).toEqual(stored);
      });

      it('throws CompactedError below the first index', async () => {
        await storage().persist(persistRequest({ entries: entryRange(1, 10, 1) }));
        await storage().createSnapshot(4, THREE_VOTERS, new Uint8Array(0));
        expect(() => storage().entries(4, 6, Infinity)).toThrow(CompactedError);
        expect(() => storage().term(3)).toThrow(CompactedError);
        expect(storage().term(4)).toBe(1);
      });
    });

    describe('persist', () => {
      it('appends entries and sets the hard state; reads see them once it resolves', async () => {
        const hardState: HardState = { term: 2, vote: 3, commit: 1 };
        await storage().persist(persistRequest({ entries: [...entryRange(1, 2, 1), entry(3, 2)], hardState }));
        expect([storage().firstIndex(), storage().lastIndex(), storage().term(3)]).toEqual([1, 3, 2]);
        expect(storage().initialState().hardState).toEqual(hardState);
      });

      it('replaces a conflicting tail: stored entries at or after the first new index are dropped', async () => {
        await storage().persist(persistRequest({ entries: entryRange(1, 6, 1) }));
        await storage().persist(persistRequest({ entries: [entry(4, 2, 'x')] }));
        expect(describeEntries(storage(), 1, 5)).toEqual(['1/1', '2/1', '3/1', '4/2']);
        expect(storage().lastIndex()).toBe(4);
        await storage().persist(persistRequest({ entries: [entry(5, 2), entry(6, 2)] }));
        expect(describeEntries(storage(), 4, 7)).toEqual(['4/2', '5/2', '6/2']);
      });

      it('ignores entries the snapshot already covers', async () => {
        await storage().persist(persistRequest({ entries: entryRange(1, 5, 1) }));
        await storage().createSnapshot(3, THREE_VOTERS, new Uint8Array(0));
        await storage().persist(persistRequest({ entries: [...entryRange(1, 5, 1), entry(6, 1)] }));
        expect([storage().firstIndex(), storage().lastIndex()]).toEqual([4, 6]);
      });

      it('installs a snapshot that replaces the whole log, then appends the entries after it', async () => {
        await storage().persist(persistRequest({ entries: entryRange(1, 5, 1) }));
        const snapshot = snapshotAt(10, 3, JOINT);
        await storage().persist(persistRequest({ snapshot, entries: [entry(11, 3)], hardState: { term: 3, vote: 0, commit: 10 } }));
        expect([storage().firstIndex(), storage().lastIndex(), storage().term(10), storage().term(11)]).toEqual([11, 11, 3, 3]);
        expect(storage().snapshot()).toEqual(snapshot);
        expect(storage().initialState()).toEqual({ hardState: { term: 3, vote: 0, commit: 10 }, confState: JOINT });
      });

      it('refuses a snapshot older than the current one', async () => {
        await storage().persist(persistRequest({ snapshot: snapshotAt(10, 3) }));
        await expect(storage().persist(persistRequest({ snapshot: snapshotAt(5, 2) }))).rejects.toThrow(InvalidArgumentError);
        expect(storage().snapshot().metadata.index).toBe(10);
      });

      it('applies writes in call order when the caller does not wait between them', async () => {
        await Promise.all([
          storage().persist(persistRequest({ entries: entryRange(1, 4, 1), mustSync: false })),
          storage().persist(persistRequest({ entries: [entry(3, 2)], hardState: { term: 2, vote: 1, commit: 2 } })),
          storage().createSnapshot(2, THREE_VOTERS, utf8('state at 2')),
          storage().persist(persistRequest({ entries: [entry(4, 2)], mustSync: false })),
        ]);
        expect([storage().firstIndex(), storage().lastIndex()]).toEqual([3, 4]);
        expect(describeEntries(storage(), 3, 5)).toEqual(['3/2', '4/2']);
        expect(storage().initialState().hardState).toEqual({ term: 2, vote: 1, commit: 2 });
      });
    });

    describe('createSnapshot and compact', () => {
      it('records the snapshot with the term of its index and compacts the log up to it', async () => {
        await storage().persist(persistRequest({ entries: [...entryRange(1, 4, 1), ...entryRange(5, 8, 2)] }));
        const created = await storage().createSnapshot(6, JOINT, utf8('state'));
        expect(created.metadata).toEqual({ index: 6, term: 2, confState: JOINT });
        expect(storage().snapshot()).toEqual(created);
        expect([storage().firstIndex(), storage().lastIndex(), storage().term(6)]).toEqual([7, 8, 2]);
        expect(storage().initialState().confState).toEqual(JOINT);
      });

      it('refuses a snapshot at or below the current one, or beyond the log', async () => {
        await storage().persist(persistRequest({ entries: entryRange(1, 5, 1) }));
        await storage().createSnapshot(3, THREE_VOTERS, new Uint8Array(0));
        await expect(storage().createSnapshot(3, THREE_VOTERS, new Uint8Array(0))).rejects.toThrow(InvalidArgumentError);
        await expect(storage().createSnapshot(2, THREE_VOTERS, new Uint8Array(0))).rejects.toThrow(InvalidArgumentError);
        await expect(storage().createSnapshot(6, THREE_VOTERS, new Uint8Array(0))).rejects.toThrow(InvalidArgumentError);
        expect(storage().snapshot().metadata.index).toBe(3);
      });

      it('keeps the entries behind the snapshot up to its compaction index, and compact drops them later', async () => {
        await storage().persist(persistRequest({ entries: [...entryRange(1, 4, 1), ...entryRange(5, 10, 2)] }));
        await expect(storage().createSnapshot(6, JOINT, utf8('state'), { compactIndex: 7 })).rejects.toThrow(InvalidArgumentError);
        const created = await storage().createSnapshot(6, JOINT, utf8('state'), { compactIndex: 3 });
        expect(created.metadata).toEqual({ index: 6, term: 2, confState: JOINT });
        expect([storage().firstIndex(), storage().lastIndex(), storage().term(3), storage().term(6)]).toEqual([4, 10, 1, 2]);
        expect(describeEntries(storage(), 4, 7)).toEqual(['4/1', '5/2', '6/2']);
        expect(() => storage().term(2)).toThrow(CompactedError);
        await storage().createSnapshot(8, JOINT, utf8('state'), { compactIndex: 1 });
        expect([storage().firstIndex(), storage().snapshot().metadata.index]).toEqual([4, 8]);
        await storage().compact(5);
        expect([storage().firstIndex(), storage().lastIndex(), storage().term(5)]).toEqual([6, 10, 2]);
        await expect(storage().compact(9)).rejects.toThrow(InvalidArgumentError);
      });

      it('compacts nothing beyond the snapshot, and an index already compacted is no error', async () => {
        await storage().persist(persistRequest({ entries: entryRange(1, 10, 1) }));
        await expect(storage().compact(5)).rejects.toThrow(InvalidArgumentError);
        await storage().createSnapshot(5, THREE_VOTERS, new Uint8Array(0));
        await storage().compact(5);
        await storage().compact(2);
        expect([storage().firstIndex(), storage().lastIndex()]).toEqual([6, 10]);
      });
    });

    describe('close', () => {
      it('rejects every later write with ClosedError, and closing twice is fine', async () => {
        await storage().close();
        await storage().close();
        await expect(storage().persist(persistRequest({ entries: [entry(1, 1)] }))).rejects.toThrow(ClosedError);
        await expect(storage().createSnapshot(1, THREE_VOTERS, new Uint8Array(0))).rejects.toThrow(ClosedError);
        await expect(storage().compact(0)).rejects.toThrow(ClosedError);
      });
    });

    describe('reopen', () => {
      it.skipIf(capabilities.reopen === undefined)(`keeps the hard state, log and snapshot across a reopen${capabilities.reopen ? '' : ` (${NO_REOPEN})`}`, async () => {
        await storage().persist(persistRequest({ entries: entryRange(1, 6, 1), hardState: { term: 1, vote: 2, commit: 3 } }));
        await storage().createSnapshot(3, JOINT, patternBytes(5000, 3));
        await storage().persist(persistRequest({ entries: [entry(5, 2, 'replaced'), entry(6, 2, '', 'config-change')], hardState: { term: 2, vote: 0, commit: 5 } }));
        const before = describeStorage(storage());
        await storage().close();
        current = await capabilities.reopen!(storage());
        expect(describeStorage(storage())).toEqual(before);
        await storage().persist(persistRequest({ entries: [entry(7, 2)] }));
        expect(storage().lastIndex()).toBe(7);
      });

      it.skipIf(capabilities.reopen === undefined)(`keeps the entries kept behind the snapshot across a reopen${capabilities.reopen ? '' : ` (${NO_REOPEN})`}`, async () => {
        await storage().persist(persistRequest({ entries: [...entryRange(1, 3, 1), ...entryRange(4, 8, 2)], hardState: { term: 2, vote: 2, commit: 7 } }));
        await storage().createSnapshot(6, JOINT, utf8('state'), { compactIndex: 2 });
        const before = describeStorage(storage());
        await storage().close();
        current = await capabilities.reopen!(storage());
        expect(describeStorage(storage())).toEqual(before);
        expect([storage().firstIndex(), storage().term(2), storage().snapshot().metadata.index]).toEqual([3, 1, 6]);
        await storage().compact(4);
        await storage().close();
        current = await capabilities.reopen!(storage());
        expect([storage().firstIndex(), storage().term(4), storage().lastIndex()]).toEqual([5, 2, 8]);
      });

      it.skipIf(capabilities.reopen === undefined)(`keeps an installed snapshot and nothing of the log it replaced${capabilities.reopen ? '' : ` (${NO_REOPEN})`}`, async () => {
        await storage().persist(persistRequest({ entries: entryRange(1, 20, 1) }));
        await storage().persist(persistRequest({ snapshot: snapshotAt(15, 2), hardState: { term: 2, vote: 0, commit: 15 } }));
        await storage().close();
        current = await capabilities.reopen!(storage());
        expect([storage().firstIndex(), storage().lastIndex(), storage().term(15)]).toEqual([16, 15, 2]);
        expect(storage().snapshot()).toEqual(snapshotAt(15, 2));
      });
    });
  });
}
