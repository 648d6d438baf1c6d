import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../kernel/assert.ts';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import { applyConfChangeTo, decodeConfChange, encodeConfChange, isJoint, SeededRandom, type ConfChangeBatch } from '../../kernel/raft/index.ts';
import { Inflights } from '../../kernel/raft/inflights.ts';
import { Progress } from '../../kernel/raft/progress.ts';
import { ProgressTracker } from '../../kernel/raft/progress-tracker.ts';

function progress(next = 1): Progress {
  return new Progress({ next, isLearner: false, inflightMessagesMax: 3, inflightBytesMax: 1000 });
}

describe('Inflights', () => {
  it('is full at the message bound or the byte bound, and frees by acknowledged index', () => {
    const inflights = new Inflights(3, 100);
    inflights.add(1, 10);
    inflights.add(2, 10);
    expect(inflights.full()).toBe(false);
    inflights.add(5, 10);
    expect(inflights.full()).toBe(true);
    expect(() => inflights.add(6, 1)).toThrow(AssertionError);
    inflights.freeUpTo(2);
    expect([inflights.count(), inflights.sizeBytes(), inflights.full()]).toEqual([1, 10, false]);
    inflights.add(7, 95);
    expect(inflights.full()).toBe(true);
    inflights.freeFirstOne();
    expect([inflights.count(), inflights.sizeBytes()]).toEqual([1, 95]);
  });

  it('requires increasing indexes', () => {
    const inflights = new Inflights(3, 100);
    inflights.add(4, 1);
    expect(() => inflights.add(4, 1)).toThrow(AssertionError);
  });
});

describe('Progress', () => {
  it('probes one message at a time, then pipelines in replicate state up to the in-flight limit', () => {
    const follower = progress(5);
    follower.sentEntries(2, 20);
    expect(follower.isPaused()).toBe(true); // a probe is out
    expect(follower.maybeUpdate(6)).toBe(true);
    expect(follower.isPaused()).toBe(false);
    follower.becomeReplicate();
    expect(follower.next).toBe(7);
    for (let message = 0; message < 3; message++) follower.sentEntries(1, 10);
    expect(follower.next).toBe(10);
    expect(follower.isPaused()).toBe(true);
    follower.maybeUpdate(8);
    follower.inflights.freeUpTo(8);
    expect(follower.isPaused()).toBe(false);
  });

  it('ignores stale rejections and moves next back on fresh ones', () => {
    const follower = progress(10);
    follower.match = 3;
    expect(follower.maybeDecreaseTo(7, 5)).toBe(false); // we did not probe at 7
    expect(follower.maybeDecreaseTo(9, 5)).toBe(true);
    expect(follower.next).toBe(6);
    follower.becomeReplicate();
    follower.sentEntries(4, 40);
    expect(follower.maybeDecreaseTo(2, 0)).toBe(false); // at or below match: stale
    expect(follower.maybeDecreaseTo(5, 0)).toBe(true);
    expect(follower.next).toBe(4);
  });

  it('after a snapshot, probes from past the snapshot', () => {
    const follower = progress(2);
    follower.becomeSnapshot(20);
    expect(follower.isPaused()).toBe(true);
    follower.becomeProbe();
    expect(follower.next).toBe(21);
  });
});

describe('Progress: awaited commits (lazy commit propagation)', () => {
  it('awaits a commit until a message told the follower that far, and forgets what it was told when it probes again', () => {
    const follower = progress(5);
    follower.commitAwaited = 7;
    expect(follower.awaitsCommit(6)).toBe(false);
    expect(follower.awaitsCommit(7)).toBe(true);
    follower.sentCommit(6);
    expect(follower.awaitsCommit(7)).toBe(true);
    follower.sentCommit(7);
    expect([follower.commitAwaited, follower.awaitsCommit(9)]).toEqual([0, false]);
    // A follower that rejects (or restarted) may have lost its commit index: tell it again.
    follower.becomeProbe();
    expect(follower.commitSent).toBe(0);
  });
});

describe('ProgressTracker', () => {
  function tracker(voters: number[], learners: number[] = []): ProgressTracker {
    const result = new ProgressTracker({ inflightMessagesMax: 4, inflightBytesMax: 1000 });
    result.setConfig({ voters, learners }, 1);
    return result;
  }

  it('commits the index a majority of voters has; learners do not count', () => {
    const group = tracker([1, 2, 3], [4]);
    const matches: Record<number, number> = { 1: 5, 2: 3, 3: 1, 4: 9 };
    for (const [id, match] of Object.entries(matches)) group.progress.get(Number(id))!.match = match;
    expect(group.committedIndex()).toBe(3);
  });

  it('tallies votes: won with a majority, lost once a majority is impossible', () => {
    const group = tracker([1, 2, 3, 4, 5]);
    group.recordVote(1, true);
    group.recordVote(2, true);
    expect(group.tallyVotes().result).toBe('pending');
    group.recordVote(3, false);
    group.recordVote(4, false);
    expect(group.tallyVotes().result).toBe('pending');
    group.recordVote(4, true); // a voter's first answer counts
    group.recordVote(5, false);
    expect(group.tallyVotes()).toEqual({ granted: 2, rejected: 3, result: 'lost' });
  });

  it('is quorum-active with a majority heard from, counting itself', () => {
    const group = tracker([1, 2, 3]);
    for (const entry of group.progress.values()) entry.recentActive = false;
    expect(group.quorumActive(1)).toBe(false);
    group.progress.get(3)!.recentActive = true;
    expect(group.quorumActive(1)).toBe(true);
  });
});

