import { assert } from '../../kernel/assert.ts';
import { BusyError } from '../../kernel/errors.ts';

/**
 * First-come, first-served exclusive access to the one SQLite connection. A transaction holds it
 * from BEGIN to COMMIT across many awaits, so a statement from outside the transaction must wait
 * rather than run inside it. At most `waitersMax` callers wait; the next one gets BusyError.
 */
export class ConnectionMutex {
  readonly #waitersMax: number;
  readonly #waiters: (() => void)[] = [];
  #held = false;

  constructor(waitersMax: number) {
    assert(Number.isSafeInteger(waitersMax) && waitersMax > 0, 'waitersMax must be a positive integer');
    this.#waitersMax = waitersMax;
  }

  async lock(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return;
    }
    if (this.#waiters.length >= this.#waitersMax) {
      throw new BusyError(`cannot wait for the SQLite connection: ${this.#waitersMax} calls already wait for it`);
    }
    // unlock() hands the mutex straight to the first waiter: `held` stays true in between, so no
    // caller that arrives meanwhile can overtake the queue.
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  unlock(): void {
    assert(this.#held, 'unlock of a connection mutex that is not held');
    const next = this.#waiters.shift();
    if (next === undefined) {
      this.#held = false;
    } else {
      next();
    }
  }
}
