/** Deterministic inputs for the engine's tests: one seed, the same keys and values in every runtime. */

/** A small xorshift generator: tests replay exactly from their seed. */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0 || 1;
  }

  /** An integer in [0, bound). */
  below(bound: number): number {
    this.#state ^= this.#state << 13;
    this.#state >>>= 0;
    this.#state ^= this.#state >>> 17;
    this.#state ^= this.#state << 5;
    this.#state >>>= 0;
    return this.#state % bound;
  }

  bytes(length: number): Uint8Array {
    const result = new Uint8Array(length);
    for (let index = 0; index < length; index++) result[index] = this.below(256);
    return result;
  }
}

const encoder = new TextEncoder();

/** `key-000042`-style keys: sorted as text, easy to read in a failure. */
export function numberedKey(index: number, prefix = 'key'): Uint8Array {
  return encoder.encode(`${prefix}-${String(index).padStart(6, '0')}`);
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The timeout of the engine's heavier tests (whole workloads, crash sweeps). */
export const HEAVY_TEST_TIMEOUT_MS = 60_000;
