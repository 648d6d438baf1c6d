import { ZONE_PEER_ADDRESS_LENGTH_MAX } from '../contracts/zone-transport.ts';
import { InvalidArgumentError } from '../errors.ts';
import { isValidNodeId, type NodeId } from '../raft/types.ts';
import { NODE_PUBLIC_KEY_BYTES, ZONE_ID_LENGTH_MAX } from './constants.ts';

/** Lowercase so that a zone id is also safe as a file name, a URL path segment and a key part. */
const ZONE_ID_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;

/** Checks a zone id (see ZONE_ID_LENGTH_MAX): every transport and replica rejects the same ones. */
export function assertZoneId(zoneId: unknown): asserts zoneId is string {
  if (typeof zoneId !== 'string' || zoneId.length === 0 || zoneId.length > ZONE_ID_LENGTH_MAX || !ZONE_ID_PATTERN.test(zoneId)) {
    throw new InvalidArgumentError(
      `invalid zone id ${JSON.stringify(zoneId)}: expected 1 to ${ZONE_ID_LENGTH_MAX} characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit`,
    );
  }
}

export function assertNodeId(nodeId: unknown): asserts nodeId is NodeId {
  if (!isValidNodeId(nodeId)) throw new InvalidArgumentError(`invalid node id ${String(nodeId)}: expected a positive safe integer`);
}

/** Addresses are opaque to the kernel, but bounded and printable so they can be logged and stored. */
export function assertPeerAddress(address: unknown): asserts address is string {
  if (typeof address !== 'string' || address.length === 0 || address.length > ZONE_PEER_ADDRESS_LENGTH_MAX || /[\u0000-\u001f]/.test(address)) {
    throw new InvalidArgumentError(
      `invalid peer address ${JSON.stringify(address)}: expected 1 to ${ZONE_PEER_ADDRESS_LENGTH_MAX} characters without control characters`,
    );
  }
}

/** A node's public key: NODE_PUBLIC_KEY_BYTES of raw Ed25519. */
export function assertNodePublicKey(publicKey: unknown): asserts publicKey is Uint8Array {
  if (!(publicKey instanceof Uint8Array) || publicKey.byteLength !== NODE_PUBLIC_KEY_BYTES) {
    throw new InvalidArgumentError(`invalid node public key: expected ${NODE_PUBLIC_KEY_BYTES} bytes of raw Ed25519`);
  }
}
