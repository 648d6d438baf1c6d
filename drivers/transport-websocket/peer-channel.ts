import { assert } from '../../kernel/assert.ts';
import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { encodeFrame } from './frame-codec.ts';
import { CLOSE_CODES, type FrameSocket } from './frame-socket.ts';
import {
  RECONNECT_DELAY_MS_MAX,
  RECONNECT_DELAY_MS_MIN,
  SEND_QUEUE_BYTES_MAX,
  SEND_QUEUE_FRAMES_MAX,
} from './limits.ts';

export interface PeerChannelOptions {
  readonly localNodeId: NodeId;
  readonly peerNodeId: NodeId;
  /** Opens an authenticated connection to `address` (the client side of the handshake). */
  readonly dial: (address: string) => Promise<FrameSocket>;
  /** Called when a dial fails or an open connection is lost. */
  readonly onUnreachable: () => void;
  readonly log: (line: string) => void;
  /** Runs the flush of the messages sent in one task (WebSocketZoneTransportOptions.scheduleFlush). */
  readonly scheduleFlush: (flush: () => void) => void;
}

export interface PeerChannelStatus {
  readonly connected: boolean;
  readonly queuedFrames: number;
  readonly droppedFrames: number;
}

/**
 * Everything this node sends to one peer of one zone: a bounded queue and the one connection it
 * drains into.
 *
 * One connection per pair: either node may dial (whoever has something to send and no
 * connection), and a connection the peer dialed is used for sending just as well. If both dialed
 * at once, both nodes keep the connection dialed by the lower node id and close the other, so they
 * agree without talking about it.
 *
 * Messages sent in one task are coalesced into one frame (flushed when `scheduleFlush` says), which keeps
 * the number of frames, and of socket writes, close to the number of Readies rather than messages.
 * When the queue or the socket's buffer is full, frames are dropped: raft resends what matters.
 */
export class PeerChannel {
  readonly #options: PeerChannelOptions;
  #address: string | undefined;
  #outgoing: FrameSocket | undefined;
  #incoming: FrameSocket | undefined;
  #dialing = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #reconnectDelayMs = RECONNECT_DELAY_MS_MIN;
  #pendingMessages: ZoneMessage[] = [];
  #queue: Uint8Array[] = [];
  #queueBytes = 0;
  #droppedFrames = 0;
  #closed = false;

  constructor(options: PeerChannelOptions) {
    this.#options = options;
  }

