import type { ZoneMessage } from '../contracts/zone-transport.ts';
import { assert } from '../assert.ts';
import { CorruptionError, NexusError } from '../errors.ts';
import type { SnapshotMessage } from '../raft/message.ts';
import type { NodeId } from '../raft/types.ts';
import {
  SNAPSHOT_BYTES_IN_FLIGHT_MAX,
  SNAPSHOT_CHUNK_RESEND_TICKS,
  SNAPSHOT_CHUNK_RESENDS_MAX,
  SNAPSHOT_CHUNKS_IN_FLIGHT_MAX,
  SNAPSHOT_CHUNKS_MAX,
  SNAPSHOT_INBOX_CHUNKS_MAX,
  SNAPSHOT_RETAIN_TICKS,
  SNAPSHOT_SENDS_MAX,
} from './constants.ts';
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
  /** Whether the log still holds the entries after `index` (and its term): a follower sent a snapshot at `index` catches up from it. */
  logFollows(index: number): boolean;
  /** Fails the replica with `error`: reading a chunk threw what is not an operating error (a bug). */
  fail(error: unknown): void;
}

interface OutgoingTransfer {
  readonly message: SnapshotMessage;
  readonly transferId: number;
  readonly state: PinnedState;
  /** Chunks sent and not yet acknowledged, in chunk order. */
  inFlight: SnapshotChunkMessage[];
  /** A chunk is being read (one at a time from a pinned state). */
  reading: boolean;
  /** The last chunk has been read and sent. */
  lastSent: boolean;
  /** Chunk 0 is acknowledged: until then it travels alone, as the follower may answer it with where to resume. */
  opened: boolean;
  /** The transfer failed while a chunk was read: its state is retained once the read ends. */
  retainAfterRead: boolean;
  nextChunk: number;
  sentTick: number;
  resends: number;
}

/** The state a failed transfer pinned, kept for the next transfer to the same follower (SNAPSHOT_RETAIN_TICKS). */
interface RetainedState {
  readonly message: SnapshotMessage;
  readonly state: PinnedState;
  readonly untilTick: number;
}

/**
 * The leader's side of snapshot transfers (see snapshot-chunk.ts): for each of Raft's snapshot
 * messages, pins the state and sends it chunk by chunk: chunk 0 alone (the follower may answer it
 * with where to resume), then up to SNAPSHOT_CHUNKS_IN_FLIGHT_MAX chunks and
 * SNAPSHOT_BYTES_IN_FLIGHT_MAX bytes unacknowledged. Acknowledgements are cumulative; after
 * SNAPSHOT_CHUNK_RESEND_TICKS without one, the chunks in flight are sent again (the follower stages
 * in order and ignores chunks past a missing one). Raft hears `finished` once the last chunk is
 * acknowledged (the follower has stepped the snapshot by then), `failed` when the follower rejects
 * the transfer, it goes unanswered SNAPSHOT_CHUNK_RESENDS_MAX times, reading the state fails, or
 * more than SNAPSHOT_SENDS_MAX run at once; Raft then probes and sends a new one.
 *
 * A transfer that failed keeps its pinned state for SNAPSHOT_RETAIN_TICKS: the next one to that
 * follower sends the same state (with the raft snapshot it was sent for, while the log still
 * follows it), so that the follower can resume after what it staged.
 *
 * Chunks are read outside the replica's loop (from the pinned KvStore snapshot), so a transfer
 * does not hold up the leader's writes; only the reports go through the loop.
 */
export class SnapshotSender {
  private readonly transfers = new Map<NodeId, OutgoingTransfer>();
  private readonly retained = new Map<NodeId, RetainedState>();
  /** The raft snapshot index each follower was last sent: the leader keeps the log after it (see `heldLogIndex`). */
  private readonly holds = new Map<NodeId, number>();
  private transferSequence = 0;
  private currentTick = 0;

  constructor(private readonly host: SnapshotSenderHost) {}

