/**
 * In-process coordination for one NexusFS: a mutex that serializes mutations (so they do not race
 * each other's compare-and-set and retry), and a signal that wakes watchers after each commit.
 */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(critical: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(critical);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

export class CommitSignal {
  #resolve!: () => void;
  #next: Promise<void>;

  constructor() {
    this.#next = this.#arm();
  }

  /** Resolves at the next `notify()`. Take it before reading, so no commit can slip between. */
  next(): Promise<void> {
    return this.#next;
  }

  notify(): void {
    const resolve = this.#resolve;
    this.#next = this.#arm();
    resolve();
  }

  #arm(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
  }
}

/** Resolves when `wake` resolves or `signal` aborts, whichever comes first. */
export function untilWakeOrAbort(wake: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return wake;
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    void wake.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