  setAddress(address: string | undefined): void {
    this.#address = address;
    if (address !== undefined && this.#queue.length > 0) this.#ensureConnecting();
  }

  status(): PeerChannelStatus {
    return { connected: this.#activeSocket() !== undefined, queuedFrames: this.#queue.length, droppedFrames: this.#droppedFrames };
  }

  send(message: ZoneMessage): void {
    if (this.#closed) return;
    this.#pendingMessages.push(message);
    if (this.#pendingMessages.length === 1) this.#options.scheduleFlush(() => this.#flushPending());
  }

  /** Dials now if there is no connection, though nothing is queued (ZoneTransport.connect); one attempt, no retries. */
  connect(): void {
    this.#ensureConnecting();
  }

  /** A connection the peer dialed has completed its handshake. */
  acceptIncoming(socket: FrameSocket): void {
    if (this.#closed) {
      socket.close(CLOSE_CODES.goingAway, 'transport closed');
      return;
    }
    this.#incoming?.close(CLOSE_CODES.duplicate, 'replaced by a newer connection from the same node');
    this.#incoming = socket;
    socket.onClose(() => {
      if (this.#incoming === socket) this.#incoming = undefined;
    });
    this.#settleDuplicate();
    this.#drainQueue();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#outgoing?.close(CLOSE_CODES.goingAway, 'transport closed');
    this.#incoming?.close(CLOSE_CODES.goingAway, 'transport closed');
    this.#queue = [];
    this.#queueBytes = 0;
  }

  #flushPending(): void {
    const messages = this.#pendingMessages;
    this.#pendingMessages = [];
    if (this.#closed || messages.length === 0) return;
    for (const frame of this.#encode(messages)) this.#sendFrame(frame);
  }

  /** One frame for all, or one per message if together they exceed the frame bound. */
  #encode(messages: ZoneMessage[]): Uint8Array[] {
    try {
      return [encodeFrame({ kind: 'raft', messages })];
    } catch {
      const frames: Uint8Array[] = [];
      for (const message of messages) {
        try {
          frames.push(encodeFrame({ kind: 'raft', messages: [message] }));
        } catch (error) {
          this.#droppedFrames++;
          this.#options.log(`dropped a ${message.type} message to node ${message.to}: ${String(error)}`);
        }
      }
      return frames;
    }
  }

  #sendFrame(frame: Uint8Array): void {
    const socket = this.#activeSocket();
    if (socket !== undefined && this.#queue.length === 0) {
      if (socket.bufferedAmount + frame.byteLength > SEND_QUEUE_BYTES_MAX) this.#droppedFrames++;
      else socket.sendBytes(frame);
      return;
    }
    if (this.#queue.length >= SEND_QUEUE_FRAMES_MAX || this.#queueBytes + frame.byteLength > SEND_QUEUE_BYTES_MAX) {
      this.#droppedFrames++;
      return;
    }
    this.#queue.push(frame);
    this.#queueBytes += frame.byteLength;
    this.#ensureConnecting();
  }

  #drainQueue(): void {
    const socket = this.#activeSocket();
    if (socket === undefined) return;
    const queue = this.#queue;
    this.#queue = [];
    this.#queueBytes = 0;
    for (const frame of queue) socket.sendBytes(frame);
  }

  /** The connection to send on: the lower node's dialed one when both exist. */
  #activeSocket(): FrameSocket | undefined {
    const outgoing = this.#outgoing?.isClosed === false ? this.#outgoing : undefined;
    const incoming = this.#incoming?.isClosed === false ? this.#incoming : undefined;
    if (outgoing !== undefined && incoming !== undefined) {
      return this.#options.localNodeId < this.#options.peerNodeId ? outgoing : incoming;
    }
    return outgoing ?? incoming;
  }

  #settleDuplicate(): void {
    const outgoing = this.#outgoing;
    const incoming = this.#incoming;
    if (outgoing === undefined || incoming === undefined || outgoing.isClosed || incoming.isClosed) return;
    const loser = this.#options.localNodeId < this.#options.peerNodeId ? incoming : outgoing;
    loser.close(CLOSE_CODES.duplicate, 'the connection dialed by the lower node id is kept');
  }

  #ensureConnecting(): void {
    if (this.#closed || this.#dialing || this.#retryTimer !== undefined || this.#activeSocket() !== undefined) return;
    const address = this.#address;
    if (address === undefined) return; // Kept queued (bounded): the peer may dial us, or an address may come.
    this.#dialing = true;
    this.#options.dial(address).then(
      (socket) => this.#onDialed(socket),
      (error: unknown) => this.#onDialFailed(address, error),
    );
  }

  #onDialed(socket: FrameSocket): void {
    this.#dialing = false;
    if (this.#closed) {
      socket.close(CLOSE_CODES.goingAway, 'transport closed');
      return;
    }
    this.#reconnectDelayMs = RECONNECT_DELAY_MS_MIN;
    this.#outgoing = socket;
    socket.onClose((reason) => this.#onOutgoingClosed(socket, reason));
    this.#settleDuplicate();
    this.#drainQueue();
  }

  #onOutgoingClosed(socket: FrameSocket, reason: string): void {
    if (this.#outgoing !== socket) return;
    this.#outgoing = undefined;
    if (this.#closed || this.#activeSocket() !== undefined) return;
    this.#options.log(`connection to node ${this.#options.peerNodeId} lost: ${reason}`);
    this.#options.onUnreachable();
    // Redial only when something waits to be sent; raft's next heartbeat or retry will ask.
    if (this.#queue.length > 0) this.#scheduleRetry();
  }

  #onDialFailed(address: string, error: unknown): void {
    this.#dialing = false;
    if (this.#closed) return;
    this.#options.log(`cannot connect to node ${this.#options.peerNodeId} at ${address}: ${error instanceof Error ? error.message : String(error)}`);
    this.#options.onUnreachable();
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    assert(this.#retryTimer === undefined, 'one reconnect timer at a time');
    const delayMs = this.#reconnectDelayMs;
    this.#reconnectDelayMs = Math.min(RECONNECT_DELAY_MS_MAX, delayMs * 2);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#queue.length > 0) this.#ensureConnecting();
    }, delayMs);
  }
}