  /** Starts sending the state Raft's `message` stands for; replaces a transfer to the same follower. */
  start(message: SnapshotMessage): void {
    const previous = this.transfers.get(message.to);
    if (previous !== undefined) this.drop(previous);
    if (this.transfers.size >= SNAPSHOT_SENDS_MAX) {
      this.releaseRetained(message.to);
      this.host.report(message.to, 'failed');
      return;
    }
    const { sent, state } = this.stateFor(message);
    this.transferSequence++;
    const transfer: OutgoingTransfer = {
      message: sent,
      transferId: this.transferSequence,
      state,
      inFlight: [],
      reading: false,
      lastSent: false,
      opened: false,
      retainAfterRead: false,
      nextChunk: 0,
      sentTick: this.currentTick,
      resends: 0,
    };
    this.transfers.set(message.to, transfer);
    this.holds.set(message.to, sent.snapshot.metadata.index);
    this.fill(transfer);
  }

  /**
   * The retained state of a failed transfer to the same follower, with the raft snapshot it was
   * sent for, when the log still follows that snapshot (sent in place of Raft's newer one: the
   * follower answers with that snapshot's index, and Raft goes on from there); a new pin otherwise.
   */
  private stateFor(message: SnapshotMessage): { sent: SnapshotMessage; state: PinnedState } {
    const retained = this.retained.get(message.to);
    this.retained.delete(message.to);
    if (retained !== undefined) {
      const { index, term } = retained.message.snapshot.metadata;
      const same = index === message.snapshot.metadata.index && term === message.snapshot.metadata.term;
      if (retained.message.term === message.term && (same || this.host.logFollows(index))) {
        retained.state.seekAfter(undefined);
        return { sent: { ...message, snapshot: retained.message.snapshot }, state: retained.state };
      }
      retained.state.release();
    }
    return { sent: message, state: this.host.pinState() };
  }

  onResponse(response: SnapshotChunkResponseMessage): void {
    const transfer = this.transfers.get(response.from);
    if (transfer === undefined || transfer.transferId !== response.transferId || transfer.message.term !== response.term) return;
    if (response.reject) {
      // The follower restarted (or dropped the transfer): keep the state, from which it may resume.
      this.finish(transfer, 'failed', { retain: true });
      return;
    }
    if (response.resumeAfter !== undefined) {
      this.resume(transfer, response.chunk, response.resumeAfter);
      return;
    }
    const acknowledged = transfer.inFlight.filter((message) => message.chunk <= response.chunk);
    if (acknowledged.length === 0) return;
    if (acknowledged.some((message) => message.last)) {
      this.finish(transfer, 'finished');
      return;
    }
    transfer.inFlight = transfer.inFlight.filter((message) => message.chunk > response.chunk);
    transfer.opened = true;
    transfer.sentTick = this.currentTick;
    transfer.resends = 0;
    this.fill(transfer);
  }

  /** The follower holds chunks 0 to `chunk` of this state, up to `after`: go on after it. Only as the answer to chunk 0. */
  private resume(transfer: OutgoingTransfer, chunk: number, after: Uint8Array): void {
    if (transfer.opened || transfer.reading || transfer.inFlight.length === 0) return;
    if (chunk + 1 >= SNAPSHOT_CHUNKS_MAX) {
      this.finish(transfer, 'failed');
      return;
    }
    transfer.state.seekAfter(after);
    transfer.inFlight = [];
    transfer.lastSent = false;
    transfer.opened = true;
    transfer.nextChunk = chunk + 1;
    transfer.sentTick = this.currentTick;
    transfer.resends = 0;
    this.fill(transfer);
  }

  tick(): void {
    this.currentTick++;
    for (const [nodeId, retained] of [...this.retained]) {
      if (this.currentTick >= retained.untilTick || !this.host.leadsIn(retained.message.term)) this.releaseRetained(nodeId);
    }
    for (const transfer of [...this.transfers.values()]) {
      if (!this.host.leadsIn(transfer.message.term)) {
        this.finish(transfer, 'failed');
        continue;
      }
      if (transfer.inFlight.length === 0 || this.currentTick - transfer.sentTick < SNAPSHOT_CHUNK_RESEND_TICKS) continue;
      if (transfer.resends >= SNAPSHOT_CHUNK_RESENDS_MAX) {
        this.finish(transfer, 'failed', { retain: true });
        continue;
      }
      transfer.resends++;
      transfer.sentTick = this.currentTick;
      for (const message of transfer.inFlight) this.host.send(message);
    }
  }

