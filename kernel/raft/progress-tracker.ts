import { assert } from '../assert.ts';
import { Progress } from './progress.ts';
import type { ConfState, NodeId } from './types.ts';

export type VoteResult = 'won' | 'lost' | 'pending';

export interface ProgressTrackerOptions {
  inflightMessagesMax: number;
  inflightBytesMax: number;
}

/**
 * Membership (voters, learners), the leader's replication progress for each member, and the votes
 * of the current election. Decisions are by simple majority of voters; learners never count.
 */
export class ProgressTracker {
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  private readonly options: ProgressTrackerOptions;

  constructor(options: ProgressTrackerOptions) {
    this.options = options;
  }

  /** Replaces membership; members that stay keep their progress, new ones start probing at `nextIndex`. */
  setConfig(confState: ConfState, nextIndex: number): void {
    const voters = new Set(confState.voters);
    const learners = new Set(confState.learners);
    for (const id of learners) assert(!voters.has(id), `node ${id} cannot be both voter and learner`);
    for (const id of [...this.progress.keys()]) {
      if (!voters.has(id) && !learners.has(id)) this.progress.delete(id);
    }
    for (const id of [...voters, ...learners]) {
      const existing = this.progress.get(id);
      if (existing !== undefined) {
        existing.isLearner = learners.has(id);
      } else {
        const progress = this.newProgress(nextIndex, learners.has(id));
        // A new member counts as active: otherwise CheckQuorum could depose the leader before
        // the new member had a chance to answer.
        progress.recentActive = true;
        this.progress.set(id, progress);
      }
    }
    this.voters = voters;
    this.learners = learners;
  }

  newProgress(nextIndex: number, isLearner: boolean): Progress {
    return new Progress({ next: nextIndex, isLearner, ...this.options });
  }

  confState(): ConfState {
    return { voters: [...this.voters].sort(byNumber), learners: [...this.learners].sort(byNumber) };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.has(id);
  }

  isSingleton(): boolean {
    return this.voters.size === 1;
  }

  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  /** The highest index a majority of voters have (in the order of their `match`). */
  committedIndex(): number {
    if (this.voters.size === 0) return 0;
    const matches = [...this.voters].map((id) => this.progress.get(id)?.match ?? 0).sort(byNumberDescending);
    return matches[this.quorum() - 1]!;
  }

  /** True when a majority of voters was heard from in the last election timeout. */
  quorumActive(selfId: NodeId): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === selfId || this.progress.get(id)?.recentActive === true) active++;
    }
    return active >= this.quorum();
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote; a voter's first answer in an election is the one that counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const vote = this.votes.get(id);
      if (vote === true) granted++;
      if (vote === false) rejected++;
    }
    const quorum = this.quorum();
    const result: VoteResult = granted >= quorum ? 'won' : rejected > this.voters.size - quorum ? 'lost' : 'pending';
    return { granted, rejected, result };
  }
}

function byNumber(a: number, b: number): number {
  return a - b;
}

function byNumberDescending(a: number, b: number): number {
  return b - a;
}
