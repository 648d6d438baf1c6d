import { InvalidArgumentError } from '../errors.ts';
import { GROUP_MEMBERS_MAX } from './constants.ts';
import { isValidNodeId, type ConfChange, type ConfChangeBatch, type ConfChangeTransition, type ConfChangeType, type ConfState, type NodeId } from './types.ts';

const CONF_CHANGE_TYPES: readonly ConfChangeType[] = ['add-voter', 'add-learner', 'remove-node'];
const TRANSITIONS: readonly ConfChangeTransition[] = ['auto', 'joint-implicit', 'joint-explicit'];

/** Bounds the changes in one batch: a group cannot change more members than it has. */
const CHANGES_PER_BATCH_MAX = GROUP_MEMBERS_MAX;

/**
 * The payload of a `config-change` entry: a small JSON document, readable in any log dump. A
 * single change is `{"type","nodeId"}`; a batch is `{"changes":[...],"transition"}`.
 */
export function encodeConfChange(change: ConfChange | ConfChangeBatch): Uint8Array {
  const document = isBatch(change)
    ? { changes: validateBatch(change).changes.map(({ type, nodeId }) => ({ type, nodeId })), transition: change.transition }
    : { type: validateChange(change).type, nodeId: change.nodeId };
  return new TextEncoder().encode(JSON.stringify(document));
}

/** Decodes a `config-change` payload; a single change comes back as a one-change `auto` batch. */
export function decodeConfChange(data: Uint8Array): ConfChangeBatch {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (error) {
    throw new InvalidArgumentError(`cannot decode a raft membership change: ${String(error)}`);
  }
  if (typeof parsed === 'object' && parsed !== null && 'changes' in parsed) {
    const batch = validateBatch(parsed as ConfChangeBatch);
    return { changes: batch.changes.map(({ type, nodeId }) => ({ type, nodeId })), transition: batch.transition };
  }
  const change = validateChange(parsed as ConfChange);
  return { changes: [{ type: change.type, nodeId: change.nodeId }], transition: 'auto' };
}

function isBatch(change: ConfChange | ConfChangeBatch): change is ConfChangeBatch {
  return 'changes' in change;
}

function validateChange(change: ConfChange): ConfChange {
  if (typeof change !== 'object' || change === null || !CONF_CHANGE_TYPES.includes(change.type)) {
    throw new InvalidArgumentError(`a raft membership change must have a type among ${CONF_CHANGE_TYPES.join(', ')}`);
  }
  if (!isValidNodeId(change.nodeId)) {
    throw new InvalidArgumentError(`a raft membership change must name a positive integer node id, got ${String(change.nodeId)}`);
  }
  return change;
}

function validateBatch(batch: ConfChangeBatch): ConfChangeBatch {
  if (!Array.isArray(batch.changes) || !TRANSITIONS.includes(batch.transition)) {
    throw new InvalidArgumentError(`a raft membership change batch needs a list of changes and a transition among ${TRANSITIONS.join(', ')}`);
  }
  if (batch.changes.length > CHANGES_PER_BATCH_MAX) {
    throw new InvalidArgumentError(`a raft membership change batch holds at most ${CHANGES_PER_BATCH_MAX} changes, got ${batch.changes.length}`);
  }
  for (const change of batch.changes) validateChange(change);
  return batch;
}

export function isJoint(state: ConfState): boolean {
  return (state.votersOutgoing?.length ?? 0) > 0;
}

/**
 * The membership after `change`. Throws InvalidArgumentError for a change that cannot be made:
 * leaving a joint configuration when not in one, changing members while in one, leaving no
 * voter, or exceeding GROUP_MEMBERS_MAX.
 */
