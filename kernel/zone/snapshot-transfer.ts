import type { ZoneMessage } from '../contracts/zone-transport.ts';
import { assert } from '../assert.ts';
import { CorruptionError, NexusError } from '../errors.ts';
import type { SnapshotMessage } from '../raft/message.ts';
import type { NodeId } from '../raft/types.ts';
import { SNAPSHOT_CHUNK_RESEND_TICKS, SNAPSHOT_CHUNK_RESENDS_MAX, SNAPSHOT_INBOX_CHUNKS_MAX, SNAPSHOT_SENDS_MAX } from './constants.ts';
import type { SnapshotChunkMessage, SnapshotChunkResponseMessage } from './snapshot-chunk.ts';
import type { PinnedState, StagedTransfer } from './zone-state-machine.ts';

/** What a SnapshotSender needs of its replica. */
export interface SnapshotSenderHost {
  send(message: ZoneMessage): void;
  /** Pins the replica's current state (see ZoneStateMachine.pinState). */
  pinState(): PinnedState;
  /** Tells Raft how the transfer ended (RawNode.reportSnapshot, run between two Readies). */
  report(to: NodeId, status: 'finished' | 'failed'): void;
  /** Whether this replica still leads in `term`: a transfer of an earlier leadership is dropped. */
  leadsIn(term: number): boolean;
  /** Fails the replica with `error`: reading a chunk threw what is not an operating error (a bug). */
  fail(error: unknown): void;
}

interface OutgoingTransfer {
  readonly message: SnapshotMessage;
  readonly transferId: number;
  readonly state: PinnedState;
  /** The chunk sent and not yet acknowledged; undefined while the next one is being read. */
  current: SnapshotChunkMessage | undefined;
  nextChunk: number;
  sentTick: number;
  resends: number;
}

/**
 * The leader's side of snapshot transfers (see snapshot-chunk.ts): for each of Raft's snapshot
 * messages, pins the state and sends it chunk by chunk, one chunk in flight, each sent again after
 * SNAPSHOT_CHUNK_RESEND_TICKS without an acknowledgement. Raft hears `finished` once the last chunk
 * is acknowledged (the follower has stepped the snapshot by then), `failed` when the follower
 * rejects the transfer, it goes unanswered SNAPSHOT_CHUNK_RESENDS_MAX times, reading the state
 * fails, or more than SNAPSHOT_SENDS_MAX run at once; Raft then probes and sends a new one.
 *
 * Chunks are read outside the replica's loop (from the pinned KvStore snapshot), so a transfer
 * does not hold up the leader's writes; only the reports go through the loop.
 */
export class SnapshotSender {
  private readonly transfers = new Map<NodeId, OutgoingTransfer>();
  private transferSequence = 0;
  private currentTick = 0;

  constructor(private readonly host: SnapshotSenderHost) {}

  /** Starts sending the state Raft's `message` stands for; replaces a transfer to the same follower. */
  start(message: SnapshotMessage): void {
    const previous = this.transfers.get(message.to);
    if (previous !== undefined) this.drop(previous);
    if (this.transfers.size >= SNAPSHOT_SENDS_MAX) {
      this.host.report(message.to, 'failed');
      return;
    }
    this.transferSequence++;
    const transfer: OutgoingTransfer = {
      message,
      transferId: this.transferSequence,
      state: this.host.pinState(),
      current: undefined,
      nextChunk: 0,
      sentTick: this.currentTick,
      resends: 0,
    };
    this.transfers.set(message.to, transfer);
    void this.sendNextChunk(transfer);
  }

  onResponse(response: SnapshotChunkResponseMessage): void {
    const transfer = this.transfers.get(response.from);
    if (transfer === undefined || transfer.transferId !== response.transferId || transfer.message.term !== response.term) return;
    if (response.reject) {
      this.finish(transfer, 'failed');
      return;
    }
    const current = transfer.current;
    if (current === undefined || current.chunk !== response.chunk) return;
    if (current.last) {
      this.finish(transfer, 'finished');
      return;
    }
    transfer.current = undefined;
    void this.sendNextChunk(transfer);
  }

