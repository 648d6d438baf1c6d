import { toHex } from '../test-bytes.ts';

/**
 * A Metastore reduced to what is obviously right, for the differential test to compare a driver
 * with. It shares no code with the drivers: keys are held as lowercase hex, and hex strings of
 * equal-width digits sort exactly like the unsigned bytes they spell, including the rule that a
 * prefix sorts before its extensions. No limits, no validation, no cursors: the suite's own tests
 * cover those.
 */
export interface ModelEntry {
  key: Uint8Array;
  value: Uint8Array;
  version: number;
}

export interface ModelRange {
  prefix?: Uint8Array | undefined;
  start?: Uint8Array | undefined;
  end?: Uint8Array | undefined;
  reverse?: boolean | undefined;
}

export class MetastoreModel {
  readonly #entries = new Map<string, ModelEntry>();

  get(key: Uint8Array): ModelEntry | undefined {
    return this.#entries.get(toHex(key));
  }

  put(key: Uint8Array, value: Uint8Array, version: number): void {
    this.#entries.set(toHex(key), { key: key.slice(), value: value.slice(), version });
  }

  delete(key: Uint8Array): void {
    this.#entries.delete(toHex(key));
  }

  /** Every entry in the range, in scan order. */
  scan(range: ModelRange): ModelEntry[] {
    const prefix = range.prefix === undefined ? '' : toHex(range.prefix);
    const start = range.start === undefined ? undefined : toHex(range.start);
    const end = range.end === undefined ? undefined : toHex(range.end);
    const selected = [...this.#entries.keys()]
      .filter((key) => key.startsWith(prefix) && (start === undefined || key >= start) && (end === undefined || key < end))
      .sort()
      .map((key) => this.#entries.get(key)!);
    return range.reverse ? selected.reverse() : selected;
  }
}