  /**
   * Where a compaction up to `compactTo` must stop for the followers catching up through a transfer:
   * each was sent a raft snapshot and needs the entries after it, then after its match index as it
   * catches up by log, or it needs another transfer (up to SNAPSHOT_TRANSFER_HOLD_BYTES_MAX of
   * entries, the replica's to bound). A follower's hold ends once `matchOf` says it has reached
   * `compactTo` (or, undefined, that it is no follower of this leader).
   */
  heldLogIndex(compactTo: number, matchOf: (nodeId: NodeId) => number | undefined): number | undefined {
    let held: number | undefined;
    for (const [nodeId, index] of [...this.holds]) {
      const match = matchOf(nodeId);
      if (match === undefined || match >= compactTo) {
        this.holds.delete(nodeId);
        continue;
      }
      const needed = Math.max(index, match);
      held = held === undefined ? needed : Math.min(held, needed);
    }
    return held;
  }

  /** Drops every transfer without reporting (the replica is closing). */
  close(): void {
    for (const transfer of [...this.transfers.values()]) this.drop(transfer);
    for (const nodeId of [...this.retained.keys()]) this.releaseRetained(nodeId);
    this.holds.clear();
  }

  /** Reads and sends chunks while the window has room: chunk 0 alone until it is acknowledged. */
  private fill(transfer: OutgoingTransfer): void {
    if (transfer.reading || transfer.lastSent) return;
    const chunksMax = transfer.opened ? SNAPSHOT_CHUNKS_IN_FLIGHT_MAX : 1;
    // At most SNAPSHOT_CHUNKS_IN_FLIGHT_MAX chunks: summed here rather than kept beside the window.
    const inFlightBytes = transfer.inFlight.reduce((bytes, message) => bytes + message.data.byteLength, 0);
    if (transfer.inFlight.length >= chunksMax || (transfer.inFlight.length > 0 && inFlightBytes >= SNAPSHOT_BYTES_IN_FLIGHT_MAX)) return;
    transfer.reading = true;
    void this.sendNextChunk(transfer);
  }

  /**
   * Reads and sends the transfer's next chunk, then fills the window again. The transfer may end
   * while the chunk is read (a newer transfer replaces it, leadership moves, the replica closes):
   * dropping it releases its state, the read stops without touching the released snapshot, and
   * nothing is sent.
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
      else transfer.state.release();
      return;
    }
    if (chunk === undefined) return;
    transfer.reading = false;
    if (transfer.retainAfterRead) {
      this.retain(transfer);
      return;
    }
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
    transfer.lastSent = chunk.last;
    // The resend clock runs from the oldest chunk in flight: restart it when the window was empty.
    if (transfer.inFlight.length === 0) transfer.sentTick = this.currentTick;
    transfer.inFlight.push(message);
    this.host.send(message);
    this.fill(transfer);
  }

  /** Ends the transfer and reports it; with `retain`, its state is kept for the next transfer to the follower (once a read under way ends). */
  private finish(transfer: OutgoingTransfer, status: 'finished' | 'failed', options: { retain?: boolean } = {}): void {
    if (options.retain !== true) this.drop(transfer);
    else {
      if (this.transfers.get(transfer.message.to) === transfer) this.transfers.delete(transfer.message.to);
      if (transfer.reading) transfer.retainAfterRead = true;
      else this.retain(transfer);
    }
    this.host.report(transfer.message.to, status);
  }

  private retain(transfer: OutgoingTransfer): void {
    const nodeId = transfer.message.to;
    // A transfer to the follower started meanwhile, or this replica stopped leading (or closed).
    if (this.transfers.has(nodeId) || !this.host.leadsIn(transfer.message.term)) {
      transfer.state.release();
      return;
    }
    this.releaseRetained(nodeId);
    this.retained.set(nodeId, { message: transfer.message, state: transfer.state, untilTick: this.currentTick + SNAPSHOT_RETAIN_TICKS });
  }

  private drop(transfer: OutgoingTransfer): void {
    if (this.transfers.get(transfer.message.to) === transfer) this.transfers.delete(transfer.message.to);
    transfer.state.release();
  }

