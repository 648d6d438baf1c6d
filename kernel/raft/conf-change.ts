import { InvalidArgumentError } from '../errors.ts';
import { GROUP_MEMBERS_MAX } from './constants.ts';
import { isValidNodeId, type ConfChange, type ConfChangeType, type ConfState } from './types.ts';

const CONF_CHANGE_TYPES: readonly ConfChangeType[] = ['add-voter', 'add-learner', 'remove-node'];

/** The payload of a `config-change` entry: a small JSON document, readable in any log dump. */
export function encodeConfChange(change: ConfChange): Uint8Array {
  validateConfChange(change);
  return new TextEncoder().encode(JSON.stringify({ type: change.type, nodeId: change.nodeId }));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (error) {
    throw new InvalidArgumentError(`cannot decode a raft membership change: ${String(error)}`);
  }
  const change = parsed as ConfChange;
  validateConfChange(change);
  return { type: change.type, nodeId: change.nodeId };
}

function validateConfChange(change: ConfChange): void {
  if (typeof change !== 'object' || change === null || !CONF_CHANGE_TYPES.includes(change.type)) {
    throw new InvalidArgumentError(`a raft membership change must have a type among ${CONF_CHANGE_TYPES.join(', ')}`);
  }
  if (!isValidNodeId(change.nodeId)) {
    throw new InvalidArgumentError(`a raft membership change must name a positive integer node id, got ${String(change.nodeId)}`);
  }
}

/**
 * The membership after `change`, one server at a time. Throws InvalidArgumentError for a change
 * that would leave no voter or exceed GROUP_MEMBERS_MAX; a no-op change returns the same members.
 */
export function applyConfChangeTo(confState: ConfState, change: ConfChange): ConfState {
  const voters = new Set(confState.voters);
  const learners = new Set(confState.learners);
  switch (change.type) {
    case 'add-voter':
      learners.delete(change.nodeId);
      voters.add(change.nodeId);
      break;
    case 'add-learner':
      voters.delete(change.nodeId);
      learners.add(change.nodeId);
      break;
    case 'remove-node':
      voters.delete(change.nodeId);
      learners.delete(change.nodeId);
      break;
  }
  if (voters.size === 0) {
    throw new InvalidArgumentError(`cannot ${describeConfChange(change)}: it would leave the group without voters`);
  }
  if (voters.size + learners.size > GROUP_MEMBERS_MAX) {
    throw new InvalidArgumentError(`cannot ${describeConfChange(change)}: a group has at most ${GROUP_MEMBERS_MAX} members`);
  }
  const byNumber = (a: number, b: number): number => a - b;
  return { voters: [...voters].sort(byNumber), learners: [...learners].sort(byNumber) };
}

export function describeConfChange(change: ConfChange): string {
  return `${change.type} ${change.nodeId}`;
}
