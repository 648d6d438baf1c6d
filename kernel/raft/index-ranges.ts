import { assert } from '../assert.ts';

/**
 * A set of log indexes kept as sorted, disjoint, non-adjacent closed ranges [low, high]: the entry
 * keys KvRaftStorage left behind (compacted or replaced) and still has to delete. Ranges stay few,
 * because compaction and tail replacement each add one range next to the live log, and adjacent
 * ranges merge.
 */
export class IndexRanges {
  private ranges: Array<{ low: number; high: number }> = [];

  /** How many indexes the set holds. */
  count(): number {
    let total = 0;
    for (const range of this.ranges) total += range.high - range.low + 1;
    return total;
  }

  /** Adds [low, high]; an empty range (low > high) adds nothing. */
  add(low: number, high: number): void {
    if (low > high) return;
    const last = this.ranges[this.ranges.length - 1];
    // Keys found in index order at open arrive one by one: extend the last range without a rebuild.
    if (last !== undefined && low >= last.low && low <= last.high + 1) {
      last.high = Math.max(last.high, high);
      return;
    }
    const merged: Array<{ low: number; high: number }> = [];
    let current = { low, high };
    let placed = false;
    for (const range of this.ranges) {
      if (range.high + 1 < current.low) merged.push(range);
      else if (current.high + 1 < range.low) {
        if (!placed) merged.push(current);
        placed = true;
        merged.push(range);
      } else current = { low: Math.min(range.low, current.low), high: Math.max(range.high, current.high) };
    }
    if (!placed) merged.push(current);
    this.ranges = merged;
  }

  /** Removes [low, high]; an empty range (low > high) removes nothing. */
  remove(low: number, high: number): void {
    if (low > high) return;
    const kept: Array<{ low: number; high: number }> = [];
    for (const range of this.ranges) {
      if (range.high < low || range.low > high) {
        kept.push(range);
        continue;
      }
      if (range.low < low) kept.push({ low: range.low, high: low - 1 });
      if (range.high > high) kept.push({ low: high + 1, high: range.high });
    }
    this.ranges = kept;
  }

  /** Removes and returns up to `countMax` indexes, lowest first. */
  take(countMax: number): number[] {
    assert(Number.isSafeInteger(countMax) && countMax >= 0, 'take() needs a non-negative count');
    const taken: number[] = [];
    while (taken.length < countMax && this.ranges.length > 0) {
      const range = this.ranges[0]!;
      const end = Math.min(range.high, range.low + (countMax - taken.length) - 1);
      for (let index = range.low; index <= end; index++) taken.push(index);
      if (end === range.high) this.ranges.shift();
      else range.low = end + 1;
    }
    return taken;
  }
}