  tick(): void {
    this.currentTick++;
    for (const transfer of [...this.transfers.values()]) {
      if (!this.host.leadsIn(transfer.message.term)) {
        this.finish(transfer, 'failed');
        continue;
      }
      const current = transfer.current;
      if (current === undefined || this.currentTick - transfer.sentTick < SNAPSHOT_CHUNK_RESEND_TICKS) continue;
      if (transfer.resends >= SNAPSHOT_CHUNK_RESENDS_MAX) {
        this.finish(transfer, 'failed');
        continue;
      }
      transfer.resends++;
      transfer.sentTick = this.currentTick;
      this.host.send(current);
    }
  }

  /** Drops every transfer without reporting (the replica is closing). */
  close(): void {
    for (const transfer of [...this.transfers.values()]) this.drop(transfer);
  }

  /**
   * Reads and sends the transfer's next chunk. The transfer may end while the chunk is read (a
   * newer transfer replaces it, leadership moves, the replica closes): dropping it releases its
   * state, the read stops without touching the released snapshot, and nothing is sent.
   */
  private async sendNextChunk(transfer: OutgoingTransfer): Promise<void> {
    let chunk: { data: Uint8Array; last: boolean } | undefined;
    try {
      chunk = await transfer.state.nextChunk();
    } catch (error) {
      if (!(error instanceof NexusError)) {
        this.host.fail(error);
        return;
      }
      // The store failed or closed under the pinned state: Raft retries with a new transfer.
      if (this.transfers.get(transfer.message.to) === transfer) this.finish(transfer, 'failed');
      return;
    }
    if (chunk === undefined) return;
    assert(this.transfers.get(transfer.message.to) === transfer, 'a chunk read for a transfer that ended');
    const { from, to, term, snapshot } = transfer.message;
    const message: SnapshotChunkMessage = {
      type: 'snapshot-chunk',
      from,
      to,
      term,
      transferId: transfer.transferId,
      snapshot,
      chunk: transfer.nextChunk,
      last: chunk.last,
      data: chunk.data,
    };
    transfer.nextChunk++;
    transfer.current = message;
    transfer.sentTick = this.currentTick;
    transfer.resends = 0;
    this.host.send(message);
  }

  private finish(transfer: OutgoingTransfer, status: 'finished' | 'failed'): void {
    this.drop(transfer);
    this.host.report(transfer.message.to, status);
  }

  private drop(transfer: OutgoingTransfer): void {
    if (this.transfers.get(transfer.message.to) === transfer) this.transfers.delete(transfer.message.to);
    transfer.state.release();
  }
}

/** What a SnapshotReceiver needs of its replica. */
export interface SnapshotReceiverHost {
  send(message: ZoneMessage): void;
  /** Stages a chunk whose keys follow `after`; returns the last key staged (see ZoneStateMachine.stageChunk). */
  stageChunk(transfer: StagedTransfer, data: Uint8Array, after: Uint8Array | undefined): Promise<Uint8Array | undefined>;
  discardStaging(): Promise<void>;
  /** Steps Raft's snapshot message into the RawNode (between two Readies). */
  stepSnapshot(message: SnapshotMessage): void;
}

interface IncomingTransfer {
  readonly from: NodeId;
  readonly term: number;
  readonly transferId: number;
  /** The next chunk expected; past the last once the transfer is whole. */
  next: number;
  complete: boolean;
  /** The last key staged so far: every later chunk must start after it. */
  lastKey: Uint8Array | undefined;
}

