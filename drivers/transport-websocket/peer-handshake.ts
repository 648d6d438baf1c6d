import type { NodeId } from '../../kernel/raft/types.ts';
import { packValue } from './frame-codec.ts';
import { HANDSHAKE_NONCE_BYTES } from './limits.ts';

/**
 * The proofs of the peer handshake: each side shows that it knows the zone secret without sending
 * it, by an HMAC-SHA-256 (WebCrypto, in every runtime) over everything the connection is about:
 * the zone, who dials whom, and a fresh nonce from each side.
 *
 * Why this is enough: a stranger without the secret cannot compute either proof; a recorded
 * handshake cannot be replayed, because the other side's nonce is new on every connection; a proof
 * made for one direction, zone or pair of nodes does not verify for another, because the role and
 * the names are inside the MAC. The server proves itself first, so a client never sends its proof
 * (or any raft message) to an impostor.
 *
 * What it does not do: every member holds the same zone secret, so a member can claim another
 * member's node id. Members trust each other; the secret keeps everyone else out.
 */
export interface HandshakeTranscript {
  readonly zoneId: string;
  /** The dialing node. */
  readonly client: NodeId;
  /** The node dialed. */
  readonly server: NodeId;
  readonly clientNonce: Uint8Array;
  readonly serverNonce: Uint8Array;
}

export type HandshakeRole = 'client' | 'server';

/** Domain separation: these bytes are never signed for any other purpose. */
const PROOF_LABEL = 'nexusfs zone peer handshake v1';

export async function importZoneKey(zoneSecret: Uint8Array): Promise<CryptoKey> {
  return await crypto.subtle.importKey('raw', zoneSecret as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

export function handshakeNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(HANDSHAKE_NONCE_BYTES));
}

export async function handshakeProof(key: CryptoKey, role: HandshakeRole, transcript: HandshakeTranscript): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, signedBytes(role, transcript)));
}

/** Constant-time comparison (WebCrypto's verify), so a timing probe learns nothing about the proof. */
export async function verifyHandshakeProof(
  key: CryptoKey,
  role: HandshakeRole,
  transcript: HandshakeTranscript,
  proof: Uint8Array,
): Promise<boolean> {
  return await crypto.subtle.verify('HMAC', key, proof as Uint8Array<ArrayBuffer>, signedBytes(role, transcript));
}

/** MessagePack of a tuple: every field is length-delimited, so no two transcripts sign the same bytes. */
function signedBytes(role: HandshakeRole, transcript: HandshakeTranscript): Uint8Array<ArrayBuffer> {
  const { zoneId, client, server, clientNonce, serverNonce } = transcript;
  return Uint8Array.from(packValue([PROOF_LABEL, role, zoneId, client, server, clientNonce, serverNonce]));
}
