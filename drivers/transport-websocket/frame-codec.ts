import { Packr, Unpackr } from 'msgpackr';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { assertZoneId } from '../../kernel/zone/zone-id.ts';
import { FRAME_BYTES_MAX, HANDSHAKE_NONCE_BYTES } from './limits.ts';
import { decodeRaftMessage, encodeRaftMessage } from './raft-message-codec.ts';
import { readArray, readCount, readExactBytes, readString, readTuple, wireError } from './wire-values.ts';

/**
 * The frames of a peer connection, in MessagePack, each one `[FRAME_FORMAT_VERSION, kind, ...]`.
 *
 * Why msgpackr: MessagePack is a published, self-describing binary format with byte strings as a
 * first-class type (raft entries and Metastore values are bytes), so frames need no base64 and a
 * peer written in another language can read them. msgpackr is its most used and fastest
 * JavaScript implementation, maintained, pure JavaScript when its optional native addon is absent
 * (so it runs in Deno, Workers and browsers too), and has no runtime dependencies. We use it with
 * records off, so the bytes are plain MessagePack and nothing msgpackr-specific goes on the wire.
 *
 * A connection's life: the client sends `hello`, the server answers `challenge` (proving it knows
 * the zone secret), the client sends `authenticate` (proving the same), the server answers
 * `welcome`; from then on both sides send `raft` frames. A server that refuses says why in a
 * `refused` frame and closes. A server whose zone removed the client answers the `authenticate`
 * with `removed` (a removal proof and signature) instead of `welcome`, and closes. See
 * peer-handshake.ts for the proofs.
 *
 * Versions: 3 added the node signatures; 4 adds the `removed` frame. A frame of another version is
 * refused as a whole (EINVAL naming both versions), so nodes of different versions do not talk.
 *
 * Decoding is strict: a frame that is not MessagePack, carries another format version, has an
 * unknown kind or a field of the wrong type or range, or is larger than `FRAME_BYTES_MAX`, is an
 * InvalidArgumentError, and the connection that carried it is closed.
 */
export const FRAME_FORMAT_VERSION = 4;

export type Frame =
  | { kind: 'hello'; zoneId: string; from: NodeId; to: NodeId; clientNonce: Uint8Array }
  | { kind: 'challenge'; serverNonce: Uint8Array; serverProof: Uint8Array; serverSignature: Uint8Array }
  | { kind: 'authenticate'; clientProof: Uint8Array; clientSignature: Uint8Array }
  | { kind: 'welcome' }
  | { kind: 'refused'; code: string; message: string }
  | { kind: 'removed'; removalProof: Uint8Array; removalSignature: Uint8Array }
  | { kind: 'raft'; messages: ZoneMessage[] };

const FRAME_KIND_CODES = {
  hello: 1,
  challenge: 2,
  authenticate: 3,
  welcome: 4,
  refused: 5,
  raft: 6,
  removed: 7,
} as const satisfies Record<Frame['kind'], number>;

/** HMAC-SHA-256 proofs. */
const PROOF_BYTES = 32;

/** Ed25519 signatures. */
const SIGNATURE_BYTES = 64;

/** Raft messages in one frame; a Ready's messages to one peer are far fewer. */
const MESSAGES_PER_FRAME_MAX = 65_536;

const REFUSAL_TEXT_LENGTH_MAX = 1024;

const packer = new Packr({ useRecords: false });
const unpacker = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Encodes a frame. The returned bytes are the caller's. Throws InvalidArgumentError above `FRAME_BYTES_MAX`. */
export function encodeFrame(frame: Frame): Uint8Array {
  const bytes = packer.pack(frameTuple(frame));
  if (bytes.byteLength > FRAME_BYTES_MAX) {
    throw new InvalidArgumentError(`cannot send a ${frame.kind} frame of ${bytes.byteLength} bytes: a frame holds at most ${FRAME_BYTES_MAX}`);
  }
  return bytes;
}

function frameTuple(frame: Frame): unknown[] {
  const head = [FRAME_FORMAT_VERSION, FRAME_KIND_CODES[frame.kind]];
  switch (frame.kind) {
    case 'hello':
      return [...head, frame.zoneId, frame.from, frame.to, frame.clientNonce];
    case 'challenge':
      return [...head, frame.serverNonce, frame.serverProof, frame.serverSignature];
    case 'authenticate':
      return [...head, frame.clientProof, frame.clientSignature];
    case 'welcome':
      return head;
    case 'refused':
      return [...head, frame.code, frame.message];
    case 'raft':
      return [...head, frame.messages.map(encodeRaftMessage)];
    case 'removed':
      return [...head, frame.removalProof, frame.removalSignature];
  }
}

