import { BusyError, ClosedError, ConflictError } from '../errors.ts';
import type { NodeId } from '../raft/types.ts';

/**
 * An EC write whose entry was overwritten: another entry was committed at its log index (its
 * leader lost leadership before replicating it). It will never apply; the caller may write again.
 * Code ECONFLICT: the write lost to another one, as a failed precondition does.
 */
export class WriteLostError extends ConflictError {}

/**
 * A request only the leader can take (an EC write) reached a follower. Retryable at `leader`
 * (0 when no leader is known). Code EBUSY.
 */
export class NotLeaderError extends BusyError {
  readonly leader: NodeId;

  constructor(message: string, leader: NodeId) {
    super(message);
    this.leader = leader;
  }
}

/**
 * A request reached a replica whose node was removed from its zone: it takes part no more (it
 * neither ticks, votes nor campaigns) and answers nothing but its status. Not retryable there;
 * ask a member. Code ECLOSED: the replica is as good as closed, and so it stays after a restart.
 */
export class RemovedError extends ClosedError {}