describe('membership changes', () => {
  it('round-trip through entry payloads and apply one server at a time', () => {
    const change = decodeConfChange(encodeConfChange({ type: 'add-learner', nodeId: 4 }));
    expect(change).toEqual({ changes: [{ type: 'add-learner', nodeId: 4 }], transition: 'auto' });
    const withLearner = applyConfChangeTo({ voters: [1, 2, 3], learners: [] }, change);
    expect(withLearner).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(applyConfChangeTo(withLearner, { type: 'add-voter', nodeId: 4 })).toEqual({ voters: [1, 2, 3, 4], learners: [] });
    expect(applyConfChangeTo(withLearner, { type: 'remove-node', nodeId: 2 })).toEqual({ voters: [1, 3], learners: [4] });
  });

  it('refuses to remove the last voter and rejects malformed payloads', () => {
    expect(() => applyConfChangeTo({ voters: [1], learners: [2] }, { type: 'remove-node', nodeId: 1 })).toThrow(InvalidArgumentError);
    expect(() => decodeConfChange(new TextEncoder().encode('{"type":"add-voter","nodeId":0}'))).toThrow(InvalidArgumentError);
    expect(() => decodeConfChange(new Uint8Array([0xff]))).toThrow(InvalidArgumentError);
  });
});

describe('joint consensus', () => {
  const replaceThreeByFour: ConfChangeBatch = {
    changes: [
      { type: 'add-voter', nodeId: 4 },
      { type: 'remove-node', nodeId: 3 },
    ],
    transition: 'auto',
  };

  it('round-trips a batch through an entry payload', () => {
    expect(decodeConfChange(encodeConfChange(replaceThreeByFour))).toEqual(replaceThreeByFour);
  });

  it('changes of more than one voter go through a joint configuration, left by an empty batch', () => {
    const joint = applyConfChangeTo({ voters: [1, 2, 3], learners: [] }, replaceThreeByFour);
    expect(joint).toEqual({ voters: [1, 2, 4], learners: [], votersOutgoing: [1, 2, 3], learnersNext: [], autoLeave: true });
    expect(isJoint(joint)).toBe(true);
    expect(() => applyConfChangeTo(joint, { type: 'add-voter', nodeId: 5 })).toThrow(/joint configuration, which must be left first/);
    expect(applyConfChangeTo(joint, { changes: [], transition: 'auto' })).toEqual({ voters: [1, 2, 4], learners: [] });
    expect(() => applyConfChangeTo({ voters: [1], learners: [] }, { changes: [], transition: 'auto' })).toThrow(/not in one/);
  });

  it('a single voter change in a batch is applied directly, unless a joint transition is asked for', () => {
    const addLearners: ConfChangeBatch = { changes: [{ type: 'add-voter', nodeId: 4 }, { type: 'add-learner', nodeId: 5 }], transition: 'auto' };
    expect(applyConfChangeTo({ voters: [1, 2, 3], learners: [] }, addLearners)).toEqual({ voters: [1, 2, 3, 4], learners: [5] });
    const explicit = applyConfChangeTo({ voters: [1, 2, 3], learners: [] }, { ...addLearners, transition: 'joint-explicit' });
    expect(explicit).toMatchObject({ voters: [1, 2, 3, 4], votersOutgoing: [1, 2, 3], autoLeave: false });
  });

  it('an outgoing voter demoted to learner waits in learnersNext until the joint configuration is left', () => {
    const demote: ConfChangeBatch = { changes: [{ type: 'add-learner', nodeId: 3 }, { type: 'add-voter', nodeId: 4 }], transition: 'auto' };
    const joint = applyConfChangeTo({ voters: [1, 2, 3], learners: [] }, demote);
    expect(joint).toMatchObject({ voters: [1, 2, 4], learners: [], votersOutgoing: [1, 2, 3], learnersNext: [3] });
    expect(applyConfChangeTo(joint, { changes: [], transition: 'auto' })).toEqual({ voters: [1, 2, 4], learners: [3] });
  });

  it('a joint configuration commits and elects only with a majority of both halves', () => {
    const tracker = new ProgressTracker({ inflightMessagesMax: 4, inflightBytesMax: 1000 });
    tracker.setConfig({ voters: [1, 4, 5], learners: [], votersOutgoing: [1, 2, 3] }, 1);
    const matches: Record<number, number> = { 1: 9, 2: 1, 3: 1, 4: 9, 5: 9 };
    for (const [id, match] of Object.entries(matches)) tracker.progress.get(Number(id))!.match = match;
    expect(tracker.committedIndex()).toBe(1); // outgoing (9, 1, 1) holds back the incoming (9, 9, 9)
    for (const id of [1, 2, 3]) tracker.recordVote(id, true);
    expect(tracker.tallyVotes().result).toBe('pending');
    tracker.recordVote(4, true);
    expect(tracker.tallyVotes().result).toBe('won');
    expect(tracker.hasQuorum(new Set([1, 2, 3]))).toBe(false);
    expect(tracker.hasQuorum(new Set([1, 2, 4]))).toBe(true);
  });
});

describe('SeededRandom', () => {
  it('is deterministic per seed and stays in range', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const drawsA = Array.from({ length: 100 }, () => a.integerBelow(10));
    const drawsB = Array.from({ length: 100 }, () => b.integerBelow(10));
    expect(drawsA).toEqual(drawsB);
    expect(drawsA.every((value) => value >= 0 && value < 10)).toBe(true);
    expect(new Set(drawsA).size).toBe(10);
    expect(new SeededRandom(43).integerBelow(2 ** 32)).not.toBe(new SeededRandom(42).integerBelow(2 ** 32));
  });
});
