import { assert } from '../assert.ts';

/**
 * The only randomness Raft uses: to spread election timeouts so that candidates rarely split the
 * vote. Injected, so that a simulation seeded with one number replays exactly.
 */
export interface RandomSource {
  /** An integer drawn uniformly from [0, bound). `bound` is a positive safe integer up to 2^32. */
  integerBelow(bound: number): number;
}

const UINT32_RANGE = 2 ** 32;
const REJECTION_ATTEMPTS_MAX = 64;

/**
 * A small, fast, seeded generator (sfc32 seeded through splitmix32). Not cryptographic: it decides
 * timings in Raft and in tests, never secrets.
 */
export class SeededRandom implements RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), `seed must be a safe integer, got ${seed}`);
    let state = (seed ^ Math.floor(seed / UINT32_RANGE)) >>> 0;
    const next = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    // Discard the first outputs: sfc32 mixes poorly right after seeding.
    for (let round = 0; round < 12; round++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  integerBelow(bound: number): number {
    assert(Number.isSafeInteger(bound) && bound > 0 && bound <= UINT32_RANGE, `bound must be in (0, 2^32], got ${bound}`);
    // Rejection sampling: a plain modulo would favour small values. Each draw is rejected with
    // probability below one half, so running out of attempts means a broken generator.
    const limit = UINT32_RANGE - (UINT32_RANGE % bound);
    for (let attempt = 0; attempt < REJECTION_ATTEMPTS_MAX; attempt++) {
      const value = this.nextUint32();
      if (value < limit) return value % bound;
    }
    assert(false, `no value below ${limit} in ${REJECTION_ATTEMPTS_MAX} draws: the generator is broken`);
  }

  /** A float in [0, 1). */
  fraction(): number {
    return this.nextUint32() / UINT32_RANGE;
  }
}
