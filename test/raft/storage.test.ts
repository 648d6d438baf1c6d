import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../kernel/assert.ts';
import { CompactedError, InvalidArgumentError } from '../../kernel/errors.ts';
import { entrySizeBytes, MemoryRaftStorage, type Entry } from '../../kernel/raft/index.ts';
import { RaftLog } from '../../kernel/raft/raft-log.ts';

function entry(index: number, term: number, data = ''): Entry {
  return { index, term, type: 'normal', data: new TextEncoder().encode(data) };
}

function entries(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, offset) => entry(from + offset, term, `e${from + offset}`));
}

describe('MemoryRaftStorage', () => {
  it('starts empty, or from a bootstrap snapshot', () => {
    const empty = new MemoryRaftStorage();
    expect([empty.firstIndex(), empty.lastIndex(), empty.term(0)]).toEqual([1, 0, 0]);
    const bootstrapped = new MemoryRaftStorage({ confState: { voters: [1, 2, 3], learners: [] }, bootstrapIndex: 5, bootstrapTerm: 2 });
    expect([bootstrapped.firstIndex(), bootstrapped.lastIndex(), bootstrapped.term(5)]).toEqual([6, 5, 2]);
    expect(bootstrapped.initialState()).toEqual({ hardState: { term: 2, vote: 0, commit: 5 }, confState: { voters: [1, 2, 3], learners: [] } });
  });

  it('appends, truncating a conflicting suffix, and ignores compacted entries', () => {
    const storage = new MemoryRaftStorage();
    storage.append(entries(1, 5, 1));
    storage.append([entry(4, 2, 'x'), entry(5, 2, 'y')]);
    expect(storage.entries(1, 6, Infinity).map((e) => `${e.index}/${e.term}`)).toEqual(['1/1', '2/1', '3/1', '4/2', '5/2']);
    storage.createSnapshotSynchronously(3, { voters: [1], learners: [] }, new Uint8Array());
    storage.compactSynchronously(3);
    storage.append(entries(1, 4, 2).map((e) => ({ ...e, term: e.index === 4 ? 2 : 1 })));
    expect(storage.firstIndex()).toBe(4);
    expect(storage.lastIndex()).toBe(4);
  });

  it('refuses to leave a gap', () => {
    const storage = new MemoryRaftStorage();
    storage.append(entries(1, 2, 1));
    expect(() => storage.append([entry(4, 1)])).toThrow(AssertionError);
  });

  it('throws CompactedError below the first index, and limits entries by size but returns at least one', () => {
    const storage = new MemoryRaftStorage();
    storage.append(entries(1, 10, 1));
    storage.createSnapshotSynchronously(4, { voters: [1], learners: [] }, new Uint8Array());
    storage.compactSynchronously(4);
    expect(() => storage.entries(4, 6, Infinity)).toThrow(CompactedError);
    expect(() => storage.term(3)).toThrow(CompactedError);
    expect(storage.term(4)).toBe(1);
    const oneEntry = entrySizeBytes(entry(5, 1, 'e5'));
    expect(storage.entries(5, 11, oneEntry * 2).length).toBe(2);
    expect(storage.entries(5, 11, 1).length).toBe(1);
  });

  it('never compacts beyond its snapshot', () => {
    const storage = new MemoryRaftStorage();
    storage.append(entries(1, 10, 1));
    expect(() => storage.compactSynchronously(5)).toThrow(InvalidArgumentError);
    storage.createSnapshotSynchronously(5, { voters: [1], learners: [] }, new Uint8Array());
    expect(() => storage.createSnapshotSynchronously(5, { voters: [1], learners: [] }, new Uint8Array())).toThrow(InvalidArgumentError);
    storage.compactSynchronously(5);
    expect(storage.firstIndex()).toBe(6);
  });
});

