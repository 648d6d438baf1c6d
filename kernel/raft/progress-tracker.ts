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
 * of the current election. Decisions need a majority of `voters` and, in a joint configuration,
 * also a majority of `votersOutgoing`; learners never count.
 */
export class ProgressTracker {
  voters = new Set<NodeId>();
  votersOutgoing = new Set<NodeId>();
  learners = new Set<NodeId>();
  learnersNext = new Set<NodeId>();
  autoLeave = false;
  readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  private readonly options: ProgressTrackerOptions;

  constructor(options: ProgressTrackerOptions) {
    this.options = options;
  }

  /** Replaces membership; members that stay keep their progress, new ones start probing at `nextIndex`. */
  setConfig(confState: ConfState, nextIndex: number): void {
    const voters = new Set(confState.voters);
    const votersOutgoing = new Set(confState.votersOutgoing ?? []);
    const learners = new Set(confState.learners);
    const learnersNext = new Set(confState.learnersNext ?? []);
    for (const id of learners) assert(!voters.has(id) && !votersOutgoing.has(id), `node ${id} cannot be both voter and learner`);
    for (const id of learnersNext) assert(votersOutgoing.has(id) && !voters.has(id), `node ${id} in learnersNext must be an outgoing voter only`);
    const members = new Set([...voters, ...votersOutgoing, ...learners]);
    for (const id of [...this.progress.keys()]) {
      if (!members.has(id)) this.progress.delete(id);
    }
    for (const id of members) {
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
    this.votersOutgoing = votersOutgoing;
    this.learners = learners;
    this.learnersNext = learnersNext;
    this.autoLeave = votersOutgoing.size > 0 && confState.autoLeave === true;
  }

  newProgress(nextIndex: number, isLearner: boolean): Progress {
    return new Progress({ next: nextIndex, isLearner, ...this.options });
  }

  confState(): ConfState {
    const state = { voters: sortedIds(this.voters), learners: sortedIds(this.learners) };
    if (!this.isJoint()) return state;
    return { ...state, votersOutgoing: sortedIds(this.votersOutgoing), learnersNext: sortedIds(this.learnersNext), autoLeave: this.autoLeave };
  }

  isJoint(): boolean {
    return this.votersOutgoing.size > 0;
  }

  /** A voter of the incoming or (in a joint configuration) the outgoing configuration. */
  isVoter(id: NodeId): boolean {
    return this.voters.has(id) || this.votersOutgoing.has(id);
  }

  /** Every voter, incoming and outgoing, ascending. */
  allVoters(): NodeId[] {
    return sortedIds(new Set([...this.voters, ...this.votersOutgoing]));
  }

  /** True when `ids` hold a majority of the voters (of both configurations when joint). */
  hasQuorum(ids: ReadonlySet<NodeId>): boolean {
    return hasMajority(this.voters, ids) && (this.votersOutgoing.size === 0 || hasMajority(this.votersOutgoing, ids));
  }

  /** The highest index a majority of voters have (of both configurations when joint). */
  committedIndex(): number {
    const incoming = this.majorityIndex(this.voters);
    return this.votersOutgoing.size === 0 ? incoming : Math.min(incoming, this.majorityIndex(this.votersOutgoing));
  }

  private majorityIndex(voters: ReadonlySet<NodeId>): number {
    if (voters.size === 0) return 0;
    const matches = [...voters].map((id) => this.progress.get(id)?.match ?? 0).sort(byNumberDescending);
    return matches[quorumOf(voters.size) - 1]!;
  }

  /** True when a majority of voters was heard from in the last election timeout. */
  quorumActive(selfId: NodeId): boolean {
    const active = new Set<NodeId>([selfId]);
    for (const [id, progress] of this.progress) if (progress.recentActive) active.add(id);
    return this.hasQuorum(active);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote; a voter's first answer in an election is the one that counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    const { granted, rejected } = this.countVotes(this.allVoters());
    const incoming = this.voteResult(this.voters);
    const outgoing = this.votersOutgoing.size === 0 ? 'won' : this.voteResult(this.votersOutgoing);
    const result: VoteResult = incoming === 'lost' || outgoing === 'lost' ? 'lost' : incoming === 'won' && outgoing === 'won' ? 'won' : 'pending';
    return { granted, rejected, result };
  }

  private voteResult(voters: ReadonlySet<NodeId>): VoteResult {
    const { granted, rejected } = this.countVotes(voters);
    const quorum = quorumOf(voters.size);
    return granted >= quorum ? 'won' : rejected > voters.size - quorum ? 'lost' : 'pending';
  }

  /** Grants and rejections recorded from `voters` (a voter not heard from counts as neither). */
  private countVotes(voters: Iterable<NodeId>): { granted: number; rejected: number } {
    let granted = 0;
    let rejected = 0;
    for (const id of voters) {
      const vote = this.votes.get(id);
      if (vote === true) granted++;
      if (vote === false) rejected++;
    }
    return { granted, rejected };
  }
}

function quorumOf(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

function hasMajority(voters: ReadonlySet<NodeId>, ids: ReadonlySet<NodeId>): boolean {
  let count = 0;
  for (const id of voters) if (ids.has(id)) count++;
  return count >= quorumOf(voters.size);
}

function sortedIds(ids: ReadonlySet<NodeId>): NodeId[] {
  return [...ids].sort((a, b) => a - b);
}

function byNumberDescending(a: number, b: number): number {
  return b - a;
}