/**
 * The follower's side of snapshot transfers: stages chunks in order (chunk 0 of a new transfer
 * discards the staging of any earlier one), acknowledges each once staged, and steps Raft's
 * snapshot message once the last is staged durably. A chunk of a transfer it does not know (it
 * restarted, or a newer transfer replaced it) is rejected, so that the leader starts over; a
 * chunk ahead of the next expected one (an earlier one was lost) is ignored until the leader
 * sends the missing one again; a repeated chunk is acknowledged again.
 *
 * Chunks are staged by the replica's loop (`process`), between two Readies: staging never runs
 * while a snapshot is being installed.
 */
export class SnapshotReceiver {
  private inbox: SnapshotChunkMessage[] = [];
  private current: IncomingTransfer | undefined = undefined;

  constructor(private readonly host: SnapshotReceiverHost) {}

  /** Queues a chunk for `process`; false when the queue is full (the leader sends it again). */
  accept(message: SnapshotChunkMessage): boolean {
    if (this.inbox.length >= SNAPSHOT_INBOX_CHUNKS_MAX) return false;
    this.inbox.push(message);
    return true;
  }

  get hasWork(): boolean {
    return this.inbox.length > 0;
  }

  /**
   * Stages the queued chunks, in order of arrival, up to one that completes a transfer: Raft's
   * snapshot is stepped then, and the replica must persist and install it from this staging before
   * a later chunk (the first of another transfer) may discard it. The chunks after it wait.
   */
  async process(): Promise<void> {
    const messages = this.inbox;
    this.inbox = [];
    for (const [position, message] of messages.entries()) {
      if (!(await this.handle(message))) continue;
      this.inbox = [...messages.slice(position + 1), ...this.inbox].slice(0, SNAPSHOT_INBOX_CHUNKS_MAX);
      return;
    }
  }

  /** Forgets queued chunks and the transfer under way (the replica is closing). */
  close(): void {
    this.inbox = [];
    this.current = undefined;
  }

  /** Stages one chunk; true when it completed the transfer and Raft's snapshot was stepped. */
  private async handle(message: SnapshotChunkMessage): Promise<boolean> {
    const current = this.current;
    const known = current !== undefined && current.from === message.from && current.term === message.term && current.transferId === message.transferId;
    if (known && message.chunk < current.next) {
      this.answer(message, false);
      return false;
    }
    if (known && (current.complete || message.chunk > current.next)) return false;
    // A late copy of an older transfer's first chunk (of this leader, or of an earlier term's) must
    // not displace the transfer under way.
    const older = current !== undefined && (message.term < current.term || (current.from === message.from && current.term === message.term && message.transferId < current.transferId));
    if (!known && older) return false;
    if (!known && message.chunk !== 0) {
      this.answer(message, true);
      return false;
    }
    if (!known) {
      this.current = undefined;
      await this.host.discardStaging();
      this.current = { from: message.from, term: message.term, transferId: message.transferId, next: 0, complete: false, lastKey: undefined };
    }
    const transfer = this.current!;
    const staged: StagedTransfer = {
      from: message.from,
      term: message.term,
      transferId: message.transferId,
      snapshotIndex: message.snapshot.metadata.index,
      snapshotTerm: message.snapshot.metadata.term,
      chunkCount: message.chunk + 1,
      complete: message.last,
    };
    try {
      transfer.lastKey = await this.host.stageChunk(staged, message.data, transfer.lastKey);
    } catch (error) {
      // Damaged on the way: say nothing, the leader sends it again (and gives up if it stays so).
      if (error instanceof CorruptionError) return false;
      throw error;
    }
    transfer.next = message.chunk + 1;
    if (message.last) {
      transfer.complete = true;
      this.host.stepSnapshot({ type: 'snapshot', from: message.from, to: message.to, term: message.term, snapshot: message.snapshot });
    }
    this.answer(message, false);
    return message.last;
  }

  private answer(message: SnapshotChunkMessage, reject: boolean): void {
    this.host.send({
      type: 'snapshot-chunk-response',
      from: message.to,
      to: message.from,
      term: message.term,
      transferId: message.transferId,
      chunk: message.chunk,
      reject,
    });
  }
}
