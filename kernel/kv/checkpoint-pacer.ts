import { assert } from '../assert.ts';
import { CHECKPOINT_PAUSE_CALLS_MAX, CHECKPOINT_PAUSE_PRESSURE_SCALE_MAX } from './constants.ts';

/**
 * Spreads a checkpoint's work over turns of the runtime: the work is counted as it is done, and
 * once a budget of it is done since the last pause the checkpoint pauses (KvStoreOptions
 * .checkpointPause), so that commits, reads and I/O callbacks run between its stretches instead of
 * waiting for the whole merge. Without pauses a checkpoint held the event loop for as long as it
 * ran: its reads and writes of a file on Node are synchronous, and its merge is CPU work.
 *
 * Work is counted in bytes, not time, so a checkpoint pauses at the same points on every run
 * (tests replay it exactly). The checkpoint code calls `spend` where it finishes a bounded piece of
 * work and, when that returns true, awaits `pause()`; what it holds across a pause must stay valid
 * whatever commits, reads, snapshots or a close do meanwhile (see kv-store.ts).
 *
 * The budget grows with `pressure`, how full the fresh write buffer is (0 to 1): commits go on
 * during the pauses, and should the fresh buffer fill before the checkpoint ends, they all wait for
 * it (back-pressure). So the fuller it is, the fewer pauses, down to one per
 * CHECKPOINT_PAUSE_PRESSURE_SCALE_MAX budgets: commits slow down as it fills rather than stop once
 * it is full.
 *
 * Once `hurry` returns true (the store is closing: nothing but the close waits for the checkpoint
 * any more) the checkpoint takes no more pauses and runs to its end.
 *
 * A pause also ends after CHECKPOINT_PAUSE_CALLS_MAX calls on the store (`noteCall`): a caller
 * that reads or commits in a loop of promises alone (reads from the cache, relaxed commits) never
 * lets the runtime take its turn, and the checkpoint would wait for as long as the loop runs, so
 * the loop shares its turn with it instead. Counted in calls, not time, like the work.
 */
export class CheckpointPacer {
  readonly #schedule: (resume: () => void) => void;
  readonly #workBytes: number;
  readonly #pressure: () => number;
  readonly #hurry: () => boolean;
  /** The work until the next pause is due. */
  #budgetBytes: number;
  #spentBytes = 0;
  #pauses = 0;
  /** Ends the pause under way, if any; and the calls on the store during it. */
  #resumeEarly: (() => void) | undefined;
  #callsWhilePaused = 0;

  constructor(options: { schedule: (resume: () => void) => void; workBytes: number; pressure: () => number; hurry: () => boolean }) {
    assert(Number.isSafeInteger(options.workBytes) && options.workBytes > 0, 'a checkpoint pauses after a positive whole number of bytes of work');
    this.#schedule = options.schedule;
    this.#workBytes = options.workBytes;
    this.#pressure = options.pressure;
    this.#hurry = options.hurry;
    this.#budgetBytes = this.#nextBudgetBytes();
  }

  /** Pauses taken so far. */
  get pauses(): number {
    return this.#pauses;
  }

  /** Whether the work since the last pause is due one. */
  get due(): boolean {
    return this.#spentBytes >= this.#budgetBytes;
  }

  /** Counts `bytes` of work done; true once a pause is due. */
  spend(bytes: number): boolean {
    this.#spentBytes += bytes;
    return this.#spentBytes >= this.#budgetBytes;
  }

  /** Gives the runtime its turn; resolves once `schedule` resumes the checkpoint (at once when hurried). */
  async pause(): Promise<void> {
    this.#spentBytes = 0;
    if (this.#hurry()) return;
    this.#pauses++;
    await new Promise<void>((resolve) => {
      this.#resumeEarly = resolve;
      this.#callsWhilePaused = 0;
      this.#schedule(resolve);
    });
    // Resolved by the runtime's turn or by noteCall; the other's call then does nothing.
    this.#resumeEarly = undefined;
    this.#budgetBytes = this.#nextBudgetBytes();
  }

  /** A call on the store: the CHECKPOINT_PAUSE_CALLS_MAXth during a pause ends it. */
  noteCall(): void {
    if (this.#resumeEarly === undefined) return;
    this.#callsWhilePaused++;
    if (this.#callsWhilePaused < CHECKPOINT_PAUSE_CALLS_MAX) return;
    const resume = this.#resumeEarly;
    this.#resumeEarly = undefined;
    resume();
  }

  /** The work budget scaled up by the pressure: workBytes / (1 - pressure), at most by the scale's maximum. */
  #nextBudgetBytes(): number {
    const pressure = this.#pressure();
    assert(Number.isFinite(pressure) && pressure >= 0, 'the pressure on a checkpoint is a number of at least 0');
    const room = Math.max(1 - pressure, 1 / CHECKPOINT_PAUSE_PRESSURE_SCALE_MAX);
    return Math.ceil(this.#workBytes / room);
  }
}