/** Decodes and checks one frame; see the module comment for what is refused. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.byteLength > FRAME_BYTES_MAX) {
    throw new InvalidArgumentError(`cannot decode a frame of ${bytes.byteLength} bytes: a frame holds at most ${FRAME_BYTES_MAX}`);
  }
  const value = unpackStrict(bytes);
  if (!Array.isArray(value) || value.length < 2) throw wireError('frame', 'an array [version, kind, ...]', value);
  const version = readCount(value[0], 'frame format version');
  if (version !== FRAME_FORMAT_VERSION) {
    throw new InvalidArgumentError(`cannot decode a frame of format version ${version}: this node speaks version ${FRAME_FORMAT_VERSION}`);
  }
  return readFrameBody(value);
}

/** MessagePack of exactly one value: a truncated frame or trailing bytes are errors, not partial reads. */
export function unpackStrict(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) throw new InvalidArgumentError('cannot decode an empty frame');
  try {
    const values = unpacker.unpackMultiple(bytes) as unknown[];
    if (values.length !== 1) throw new Error(`${values.length} values where one was expected`);
    return values[0];
  } catch (error) {
    throw new InvalidArgumentError(`cannot decode a frame: not well-formed MessagePack (${error instanceof Error ? error.message : String(error)})`);
  }
}

export function packValue(value: unknown): Uint8Array {
  return packer.pack(value);
}

function readFrameBody(value: readonly unknown[]): Frame {
  const fields = (kind: string, count: number): readonly unknown[] => readTuple(value, `${kind} frame`, 2 + count).slice(2);
  switch (value[1]) {
    case FRAME_KIND_CODES.hello: {
      const [zoneId, from, to, clientNonce] = fields('hello', 4);
      return {
        kind: 'hello',
        zoneId: readZoneId(zoneId, 'hello zone id'),
        from: readPositiveId(from, 'hello sender'),
        to: readPositiveId(to, 'hello recipient'),
        clientNonce: readExactBytes(clientNonce, 'hello nonce', HANDSHAKE_NONCE_BYTES),
      };
    }
    case FRAME_KIND_CODES.challenge: {
      const [serverNonce, serverProof, serverSignature] = fields('challenge', 3);
      return {
        kind: 'challenge',
        serverNonce: readExactBytes(serverNonce, 'challenge nonce', HANDSHAKE_NONCE_BYTES),
        serverProof: readExactBytes(serverProof, 'challenge proof', PROOF_BYTES),
        serverSignature: readExactBytes(serverSignature, 'challenge signature', SIGNATURE_BYTES),
      };
    }
    case FRAME_KIND_CODES.authenticate: {
      const [clientProof, clientSignature] = fields('authenticate', 2);
      return {
        kind: 'authenticate',
        clientProof: readExactBytes(clientProof, 'authenticate proof', PROOF_BYTES),
        clientSignature: readExactBytes(clientSignature, 'authenticate signature', SIGNATURE_BYTES),
      };
    }
    case FRAME_KIND_CODES.welcome:
      fields('welcome', 0);
      return { kind: 'welcome' };
    case FRAME_KIND_CODES.refused: {
      const [code, message] = fields('refused', 2);
      return {
        kind: 'refused',
        code: readString(code, 'refusal code', REFUSAL_TEXT_LENGTH_MAX),
        message: readString(message, 'refusal message', REFUSAL_TEXT_LENGTH_MAX),
      };
    }
    case FRAME_KIND_CODES.raft: {
      const [messages] = fields('raft', 1);
      return { kind: 'raft', messages: readArray(messages, 'raft frame', MESSAGES_PER_FRAME_MAX).map(decodeRaftMessage) };
    }
    case FRAME_KIND_CODES.removed: {
      const [removalProof, removalSignature] = fields('removed', 2);
      return {
        kind: 'removed',
        removalProof: readExactBytes(removalProof, 'removal proof', PROOF_BYTES),
        removalSignature: readExactBytes(removalSignature, 'removal signature', SIGNATURE_BYTES),
      };
    }
    default:
      throw wireError('frame kind', 'a known frame kind code', value[1]);
  }
}

function readZoneId(value: unknown, field: string): string {
  try {
    assertZoneId(value);
    return value;
  } catch {
    throw wireError(field, 'a zone id (see kernel/zone/zone-id.ts)', value);
  }
}

function readPositiveId(value: unknown, field: string): NodeId {
  const id = readCount(value, field);
  if (id === 0) throw wireError(field, 'a node id (a positive integer)', value);
  return id;
}