export function applyConfChangeTo(state: ConfState, change: ConfChange | ConfChangeBatch): ConfState {
  const batch: ConfChangeBatch = isBatch(change) ? change : { changes: [change], transition: 'auto' };
  if (batch.changes.length === 0) {
    if (!isJoint(state)) throw new InvalidArgumentError('cannot leave a joint configuration: the group is not in one');
    return leaveJoint(state);
  }
  if (isJoint(state)) {
    throw new InvalidArgumentError(`cannot ${describeConfChange(batch)}: the group is in a joint configuration, which must be left first`);
  }
  if (batch.transition === 'auto') {
    const simple = applySimple(state, batch);
    if (votersChanged(state.voters, simple.voters) <= 1) return simple;
  }
  return enterJoint(state, batch);
}

/** Applies changes directly: safe when at most one voter changes (one server at a time). */
function applySimple(state: ConfState, batch: ConfChangeBatch): ConfState {
  const voters = new Set(state.voters);
  const learners = new Set(state.learners);
  for (const { type, nodeId } of batch.changes) {
    switch (type) {
      case 'add-voter':
        learners.delete(nodeId);
        voters.add(nodeId);
        break;
      case 'add-learner':
        voters.delete(nodeId);
        learners.add(nodeId);
        break;
      case 'remove-node':
        voters.delete(nodeId);
        learners.delete(nodeId);
        break;
    }
  }
  return checked(batch, { voters: sorted(voters), learners: sorted(learners) });
}

/**
 * Enters the joint configuration (old voters, new voters): the old voters become the outgoing
 * configuration, and an outgoing voter demoted to learner waits in learnersNext until the
 * joint configuration is left (it cannot be a voter and a learner at once).
 */
function enterJoint(state: ConfState, batch: ConfChangeBatch): ConfState {
  const incoming = new Set(state.voters);
  const outgoing = new Set(state.voters);
  const learners = new Set(state.learners);
  const learnersNext = new Set<NodeId>();
  for (const { type, nodeId } of batch.changes) {
    switch (type) {
      case 'add-voter':
        incoming.add(nodeId);
        learners.delete(nodeId);
        learnersNext.delete(nodeId);
        break;
      case 'add-learner':
        incoming.delete(nodeId);
        if (outgoing.has(nodeId)) learnersNext.add(nodeId);
        else learners.add(nodeId);
        break;
      case 'remove-node':
        incoming.delete(nodeId);
        learners.delete(nodeId);
        learnersNext.delete(nodeId);
        break;
    }
  }
  return checked(batch, {
    voters: sorted(incoming),
    learners: sorted(learners),
    votersOutgoing: sorted(outgoing),
    learnersNext: sorted(learnersNext),
    autoLeave: batch.transition !== 'joint-explicit',
  });
}

function leaveJoint(state: ConfState): ConfState {
  const learners = new Set([...state.learners, ...(state.learnersNext ?? [])]);
  return { voters: [...state.voters], learners: sorted(learners) };
}

function checked(batch: ConfChangeBatch, state: ConfState): ConfState {
  if (state.voters.length === 0) {
    throw new InvalidArgumentError(`cannot ${describeConfChange(batch)}: it would leave the group without voters`);
  }
  const members = new Set([...state.voters, ...state.learners, ...(state.votersOutgoing ?? [])]);
  if (members.size > GROUP_MEMBERS_MAX) {
    throw new InvalidArgumentError(`cannot ${describeConfChange(batch)}: a group has at most ${GROUP_MEMBERS_MAX} members`);
  }
  return state;
}

function votersChanged(before: readonly NodeId[], after: readonly NodeId[]): number {
  const beforeSet = new Set(before);
  const afterSet = new Set(after);
  let changed = 0;
  for (const id of beforeSet) if (!afterSet.has(id)) changed++;
  for (const id of afterSet) if (!beforeSet.has(id)) changed++;
  return changed;
}

function sorted(ids: Iterable<NodeId>): NodeId[] {
  return [...ids].sort((a, b) => a - b);
}

export function describeConfChange(change: ConfChange | ConfChangeBatch): string {
  if (!isBatch(change)) return `${change.type} ${change.nodeId}`;
  if (change.changes.length === 0) return 'leave-joint';
  const changes = change.changes.map((single) => `${single.type} ${single.nodeId}`).join(', ');
  return change.transition === 'auto' ? changes : `${changes} (${change.transition})`;
}
