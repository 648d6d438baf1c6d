import { assert } from '../../kernel/assert.ts';
import type { Clock } from '../../kernel/contracts/cache-store.ts';

/** Where a ManualClock starts unless told: a fixed instant, so runs do not depend on the day. */
export const MANUAL_CLOCK_START_MS = Date.UTC(2026, 0, 1);

/**
 * A Clock that only moves when a test moves it, so expiry and timeouts are tested without waiting
 * and without patching the global timers.
 */
export class ManualClock implements Clock {
  #nowMs: number;

  constructor(startMs = MANUAL_CLOCK_START_MS) {
    assert(Number.isSafeInteger(startMs), 'a manual clock starts at an integer number of milliseconds');
    this.#nowMs = startMs;
  }

  nowMs(): number {
    return this.#nowMs;
  }

  /** Moves time forward; time never runs backwards. */
  advance(durationMs: number): void {
    assert(Number.isSafeInteger(durationMs) && durationMs >= 0, `cannot advance a clock by ${durationMs} ms`);
    this.#nowMs += durationMs;
  }
}
