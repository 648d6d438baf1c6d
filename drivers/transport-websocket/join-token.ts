import { decodeBase64url, encodeBase64url } from '../../kernel/contracts/base64url.ts';
import { AccessDeniedError } from '../../kernel/errors.ts';
import { assertZoneId } from '../../kernel/zone/zone-id.ts';
import { ZONE_SECRET_BYTES } from './limits.ts';

/**
 * A join token: the zone id and the zone secret in one string, `nzt1.<zone id>.<secret>` (the
 * secret in base64url). Whoever holds it may add a node to the zone: it authenticates the ZoneApi's
 * join, status and data calls (as a bearer token) and, through the secret, every peer connection
 * (peer-handshake.ts), where each node also proves its node id with its own key (node-key.ts). It
 * does not admit to the admin calls (remove-node), which need a voting member's signature
 * (admin-request.ts). `nexus zone create` prints it once; each node keeps it in its data directory.
 *
 * The zone id is inside so a joining node needs nothing else; the secret is last and contains no
 * `.`, so a zone id with dots still parses.
 */
export interface JoinToken {
  readonly zoneId: string;
  readonly zoneSecret: Uint8Array;
}

const TOKEN_PREFIX = 'nzt1.';

export function createZoneSecret(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(ZONE_SECRET_BYTES));
}

export function formatJoinToken(token: JoinToken): string {
  assertZoneId(token.zoneId);
  return `${TOKEN_PREFIX}${token.zoneId}.${encodeBase64url(token.zoneSecret)}`;
}

/** Throws AccessDeniedError (EACCES) for anything that is not a well-formed token. */
export function parseJoinToken(text: string): JoinToken {
  const malformed = (): AccessDeniedError => new AccessDeniedError(`malformed join token: expected ${TOKEN_PREFIX}<zone id>.<secret>`);
  if (typeof text !== 'string' || !text.startsWith(TOKEN_PREFIX)) throw malformed();
  const separator = text.lastIndexOf('.');
  const zoneId = text.slice(TOKEN_PREFIX.length, separator);
  const zoneSecret = decodeBase64url(text.slice(separator + 1));
  if (zoneSecret === undefined || zoneSecret.byteLength !== ZONE_SECRET_BYTES) throw malformed();
  try {
    assertZoneId(zoneId);
  } catch {
    throw malformed();
  }
  return { zoneId, zoneSecret };
}

/** Same bytes, in time that does not depend on where they differ. */
export function isSameSecret(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let difference = 0;
  for (let index = 0; index < a.byteLength; index++) difference |= a[index]! ^ b[index]!;
  return difference === 0;
}
