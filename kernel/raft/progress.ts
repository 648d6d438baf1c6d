import { assert } from '../assert.ts';
import { Inflights } from './inflights.ts';

/**
 * How a leader replicates to one follower:
 * - `probe`: the leader does not know where the follower's log matches; it sends one append at a
 *   time and waits for the answer (or the next heartbeat) before sending another.
 * - `replicate`: the logs match up to `match`; the leader streams appends optimistically
 *   (pipelining), bounded by the in-flight limits.
 * - `snapshot`: the follower needs entries the leader has compacted; a snapshot is on its way and
 *   nothing else is sent until it is acknowledged or reported failed.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** The highest index known to be in the follower's log (and durable there). */
  match = 0;
  /** The next index to send. Invariant: match < next. */
  next: number;
  state: ProgressState = 'probe';
  /** In `snapshot` state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round (the leader itself always counts). */
  recentActive = false;
  /** In `probe` state: an append was sent and is unanswered, so the next waits. */
  probeSent = false;
  isLearner: boolean;
  readonly inflights: Inflights;
  /**
   * The highest commit index the leader told the follower in a message that lets it commit that
   * far (an append's commit up to the append's last entry, a heartbeat's). A hint for lazy commit
   * propagation: a lost message or a restart can leave the follower behind it until a heartbeat.
   */
  commitSent = 0;
  /**
   * An index whose commit the follower waits for (the last entry of a proposal it forwarded, or
   * a read index it was given), 0 for none: with lazy commit propagation the leader tells it as
   * soon as that index commits, instead of with the next append or heartbeat.
   */
  commitAwaited = 0;

  constructor(options: { next: number; isLearner: boolean; inflightMessagesMax: number; inflightBytesMax: number }) {
    this.next = options.next;
    this.isLearner = options.isLearner;
    this.inflights = new Inflights(options.inflightMessagesMax, options.inflightBytesMax);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    // Whatever the follower was told, it may have restarted since and forgotten it.
    this.commitSent = 0;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, probing starts past it: the follower has (or will have) it.
    if (this.state === 'snapshot') {
      const pendingSnapshot = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records that an append of `entryCount` entries (ending at next - 1 afterwards) was sent. */
  sentEntries(entryCount: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next += entryCount;
        this.inflights.add(this.next - 1, bytes);
      }
    } else {
      assert(this.state === 'probe', `cannot send entries in state ${this.state}`);
      if (entryCount > 0) this.probeSent = true;
    }
  }

  /** A message that lets the follower commit up to `index` was sent. */
  sentCommit(index: number): void {
    this.commitSent = Math.max(this.commitSent, index);
    if (this.commitAwaited <= this.commitSent) this.commitAwaited = 0;
  }

  /** Whether the follower waits for the commit of an index at or below `committed` it has not been told. */
  awaitsCommit(committed: number): boolean {
    return this.commitAwaited !== 0 && this.commitAwaited <= committed;
  }

  /** The follower acknowledged `index`. Returns whether that was news. */
  maybeUpdate(index: number): boolean {
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    this.probeSent = false;
    return true;
  }

  /**
   * The follower rejected the append after `rejected`; `matchHint` bounds where its log may match.
   * Returns false when the rejection is stale (an answer to an older append), true when `next`
   * moved back.
   */
  maybeDecreaseTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