  private releaseRetained(nodeId: NodeId): void {
    this.retained.get(nodeId)?.state.release();
    this.retained.delete(nodeId);
  }
}

/** What a SnapshotReceiver needs of its replica. */
export interface SnapshotReceiverHost {
  send(message: ZoneMessage): void;
  /** Stages a chunk whose keys follow `after`; returns the last key staged (see ZoneStateMachine.stageChunk). */
  stageChunk(transfer: StagedTransfer, data: Uint8Array, after: Uint8Array | undefined): Promise<Uint8Array | undefined>;
  /** Where a transfer whose chunk 0 is `firstChunk` resumes on the staging, if it may (see ZoneStateMachine.stagingResumePoint). */
  stagingResumePoint(snapshotIndex: number, snapshotTerm: number, firstChunk: Uint8Array): Promise<{ chunkCount: number; lastKey: Uint8Array } | undefined>;
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
  /** Set when the transfer resumed on an earlier staging: the answer to its chunk 0, which the leader may ask again. */
  readonly resumedAfter: Uint8Array | undefined;
  readonly resumedChunks: number;
}

/**
 * The follower's side of snapshot transfers: stages chunks in order, acknowledges them
 * cumulatively once staged, and steps Raft's snapshot message once the last is staged durably.
 * Chunk 0 of a new transfer resumes the staging of an earlier one of the same state (the answer
 * says after which key and chunk the leader goes on: ZoneStateMachine.stagingResumePoint), or
 * discards it and starts over. A chunk of a transfer it does not know (it restarted, or a newer
 * transfer replaced it) is rejected, so that the leader starts a new one (which may resume); a
 * chunk ahead of the next expected one (an earlier one was lost) is ignored until the leader sends
 * the missing one again; a repeated chunk is acknowledged again.
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
      if (message.chunk === 0 && current.resumedAfter !== undefined) this.answer(message, { chunk: current.resumedChunks - 1, resumeAfter: current.resumedAfter });
      else this.answer(message, { chunk: current.next - 1 });
      return false;
    }
    if (known && (current.complete || message.chunk > current.next)) return false;
    // A late copy of an older transfer's first chunk (of this leader, or of an earlier term's) must
    // not displace the transfer under way.
    const older = current !== undefined && (message.term < current.term || (current.from === message.from && current.term === message.term && message.transferId < current.transferId));
    if (!known && older) return false;
    if (!known && message.chunk !== 0) {
      this.answer(message, { chunk: message.chunk, reject: true });
      return false;
    }
    if (!known && (await this.resume(message))) return false;
    if (!known) {
      this.current = undefined;
      await this.host.discardStaging();
      this.current = this.incoming(message, 0, undefined, undefined);
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
    this.answer(message, { chunk: message.chunk });
    return message.last;
  }

  /** Takes up chunk 0 of a new transfer on the staging of an earlier one of the same state, if it may; true when it did (and answered). */
  private async resume(message: SnapshotChunkMessage): Promise<boolean> {
    const { index, term } = message.snapshot.metadata;
    const point = await this.host.stagingResumePoint(index, term, message.data);
    if (point === undefined) return false;
    this.current = this.incoming(message, point.chunkCount, point.lastKey, point.lastKey);
    this.answer(message, { chunk: point.chunkCount - 1, resumeAfter: point.lastKey });
    return true;
  }

  private incoming(message: SnapshotChunkMessage, next: number, lastKey: Uint8Array | undefined, resumedAfter: Uint8Array | undefined): IncomingTransfer {
    return { from: message.from, term: message.term, transferId: message.transferId, next, complete: false, lastKey, resumedAfter, resumedChunks: next };
  }

  private answer(message: SnapshotChunkMessage, answer: { chunk: number; reject?: boolean; resumeAfter?: Uint8Array }): void {
    this.host.send({
      type: 'snapshot-chunk-response',
      from: message.to,
      to: message.from,
      term: message.term,
      transferId: message.transferId,
      chunk: answer.chunk,
      reject: answer.reject ?? false,
      ...(answer.resumeAfter === undefined ? {} : { resumeAfter: answer.resumeAfter }),
    });
  }
}
