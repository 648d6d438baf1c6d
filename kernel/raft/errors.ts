import { BusyError } from '../errors.ts';

/**
 * A proposal (or read request, or transfer request) this node cannot accept now: there is no
 * leader, leadership is being transferred, the uncommitted log is full, or a membership change is
 * still pending. The caller may retry later, perhaps at another node. Nothing was appended.
 */
export class ProposalDroppedError extends BusyError {}
