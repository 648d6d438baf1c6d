import { assert } from '../assert.ts';
import { CompactedError } from '../errors.ts';
import { limitSize } from './entry-size.ts';
import type { RaftStorage } from './storage.ts';
import type { Entry, Snapshot } from './types.ts';
import { UnstableLog } from './unstable-log.ts';

/**
 * One node's view of the log: persisted entries (in `RaftStorage`) followed by unstable ones,
 * plus the commit and applied indexes. Invariant: applied <= committed <= lastIndex().
 */
export class RaftLog {
  readonly storage: RaftStorage;
  readonly unstable: UnstableLog;
  committed: number;
  applied: number;

  constructor(storage: RaftStorage) {
    this.storage = storage;
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.unstable = new UnstableLog(lastIndex + 1);
    this.committed = firstIndex - 1;
    this.applied = firstIndex - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The last index known durable: everything before the unstable part, if no snapshot is pending. */
  persistedLastIndex(): number {
    return this.unstable.snapshot === undefined ? this.unstable.offset - 1 : 0;
  }

  /**
   * The term of the entry at `index`, or undefined when the log cannot say: the entry is
   * compacted away (below the snapshot) or not there yet (beyond the last index).
   */
  term(index: number): number | undefined {
    const dummyIndex = this.firstIndex() - 1;
    if (index < dummyIndex || index > this.lastIndex()) return undefined;
    const unstableTerm = this.unstable.maybeTerm(index);
    if (unstableTerm !== undefined) return unstableTerm;
    try {
      return this.storage.term(index);
    } catch (error) {
      if (error instanceof CompactedError) return undefined;
      throw error;
    }
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== undefined, `the term of the last index ${this.lastIndex()} must be known`);
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /**
   * Entries in [low, high) within the size budget (at least one), or undefined when `low` is
   * compacted away, so the caller must fall back to a snapshot.
   */
  slice(low: number, high: number, sizeBytesMax: number): Entry[] | undefined {
    assert(low <= high && high <= this.lastIndex() + 1, `slice [${low}, ${high}) beyond the last index ${this.lastIndex()}`);
    if (low < this.firstIndex()) return undefined;
    if (low === high) return [];
    let result: Entry[] = [];
    const unstableOffset = this.unstable.offset;
    if (low < unstableOffset) {
      const storedHigh = Math.min(high, unstableOffset);
      try {
        result = this.storage.entries(low, storedHigh, sizeBytesMax);
      } catch (error) {
        if (error instanceof CompactedError) return undefined;
        throw error;
      }
      // Storage stopped short for size: the unstable entries would exceed the budget too.
      if (result.length < storedHigh - low) return result;
    }
    if (high > unstableOffset) {
      const unstableEntries = this.unstable.slice(Math.max(low, unstableOffset), high);
      result = result.length === 0 ? unstableEntries : result.concat(unstableEntries);
    }
    return limitSize(result, sizeBytesMax);
  }

  /** Entries from `low` to the end of the log, within the budget; undefined when compacted. */
  entriesFrom(low: number, sizeBytesMax: number): Entry[] | undefined {
    if (low > this.lastIndex()) return [];
    return this.slice(low, this.lastIndex() + 1, sizeBytesMax);
  }

  /** Appends entries from a leader (or the leader's own), overwriting any conflicting suffix. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    assert(after >= this.committed, `cannot overwrite committed entries: appending after ${after}, committed ${this.committed}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * Follower side of an append: if our log has the entry at `logIndex` with `logTerm`, append
   * `entries` (dropping a conflicting suffix), advance commit to min(commit, last new index) and
   * return the last new index. Otherwise return undefined (the leader must probe further back).
   */
  maybeAppend(append: { logIndex: number; logTerm: number; commit: number; entries: readonly Entry[] }): number | undefined {
    const { logIndex: index, logTerm: term, commit, entries } = append;
    if (!this.matchTerm(index, term)) return undefined;
    const lastNewIndex = index + entries.length;
    const conflictIndex = this.findConflict(entries);
    if (conflictIndex !== 0) {
      assert(conflictIndex > this.committed, `entry ${conflictIndex} conflicts with a committed entry (committed ${this.committed})`);
      this.append(entries.slice(conflictIndex - (index + 1)));
    }
    this.commitTo(Math.min(commit, lastNewIndex));
    return lastNewIndex;
  }

  /**
   * The index of the first entry of `entries` that is not in our log with the same term (a
   * conflict, or simply a new entry), or 0 when all of them are already there.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The highest index at or below `index` whose term is at most `term`, with that term (0 when
   * unknown). Used to skip, in one step, all entries of terms the other side cannot have.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let candidate = index; candidate > 0; candidate--) {
      const ourTerm = this.term(candidate);
      if (ourTerm === undefined) return { index: candidate, term: 0 };
      if (ourTerm <= term) return { index: candidate, term: ourTerm };
    }
    return { index: 0, term: 0 };
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit index ${index} is beyond the last index ${this.lastIndex()}; the log was lost or corrupted`);
    this.committed = index;
  }

  /** A leader commits `index` only if it is of its own term (Raft §5.4.2): older terms commit with it. */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    assert(index >= this.applied && index <= this.committed, `applied index ${index} must be in [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** Committed entries not applied yet, within the budget. None while a snapshot waits to be installed. */
  nextCommittedEntries(sizeBytesMax: number): Entry[] {
    if (this.hasPendingSnapshot()) return [];
    const low = Math.max(this.applied + 1, this.firstIndex());
    if (low > this.committed) return [];
    const entries = this.slice(low, this.committed + 1, sizeBytesMax);
    assert(entries !== undefined, `committed entries from ${low} were compacted before they were applied`);
    return entries;
  }

  hasNextCommittedEntries(): boolean {
    return !this.hasPendingSnapshot() && this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  /** Raft §5.4.1: grant a vote only to a candidate whose log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourLastTerm = this.lastTerm();
    return lastTerm > ourLastTerm || (lastTerm === ourLastTerm && lastIndex >= this.lastIndex());
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }
}
