import { CorruptionError } from '../errors.ts';
import { ByteReader, ByteWriter } from './command-codec.ts';
import { assertNodePublicKey, assertPeerAddress } from './zone-id.ts';

/** What the zone's state records of a member (the value of its member record): where it is, and its key. */
export interface MemberRecord {
  readonly address: string;
  /** Raw Ed25519 (NODE_PUBLIC_KEY_BYTES); absent for a member that joined without one. */
  readonly publicKey?: Uint8Array;
}

/**
 * A member record's value. Without a key it is the address in UTF-8, as before node identity. With
 * one: a zero byte (never the first byte of an address, which has no control characters), the
 * format version MEMBER_RECORD_FORMAT_IDENTITY, then the address and the key, each length-prefixed.
 */
const IDENTITY_MARKER = 0;
const MEMBER_RECORD_FORMAT_IDENTITY = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeMemberRecord(record: MemberRecord): Uint8Array {
  const address = encoder.encode(record.address);
  if (record.publicKey === undefined) return address;
  const writer = new ByteWriter(2 + 4 + address.length + 4 + record.publicKey.length);
  writer.byte(IDENTITY_MARKER);
  writer.byte(MEMBER_RECORD_FORMAT_IDENTITY);
  writer.bytes(address);
  writer.bytes(record.publicKey);
  return writer.finish();
}

/** Throws CorruptionError for a value no replica could have written (a malformed address or key, an unknown format). */
export function decodeMemberRecord(value: Uint8Array): MemberRecord {
  try {
    if (value[0] !== IDENTITY_MARKER) {
      const address = decoder.decode(value);
      assertPeerAddress(address);
      return { address };
    }
    const reader = new ByteReader(value);
    reader.byte();
    const format = reader.byte();
    if (format !== MEMBER_RECORD_FORMAT_IDENTITY) throw new CorruptionError(`unknown format ${format}`);
    const address = reader.text();
    const publicKey = reader.bytes();
    reader.expectEnd();
    assertPeerAddress(address);
    assertNodePublicKey(publicKey);
    return { address, publicKey };
  } catch (error) {
    throw new CorruptionError(`zone state: a malformed member record (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** Same key bytes, both absent included. */
export function isSamePublicKey(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.byteLength === b.byteLength && a.every((byte, index) => byte === b[index]);
}
