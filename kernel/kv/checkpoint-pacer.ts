import { assert } from '../assert.ts';

/**
 * Spreads a checkpoint's work over turns of the runtime: the work is counted as it is done, and
 * once `workBytes` of it are done since the last pause the checkpoint pauses (KvStoreOptions
 * .checkpointPause), so that commits, reads and I/O callbacks run between its stretches instead of
 * waiting for the whole merge. Without pauses a checkpoint held the event loop for as long as it
 * ran: its reads and writes of a file on Node are synchronous, and its merge is CPU work.
 *
 * Work is counted in bytes, not time, so a checkpoint pauses at the same points on every run
 * (tests replay it exactly). The checkpoint code calls `spend` where it finishes a bounded piece of
 * work and, when that returns true, awaits `pause()`; what it holds across a pause must stay valid
 * whatever commits, reads, snapshots or a close do meanwhile (see kv-store.ts).
 */
export class CheckpointPacer {
  readonly #schedule: (resume: () => void) => void;
  readonly #workBytes: number;
  #spentBytes = 0;
  #pauses = 0;

  constructor(options: { schedule: (resume: () => void) => void; workBytes: number }) {
    assert(Number.isSafeInteger(options.workBytes) && options.workBytes > 0, 'a checkpoint pauses after a positive whole number of bytes of work');
    this.#schedule = options.schedule;
    this.#workBytes = options.workBytes;
  }

  /** Pauses taken so far. */
  get pauses(): number {
    return this.#pauses;
  }

  /** Whether the work since the last pause is due one. */
  get due(): boolean {
    return this.#spentBytes >= this.#workBytes;
  }

  /** Counts `bytes` of work done; true once a pause is due. */
  spend(bytes: number): boolean {
    this.#spentBytes += bytes;
    return this.#spentBytes >= this.#workBytes;
  }

  /** Gives the runtime its turn; resolves once `schedule` resumes the checkpoint. */
  pause(): Promise<void> {
    this.#spentBytes = 0;
    this.#pauses++;
    return new Promise<void>((resolve) => this.#schedule(resolve));
  }
}
