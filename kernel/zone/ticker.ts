/**
 * Ticker: the clock a zone replica runs on. Raft counts time in ticks (election timeouts,
 * heartbeats); the replica counts request timeouts in ticks too. The kernel has no timers of its
 * own: a runtime passes a ticker built on its timers (setInterval every `tickIntervalMs`), and
 * tests pass a `ManualTicker` and tick it by hand, so every test is deterministic.
 *
 * Contract: `subscribe(onTick)` calls `onTick` once per tick, never re-entrantly and never from
 * inside `subscribe` itself, until the returned function is called (idempotent). Ticks may come
 * late or in bursts; nothing depends on their spacing beyond "roughly regular".
 */
export interface Ticker {
  subscribe(onTick: () => void): () => void;
}

/** A ticker that ticks only when told to: the deterministic clock of tests and simulations. */
export class ManualTicker implements Ticker {
  private readonly subscribers = new Set<() => void>();

  subscribe(onTick: () => void): () => void {
    const subscriber = (): void => onTick();
    this.subscribers.add(subscriber);
    return () => {
      this.subscribers.delete(subscriber);
    };
  }

  /** Delivers `count` ticks to every subscriber, in subscription order. */
  tick(count = 1): void {
    for (let tick = 0; tick < count; tick++) {
      for (const subscriber of [...this.subscribers]) subscriber();
    }
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }
}
