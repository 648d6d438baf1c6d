import { assert } from '../../kernel/assert.ts';
import type { Ticker } from '../../kernel/zone/ticker.ts';

/**
 * A Ticker on the runtime's timer: one tick every `tickIntervalMs`, delivered to every subscriber,
 * and counted, so that a node can report how much Raft time has passed (`ticks`). A late timer
 * makes a late tick, never a burst of them: Raft's timeouts stretch under load rather than fire
 * early.
 */
export class IntervalTicker implements Ticker {
  readonly tickIntervalMs: number;
  readonly #subscribers = new Set<() => void>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticks = 0;

  constructor(tickIntervalMs: number) {
    assert(Number.isSafeInteger(tickIntervalMs) && tickIntervalMs > 0, 'tickIntervalMs must be a positive integer');
    this.tickIntervalMs = tickIntervalMs;
  }

  get ticks(): number {
    return this.#ticks;
  }

  subscribe(onTick: () => void): () => void {
    const subscriber = (): void => onTick();
    this.#subscribers.add(subscriber);
    this.#timer ??= setInterval(() => this.#tick(), this.tickIntervalMs);
    return () => {
      this.#subscribers.delete(subscriber);
      if (this.#subscribers.size === 0) this.stop();
    };
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    this.#ticks++;
    for (const subscriber of [...this.#subscribers]) subscriber();
  }
}
