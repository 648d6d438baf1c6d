import type { NodeId } from '../../kernel/raft/types.ts';
import { packValue } from './frame-codec.ts';
import { HANDSHAKE_NONCE_BYTES } from './limits.ts';

/**
 * The proofs of the peer handshake. Each side shows two things without sending a secret, both over
 * everything the connection is about (the zone, who dials whom, and a fresh nonce from each side):
 *
 * - that it holds the zone secret: an HMAC-SHA-256 with it (WebCrypto, in every runtime);
 * - that it is the node id it claims: an Ed25519 signature with its own private key, which the
 *   other side checks against the public key recorded for that node id in the zone's membership
 *   (node-key.ts).
 *
 * Why this is enough: a stranger without the secret cannot compute the HMAC; a member holding the
 * secret cannot sign as another member, so it cannot claim that member's node id; a recorded
 * handshake cannot be replayed, because the other side's nonce is new on every connection; a proof
 * made for one direction, zone or pair of nodes does not verify for another, because the role and
 * the names are inside what is signed. The server proves itself first, so a client never sends its
 * proof (or any raft message) to an impostor.
 *
 * A removed node: the zone's state keeps the public key of each node it removed, so a member can
 * still authenticate one that dials it (it was cut off when it was removed and never heard).
 * Instead of a welcome, the member then answers with a removal proof: an HMAC with the zone secret
 * and a signature with its own key, both over the same transcript under labels of their own, so
 * that neither a stranger (no secret) nor another node holding the secret (not the member's key)
 * can tell a node it was removed, and no proof made for a handshake stands for a removal.
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

/** Domain separation: these bytes are never signed for any other purpose, and the HMAC and the signature sign different ones. */
const PROOF_LABEL = 'nexusfs zone peer handshake v1';
const SIGNATURE_LABEL = 'nexusfs zone node identity v1';
const REMOVAL_PROOF_LABEL = 'nexusfs zone peer removal v1';
const REMOVAL_SIGNATURE_LABEL = 'nexusfs zone node removal v1';

export async function importZoneKey(zoneSecret: Uint8Array): Promise<CryptoKey> {
  return await crypto.subtle.importKey('raw', zoneSecret as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

export function handshakeNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(HANDSHAKE_NONCE_BYTES));
}

export async function handshakeProof(key: CryptoKey, role: HandshakeRole, transcript: HandshakeTranscript): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, signedBytes(PROOF_LABEL, role, transcript)));
}

/** The node's signature of its side of the handshake, with its own private key (NodeKeyPair.privateKey). */
export async function handshakeSignature(privateKey: CryptoKey, role: HandshakeRole, transcript: HandshakeTranscript): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign('Ed25519', privateKey, signedBytes(SIGNATURE_LABEL, role, transcript)));
}

/** Whether `signature` is the signature of `role`'s side by the holder of `publicKey` (importNodePublicKey). */
export async function verifyHandshakeSignature(
  publicKey: CryptoKey,
  role: HandshakeRole,
  transcript: HandshakeTranscript,
  signature: Uint8Array,
): Promise<boolean> {
  return await crypto.subtle.verify('Ed25519', publicKey, signature as Uint8Array<ArrayBuffer>, signedBytes(SIGNATURE_LABEL, role, transcript));
}

/** Constant-time comparison (WebCrypto's verify), so a timing probe learns nothing about the proof. */
export async function verifyHandshakeProof(
  key: CryptoKey,
  role: HandshakeRole,
  transcript: HandshakeTranscript,
  proof: Uint8Array,
): Promise<boolean> {
  return await crypto.subtle.verify('HMAC', key, proof as Uint8Array<ArrayBuffer>, signedBytes(PROOF_LABEL, role, transcript));
}

/**
 * The server's proof that the zone removed the client: an HMAC with the zone secret over the
 * transcript of the handshake in which the client proved its node id, under the removal label.
 */
export async function removalProof(key: CryptoKey, transcript: HandshakeTranscript): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, signedBytes(REMOVAL_PROOF_LABEL, 'server', transcript)));
}

/** The server's signature of the same removal, with its own private key. */
export async function removalSignature(privateKey: CryptoKey, transcript: HandshakeTranscript): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign('Ed25519', privateKey, signedBytes(REMOVAL_SIGNATURE_LABEL, 'server', transcript)));
}

/** Whether `proof` is a removal proof for this transcript by a holder of the zone secret (constant time). */
export async function verifyRemovalProof(key: CryptoKey, transcript: HandshakeTranscript, proof: Uint8Array): Promise<boolean> {
  return await crypto.subtle.verify('HMAC', key, proof as Uint8Array<ArrayBuffer>, signedBytes(REMOVAL_PROOF_LABEL, 'server', transcript));
}

/** Whether `signature` is a removal signature for this transcript by the holder of `publicKey` (the server's recorded key). */
export async function verifyRemovalSignature(publicKey: CryptoKey, transcript: HandshakeTranscript, signature: Uint8Array): Promise<boolean> {
  return await crypto.subtle.verify('Ed25519', publicKey, signature as Uint8Array<ArrayBuffer>, signedBytes(REMOVAL_SIGNATURE_LABEL, 'server', transcript));
}

/** MessagePack of a tuple: every field is length-delimited, so no two transcripts sign the same bytes. */
function signedBytes(label: string, role: HandshakeRole, transcript: HandshakeTranscript): Uint8Array<ArrayBuffer> {
  const { zoneId, client, server, clientNonce, serverNonce } = transcript;
  return Uint8Array.from(packValue([label, role, zoneId, client, server, clientNonce, serverNonce]));
}
