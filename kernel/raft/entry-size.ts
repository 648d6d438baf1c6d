import { ENTRY_OVERHEAD_BYTES } from './constants.ts';
import type { Entry } from './types.ts';

/** The bytes an entry counts for against message, in-flight and Ready budgets. */
export function entrySizeBytes(entry: Entry): number {
  return ENTRY_OVERHEAD_BYTES + entry.data.byteLength;
}

export function entriesSizeBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += entrySizeBytes(entry);
  return total;
}

/**
 * The longest prefix of `entries` whose total size stays within `sizeBytesMax`, but never less
 * than one entry: a budget smaller than one entry must not stall replication.
 */
export function limitSize(entries: Entry[], sizeBytesMax: number): Entry[] {
  if (entries.length === 0) return entries;
  let total = entrySizeBytes(entries[0]!);
  let count = 1;
  for (; count < entries.length; count++) {
    total += entrySizeBytes(entries[count]!);
    if (total > sizeBytesMax) break;
  }
  return count === entries.length ? entries : entries.slice(0, count);
}
