import { assert } from '../assert.ts';
import { READ_ONLY_REQUESTS_MAX } from './constants.ts';
import type { NodeId } from './types.ts';

/** A safe read request waiting for a quorum to confirm, by heartbeat, that we are still leader. */
export interface ReadRequest {
  /** The commit index when the request arrived: the read sees at least this. */
  readonly index: number;
  /** Who asked: this leader itself, or the follower that forwarded the request. */
  readonly from: NodeId;
  readonly context: string;
  readonly acknowledgements: Set<NodeId>;
}

/**
 * Safe linearizable reads (Raft §6.4): a request is answered once a majority acknowledged a
 * heartbeat sent after it arrived, which proves no newer leader had committed anything yet.
 * Requests are kept in arrival order; an acknowledgement of one confirms all older ones too.
 */
export class ReadOnlyQueue {
  private readonly pending = new Map<string, ReadRequest>();
  private queue: string[] = [];

  /** Returns false if the queue is full or a request with this context is already pending. */
  add(request: { index: number; from: NodeId; context: string }): boolean {
    const { index, from, context } = request;
    if (this.pending.has(context) || this.queue.length >= READ_ONLY_REQUESTS_MAX) return false;
    this.pending.set(context, { index, from, context, acknowledgements: new Set() });
    this.queue.push(context);
    return true;
  }

  /** Records that `id` acknowledged the heartbeat carrying `context`; returns who has so far. */
  acknowledge(id: NodeId, context: string): ReadonlySet<NodeId> | undefined {
    const request = this.pending.get(context);
    if (request === undefined) return undefined;
    request.acknowledgements.add(id);
    return request.acknowledgements;
  }

  /** Removes and returns the request with `context` and every request older than it. */
  release(context: string): ReadRequest[] {
    const position = this.queue.indexOf(context);
    if (position < 0) return [];
    const released = this.queue.slice(0, position + 1).map((key) => {
      const request = this.pending.get(key);
      assert(request !== undefined, `read request ${key} is queued but not pending`);
      this.pending.delete(key);
      return request;
    });
    this.queue = this.queue.slice(position + 1);
    return released;
  }

  lastContext(): string | undefined {
    return this.queue[this.queue.length - 1];
  }

  size(): number {
    return this.queue.length;
  }

  clear(): void {
    this.pending.clear();
    this.queue = [];
  }
}