describe('RaftLog', () => {
  function logWith(stored: Entry[]): RaftLog {
    const storage = new MemoryRaftStorage();
    storage.append(stored);
    return new RaftLog(storage);
  }

  it('appends from a leader only where the previous entry matches', () => {
    const log = logWith(entries(1, 3, 1));
    expect(log.maybeAppend({ logIndex: 3, logTerm: 2, commit: 3, entries: [entry(4, 2)] })).toBeUndefined(); // 3 is of term 1, not 2
    expect(log.maybeAppend({ logIndex: 3, logTerm: 1, commit: 10, entries: [entry(4, 2)] })).toBe(4);
    // Commit never goes beyond what this append proves matches the leader's log.
    expect(log.committed).toBe(4);
  });

  it('overwrites a conflicting uncommitted suffix, but never a committed entry', () => {
    const log = logWith(entries(1, 5, 1));
    log.commitTo(2);
    expect(log.maybeAppend({ logIndex: 2, logTerm: 1, commit: 2, entries: [entry(3, 2, 'new')] })).toBe(3);
    expect(log.lastIndex()).toBe(3);
    expect(log.term(3)).toBe(2);
    expect(() => log.maybeAppend({ logIndex: 1, logTerm: 1, commit: 2, entries: [entry(2, 3)] })).toThrow(AssertionError);
  });

  it('keeps entries when an older, shorter append arrives after a newer one', () => {
    const log = logWith(entries(1, 5, 1));
    expect(log.maybeAppend({ logIndex: 1, logTerm: 1, commit: 0, entries: entries(2, 3, 1) })).toBe(3);
    expect(log.lastIndex()).toBe(5);
  });

  it('finds the conflict point by term, to skip a whole term per round trip', () => {
    // Terms: 1 1 1 2 2 4 4
    const log = logWith([...entries(1, 3, 1), ...entries(4, 5, 2), ...entries(6, 7, 4)]);
    expect(log.findConflictByTerm(7, 3)).toEqual({ index: 5, term: 2 });
    expect(log.findConflictByTerm(7, 4)).toEqual({ index: 7, term: 4 });
    expect(log.findConflictByTerm(5, 1)).toEqual({ index: 3, term: 1 });
    expect(log.findConflictByTerm(7, 0)).toEqual({ index: 0, term: 0 });
  });

  it('commits by counting only entries of the current term', () => {
    const log = logWith([...entries(1, 2, 1), ...entries(3, 3, 2)]);
    expect(log.maybeCommit(2, 2)).toBe(false);
    expect(log.committed).toBe(0);
    expect(log.maybeCommit(3, 2)).toBe(true);
    expect(log.committed).toBe(3);
  });

  it('answers terms of unstable entries and undefined outside the log', () => {
    const log = logWith(entries(1, 2, 1));
    log.append([entry(3, 2)]);
    expect([log.term(0), log.term(2), log.term(3), log.term(4)]).toEqual([0, 1, 2, undefined]);
    expect(log.persistedLastIndex()).toBe(2);
    log.unstable.stableTo(3, 2);
    expect(log.persistedLastIndex()).toBe(3);
  });

  it('decides who is more up to date by last term, then by length', () => {
    const log = logWith([...entries(1, 2, 1), ...entries(3, 3, 2)]);
    expect(log.isUpToDate(1, 3)).toBe(true);
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
    expect(log.isUpToDate(10, 1)).toBe(false);
  });

  it('hands out committed entries within the byte budget, never during a pending snapshot', () => {
    const log = logWith(entries(1, 5, 1));
    log.commitTo(5);
    expect(log.nextCommittedEntries(entrySizeBytes(entry(1, 1, 'e1')) * 2).length).toBe(2);
    log.restore({ metadata: { index: 9, term: 3, confState: { voters: [1], learners: [] } }, data: new Uint8Array() });
    expect(log.nextCommittedEntries(Infinity)).toEqual([]);
    expect(log.firstIndex()).toBe(10);
    expect(log.committed).toBe(9);
  });
});
