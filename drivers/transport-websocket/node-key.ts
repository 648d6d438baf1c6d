import { decodeBase64url } from '../../kernel/contracts/base64url.ts';
import { CorruptionError, InvalidArgumentError } from '../../kernel/errors.ts';
import { NODE_PUBLIC_KEY_BYTES } from '../../kernel/zone/constants.ts';
import { assertNodePublicKey } from '../../kernel/zone/zone-id.ts';

/**
 * A node's own key pair: Ed25519 through WebCrypto (Node 20, Deno, workerd and Chromium have it).
 * The private key signs this node's side of every peer handshake (peer-handshake.ts); the public
 * key is recorded with the node's member record, so every member can check that a connection
 * claiming this node id is this node. Kept with the node's data as a private JWK (which holds the
 * public key too, as `x`).
 */
export interface NodeKeyPair {
  readonly privateKey: CryptoKey;
  /** Raw Ed25519, NODE_PUBLIC_KEY_BYTES. */
  readonly publicKey: Uint8Array;
}

const ALGORITHM = { name: 'Ed25519' } as const;

export async function generateNodeKeyPair(): Promise<NodeKeyPair> {
  const pair = (await crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)) };
}

/** The private JWK to persist; whoever holds it can act as this node. */
export async function exportNodeKeyPair(pair: NodeKeyPair): Promise<JsonWebKey> {
  return await crypto.subtle.exportKey('jwk', pair.privateKey);
}

/** Reads a persisted key pair; CorruptionError (ECORRUPT) for anything but an Ed25519 private JWK. */
export async function importNodeKeyPair(jwk: JsonWebKey): Promise<NodeKeyPair> {
  const publicKey = typeof jwk?.x === 'string' ? decodeBase64url(jwk.x) : undefined;
  if (jwk?.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string' || publicKey?.byteLength !== NODE_PUBLIC_KEY_BYTES) {
    throw new CorruptionError('not an Ed25519 private key (JWK with kty OKP, crv Ed25519, d and x)');
  }
  try {
    const privateKey = await crypto.subtle.importKey('jwk', jwk, ALGORITHM, false, ['sign']);
    return { privateKey, publicKey };
  } catch (error) {
    throw new CorruptionError(`not an Ed25519 private key: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A member's recorded public key, for checking its signatures. */
export async function importNodePublicKey(publicKey: Uint8Array): Promise<CryptoKey> {
  assertNodePublicKey(publicKey);
  try {
    return await crypto.subtle.importKey('raw', publicKey as Uint8Array<ArrayBuffer>, ALGORITHM, false, ['verify']);
  } catch (error) {
    throw new InvalidArgumentError(`invalid node public key: ${error instanceof Error ? error.message : String(error)}`);
  }
}
