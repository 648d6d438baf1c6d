import { assert } from '../assert.ts';
import type { Entry, Snapshot } from './types.ts';

/**
 * The part of the log not yet persisted: a snapshot received from the leader and/or entries,
 * starting at index `offset`. Everything below `offset` is in storage (unless `snapshot` is set,
 * in which case storage is about to be replaced by it).
 */
export class UnstableLog {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  /** The first log index if a snapshot is pending, else undefined (storage knows). */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      return this.snapshot !== undefined && this.snapshot.metadata.index === index ? this.snapshot.metadata.term : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    if (this.entries.length === 0) return undefined;
    return this.entries[index - this.offset]!.term;
  }

  /**
   * Entries up to `index` (of `term`) are persisted. If the entry at `index` has another term, a
   * newer leader overwrote it after the write began, and the overwriting entries stay unstable.
   */
  stableTo(index: number, term: number): void {
    if (index < this.offset) return;
    if (this.maybeTerm(index) !== term) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) this.snapshot = undefined;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /** Appends `entries`, first dropping any entries (stable or not) at or after `entries[0].index`. */
  truncateAndAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const after = entries[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries.push(...entries);
    } else if (after <= this.offset) {
      // Replaces stable entries too: the application truncates storage when it persists these.
      this.offset = after;
      this.entries = [...entries];
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(entries);
    }
  }

  /** Entries in [low, high), which must lie within the unstable entries. */
  slice(low: number, high: number): Entry[] {
    assert(low >= this.offset && high <= this.offset + this.entries.length && low <= high, `unstable slice [${low}, ${high}) out of [${this.offset}, ${this.offset + this.entries.length})`);
    return this.entries.slice(low - this.offset, high - this.offset);
  }
}
