import { assert } from '../../kernel/assert.ts';
import { NexusError } from '../../kernel/errors.ts';
import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import { decodeFrame, encodeFrame, type Frame } from './frame-codec.ts';
import { SEND_QUEUE_FRAMES_MAX } from './limits.ts';

/**
 * WebSocket close codes this transport uses. Application codes (4000-4999), because the standard
 * WebSocket API (browsers, Deno, Node 22+) lets a client close with 1000 or 3000-4999 only; each
 * mirrors the RFC 6455 §7.4 code it is named after in its last digits.
 */
export const CLOSE_CODES = {
  /** A second connection between the same pair of nodes replaced this one. */
  duplicate: 4000,
  goingAway: 4001,
  protocolError: 4002,
  invalidData: 4007,
  policyViolation: 4008,
} as const;

/**
 * One peer connection, over any WebSocket with the standard API (the runtime's own, or `ws` in
 * Node, whose sockets offer the same interface): frames in, frames out, and the two phases of a
 * connection's life.
 *
 * Handshake phase: frames are read one at a time with `nextFrame`; the protocol is lockstep, so at
 * most one frame can be waiting, and a peer that sends more, or a raft frame, is closed.
 * Open phase (after `deliverRaftTo`): raft frames go to the callback; any other frame closes the
 * connection. A frame that fails to decode closes the connection in either phase (close code
 * 4007 with the decoder's message as the reason); nothing a peer sends can throw out of here.
 */
export class FrameSocket {
  readonly #socket: WebSocket;
  #pendingFrame: Frame | undefined;
  #waiter: { resolve: (frame: Frame) => void; reject: (error: Error) => void } | undefined;
  #deliver: ((messages: ZoneMessage[]) => void) | undefined;
  /** Raft frames that arrived after `welcome` and before `deliverRaftTo` (the client's await gap). */
  #earlyRaftFrames: ZoneMessage[][] | undefined;
  #closeReason: string | undefined;
  readonly #closeListeners: ((reason: string) => void)[] = [];

  constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.binaryType = preferredBinaryType(socket);
    socket.addEventListener('message', (event) => this.#onMessage(event.data));
    socket.addEventListener('close', (event) => this.#onClosed(`closed by the peer (${event.code}${event.reason ? `: ${event.reason}` : ''})`));
    socket.addEventListener('error', () => this.#onClosed('socket error'));
  }

  get isClosed(): boolean {
    return this.#closeReason !== undefined;
  }

  /** Bytes handed to the socket and not yet written to the network. */
  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  /** Resolves once the socket is open; rejects if it closes first. */
  async opened(): Promise<void> {
    if (this.#socket.readyState === this.#socket.OPEN) return;
    if (this.isClosed) throw new Error(this.#closeReason);
    await new Promise<void>((resolve, reject) => {
      this.#socket.addEventListener('open', () => resolve(), { once: true });
      this.onClose((reason) => reject(new Error(reason)));
    });
  }

  /** The next handshake frame, or an error when the socket closes or `timeoutMs` passes first. */
  async nextFrame(timeoutMs: number): Promise<Frame> {
    assert(this.#waiter === undefined && this.#deliver === undefined, 'nextFrame() while another read waits or after the handshake');
    const pending = this.#pendingFrame;
    if (pending !== undefined) {
      this.#pendingFrame = undefined;
      return pending;
    }
    if (this.isClosed) throw new Error(this.#closeReason);
    return await new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        this.close(CLOSE_CODES.policyViolation, 'handshake timed out');
        reject(new Error(`handshake timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiter = {
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  /** Ends the handshake phase: raft frames from now on go to `deliver`. */
  deliverRaftTo(deliver: (messages: ZoneMessage[]) => void): void {
    assert(this.#deliver === undefined, 'deliverRaftTo() twice');
    this.#deliver = deliver;
    for (const messages of this.#earlyRaftFrames?.splice(0) ?? []) {
      if (this.isClosed) return;
      deliver(messages);
    }
  }

  send(frame: Frame): void {
    this.sendBytes(encodeFrame(frame));
  }

  sendBytes(bytes: Uint8Array): void {
    if (!this.isClosed) this.#socket.send(bytes);
  }

  /** Says why (a `refused` frame) and closes. */
  refuse(error: NexusError): void {
    this.send({ kind: 'refused', code: error.code, message: error.message });
    this.close(CLOSE_CODES.policyViolation, error.code);
  }

  close(code: number, reason: string): void {
    if (this.isClosed) return;
    // A close reason is at most 123 bytes (RFC 6455 §5.5); the full reason stays in #closeReason.
    this.#socket.close(code, truncateUtf8(reason, 120));
    this.#onClosed(reason);
  }

  onClose(listener: (reason: string) => void): void {
    if (this.#closeReason !== undefined) listener(this.#closeReason);
    else this.#closeListeners.push(listener);
  }

  #onMessage(data: unknown): void {
    if (this.isClosed) return;
    let bytes: Uint8Array;
    if (data instanceof Uint8Array) bytes = data;
    else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else {
      this.close(CLOSE_CODES.invalidData, 'expected binary frames');
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      this.close(CLOSE_CODES.invalidData, error instanceof Error ? error.message : String(error));
      return;
    }
    this.#onFrame(frame);
  }

  #onFrame(frame: Frame): void {
    if (this.#deliver !== undefined) {
      if (frame.kind === 'raft') this.#deliver(frame.messages);
      else this.close(CLOSE_CODES.protocolError, `unexpected ${frame.kind} frame on an open connection`);
      return;
    }
    if (frame.kind === 'raft') {
      this.#holdEarlyRaftFrame(frame.messages);
    } else if (this.#earlyRaftFrames !== undefined) {
      this.close(CLOSE_CODES.protocolError, `unexpected ${frame.kind} frame after welcome`);
    } else if (this.#waiter !== undefined) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter.resolve(frame);
    } else if (this.#pendingFrame === undefined) {
      this.#pendingFrame = frame;
    } else {
      this.close(CLOSE_CODES.protocolError, 'handshake frames out of turn');
    }
    if (frame.kind === 'welcome') this.#earlyRaftFrames = [];
  }

  /**
   * A server starts sending right after its `welcome`, so raft frames may arrive before the
   * client has finished its handshake code; they wait (bounded). Before a welcome, a raft frame is
   * a peer skipping the handshake, and closes the connection.
   */
  #holdEarlyRaftFrame(messages: ZoneMessage[]): void {
    const early = this.#earlyRaftFrames;
    if (early === undefined) this.close(CLOSE_CODES.policyViolation, 'raft frame before the handshake completed');
    else if (early.length >= SEND_QUEUE_FRAMES_MAX) this.close(CLOSE_CODES.policyViolation, 'too many raft frames before the handshake completed');
    else early.push(messages);
  }

  #onClosed(reason: string): void {
    if (this.#closeReason !== undefined) return;
    this.#closeReason = reason;
    this.#waiter?.reject(new Error(reason));
    this.#waiter = undefined;
    for (const listener of this.#closeListeners.splice(0)) listener(reason);
  }
}

/**
 * 'nodebuffer' where the socket offers it (the `ws` package's sockets, which Node 20 uses), else
 * the standard 'arraybuffer'. With 'arraybuffer', `ws` copies each message out of the buffer it
 * was read into (a fresh ArrayBuffer per message, since a received message is a view into the
 * socket's chunk): on a zone node that was a copy and an allocation per append and per
 * acknowledgement. A Node Buffer is a Uint8Array, which decodeFrame takes as it is. Standard
 * WebSockets (browsers, Deno, Node 22+) ignore a binaryType they do not know, which is how the
 * check tells.
 */
export function preferredBinaryType(socket: WebSocket): BinaryType {
  socket.binaryType = 'nodebuffer' as BinaryType;
  return (socket.binaryType as string) === 'nodebuffer' ? socket.binaryType : 'arraybuffer';
}

export function truncateUtf8(text: string, bytesMax: number): string {
  const encoder = new TextEncoder();
  let result = text;
  while (encoder.encode(result).byteLength > bytesMax) result = result.slice(0, -1);
  return result;
}
