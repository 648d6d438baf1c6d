import { assert } from '../../kernel/assert.ts';
import { encodeBase64url } from '../../kernel/contracts/base64url.ts';
import { AccessDeniedError, BusyError } from '../../kernel/errors.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import type { ZoneMemberStatus } from '../../kernel/zone/types.ts';
import { packValue } from './frame-codec.ts';
import { ADMIN_CALL_BYTES_MAX, ADMIN_CHALLENGE_LIFETIME_MS, ADMIN_CHALLENGE_RANDOM_BYTES, ADMIN_CHALLENGES_REDEEMED_MAX, ADMIN_REQUEST_BYTES_MAX } from './limits.ts';
import { importNodePublicKey } from './node-key.ts';
import { readBytes, readExactBytes, readPositive, readString } from './wire-values.ts';

/**
 * Admin requests: the ZoneApi calls that change the zone's membership (today `remove-node`) are
 * not admitted by the join token, but by a signature of a voting member's node key over the
 * request and a fresh challenge from the node that runs it.
 *
 * Why a member's node key and not another secret: each member already has an Ed25519 key pair
 * (node-key.ts) whose public key the zone records with its membership through Raft, so every node
 * can check a signature against the membership it already holds, and a removed member's key stops
 * admitting the moment its removal applies, with nothing to distribute, rotate or revoke. An admin
 * secret printed at `zone create` would be one more secret to store on every node and to keep in
 * step with the membership. What this admits is what a voter can do anyway: a voter can become
 * leader and propose any membership change through Raft, so its key grants no power the zone has
 * not already given it. A learner (a join not yet finished) and a token holder that never joined
 * are refused.
 *
 * Why a challenge and not a timestamp: the node that runs the call issues the challenge (an issue
 * time, random bytes and an HMAC with a key that lives only in this process), so a signed request
 * is good once, at that node, for ADMIN_CHALLENGE_LIFETIME_MS, whatever the clocks of the other
 * machines say. Issuing keeps no state, so strangers asking for challenges fill nothing; a node
 * remembers only the challenges a verified signature redeemed, until they expire.
 *
 * The wire: `POST /zone/v1/admin-challenge` answers `{challenge}`; the admin call's body is
 * `{zoneId, signer, challenge, signature, request}`, where `request` is the call's own body
 * (encodeApiBody of its payload) and `signature` signs adminSignedBytes.
 */

/** Who signs an admin request: a member's zone, node id and private key (NodeKeyPair.privateKey), as in its data directory. */
export interface AdminSigner {
  readonly zoneId: string;
  readonly nodeId: NodeId;
  readonly privateKey: CryptoKey;
}

/**
 * An admin call's body (sent as it is, encodeApiBody of this object), and what `readAdminRequest`
 * decodes before the checks. `request` is the call's own body, still encoded.
 */
export interface AdminRequest {
  readonly zoneId: string;
  readonly signer: NodeId;
  readonly challenge: Uint8Array;
  readonly signature: Uint8Array;
  readonly request: Uint8Array;
}

/** Domain separation from the peer handshake's labels (peer-handshake.ts): these bytes are signed for nothing else. */
const ADMIN_SIGNATURE_LABEL = 'nexusfs zone admin request v1';
const CHALLENGE_MAC_LABEL = 'nexusfs zone admin challenge v1';

const ISSUED_AT_BYTES = 8;
const MAC_BYTES = 32;
/** Issue time (milliseconds, big-endian), random bytes, HMAC-SHA-256 of both. */
export const ADMIN_CHALLENGE_BYTES = ISSUED_AT_BYTES + ADMIN_CHALLENGE_RANDOM_BYTES + MAC_BYTES;
const ED25519_SIGNATURE_BYTES = 64;
const ZONE_ID_LENGTH_MAX = 256;
/** Room in an admin request for its field names, its signer and MessagePack's framing. */
const ADMIN_ENVELOPE_OVERHEAD_BYTES_RESERVED = 1024;

// An admin request's body is read whole before its signature is checked, so the node reads at most
// ADMIN_REQUEST_BYTES_MAX of it: the largest well-formed one must fit (a zone id character is at
// most 3 bytes of UTF-8).
assert(
  ZONE_ID_LENGTH_MAX * 3 + ADMIN_CHALLENGE_BYTES + ED25519_SIGNATURE_BYTES + ADMIN_CALL_BYTES_MAX + ADMIN_ENVELOPE_OVERHEAD_BYTES_RESERVED <= ADMIN_REQUEST_BYTES_MAX,
  'the largest admin request would not fit ADMIN_REQUEST_BYTES_MAX',
);

/** The bytes a signer signs: the label, the zone, the route, the signer, the challenge and the call's body, each length-delimited. */
export function adminSignedBytes(route: string, request: AdminRequest): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(packValue([ADMIN_SIGNATURE_LABEL, request.zoneId, route, request.signer, request.challenge, request.request]));
}

/** Signs `request` (the call's encoded body) for `route` over `challenge`: the admin request's payload. */
export async function signAdminRequest(options: { route: string; challenge: Uint8Array; request: Uint8Array; signer: AdminSigner }): Promise<AdminRequest> {
  const unsigned = { zoneId: options.signer.zoneId, signer: options.signer.nodeId, challenge: options.challenge, signature: new Uint8Array(0), request: options.request };
  const signature = new Uint8Array(await crypto.subtle.sign('Ed25519', options.signer.privateKey, adminSignedBytes(options.route, unsigned)));
  return { ...unsigned, signature };
}

/**
 * Reads an admin call's body. A body without a signature (a client sending only the token) is
 * AccessDeniedError, naming what the call needs; a signature of the wrong shape is too, since
 * nothing in it could admit. A call's own body (`request`) over ADMIN_CALL_BYTES_MAX is
 * InvalidArgumentError.
 */
export function readAdminRequest(route: string, payload: Record<string, unknown>): AdminRequest {
  if (payload.signature === undefined || payload.signer === undefined || payload.challenge === undefined) {
    throw new AccessDeniedError(
      `${route} is an admin call: it needs a request signed by a voting member's node key over a challenge from this node ` +
        `(\`nexus zone remove-node <node-id> --data <a member's data directory>\`); the join token does not admit to it`,
    );
  }
  let signer: NodeId;
  let signature: Uint8Array;
  let challenge: Uint8Array;
  try {
    signer = readPositive(payload.signer, 'admin signer');
    signature = readExactBytes(payload.signature, 'admin signature', ED25519_SIGNATURE_BYTES);
    challenge = readExactBytes(payload.challenge, 'admin challenge', ADMIN_CHALLENGE_BYTES);
  } catch (error) {
    throw new AccessDeniedError(`the signature of this ${route} request is malformed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { zoneId: readString(payload.zoneId, 'admin zone id', ZONE_ID_LENGTH_MAX), signer, challenge, signature, request: readBytes(payload.request, 'admin request', ADMIN_CALL_BYTES_MAX) };
}

export interface AdminGateOptions {
  readonly zoneId: string;
  /** The clock challenges are issued and expire by: Date.now by default; tests inject their own. */
  readonly now?: () => number;
}

/**
 * The admin gate of one ZoneApi: issues challenges and admits signed requests. Every refusal is
 * AccessDeniedError (EACCES) saying which check failed; nothing is run or remembered for a refused
 * request, except that a challenge is spent once a valid signature has used it.
 */
export class AdminGate {
  readonly #zoneId: string;
  readonly #now: () => number;
  /** This process's challenge key: a challenge from another node, or from before a restart, does not verify. */
  readonly #challengeKey: Promise<CryptoKey>;
  /** Redeemed challenges (base64url) and when each expires; pruned as they expire, at most ADMIN_CHALLENGES_REDEEMED_MAX. */
  readonly #redeemed = new Map<string, number>();

  constructor(options: AdminGateOptions) {
    this.#zoneId = options.zoneId;
    this.#now = options.now ?? Date.now;
    this.#challengeKey = crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']) as Promise<CryptoKey>;
  }

  async issueChallenge(): Promise<Uint8Array> {
    const challenge = new Uint8Array(ADMIN_CHALLENGE_BYTES);
    new DataView(challenge.buffer).setBigUint64(0, BigInt(this.#now()));
    crypto.getRandomValues(challenge.subarray(ISSUED_AT_BYTES, ISSUED_AT_BYTES + ADMIN_CHALLENGE_RANDOM_BYTES));
    challenge.set(new Uint8Array(await crypto.subtle.sign('HMAC', await this.#challengeKey, this.#macBytes(challenge))), ISSUED_AT_BYTES + ADMIN_CHALLENGE_RANDOM_BYTES);
    return challenge;
  }

  /**
   * Admits `request` for `route` against `members` (this node's current view of the membership),
   * or throws AccessDeniedError. The checks run from the cheapest; the challenge is spent last, in
   * the same synchronous step as its final check, so two copies of one request in flight cannot
   * both pass, and a stranger replaying a member's challenge with a bad signature cannot spend it.
   */
  async admit(route: string, request: AdminRequest, members: readonly ZoneMemberStatus[]): Promise<void> {
    if (request.zoneId !== this.#zoneId) {
      throw new AccessDeniedError(`this ${route} request is signed for zone ${request.zoneId}, and this node serves zone ${this.#zoneId}`);
    }
    const member = members.find((one) => one.nodeId === request.signer);
    if (member === undefined) {
      throw new AccessDeniedError(`node ${request.signer} is not a member of zone ${this.#zoneId}: only a voting member's key admits to ${route} (a removed member's key admits to nothing)`);
    }
    if (member.role !== 'voter') {
      throw new AccessDeniedError(`node ${request.signer} is a learner of zone ${this.#zoneId}, not yet a voter: only a voting member's key admits to ${route}`);
    }
    if (member.publicKey === undefined) throw new AccessDeniedError(`node ${request.signer} of zone ${this.#zoneId} has no recorded public key to check its signature against`);
    const issuedAtMs = await this.#checkChallenge(route, request.challenge);
    const publicKey = await importNodePublicKey(member.publicKey);
    if (!(await crypto.subtle.verify('Ed25519', publicKey, request.signature as Uint8Array<ArrayBuffer>, adminSignedBytes(route, request)))) {
      throw new AccessDeniedError(`the signature of this ${route} request does not verify with the key zone ${this.#zoneId} records for node ${request.signer}`);
    }
    this.#redeem(route, request.challenge, issuedAtMs);
  }

  /** The challenge's issue time, once its MAC verifies and it has not expired. */
  async #checkChallenge(route: string, challenge: Uint8Array): Promise<number> {
    const mac = challenge.subarray(ISSUED_AT_BYTES + ADMIN_CHALLENGE_RANDOM_BYTES);
    if (!(await crypto.subtle.verify('HMAC', await this.#challengeKey, mac as Uint8Array<ArrayBuffer>, this.#macBytes(challenge)))) {
      throw new AccessDeniedError(`the challenge of this ${route} request was not issued by this node (or was issued before it restarted): ask this node for a new one`);
    }
    const issuedAtMs = Number(new DataView(challenge.buffer, challenge.byteOffset, ISSUED_AT_BYTES).getBigUint64(0));
    const ageMs = this.#now() - issuedAtMs;
    if (ageMs > ADMIN_CHALLENGE_LIFETIME_MS) {
      throw new AccessDeniedError(`the challenge of this ${route} request expired ${ageMs - ADMIN_CHALLENGE_LIFETIME_MS} ms ago (a challenge is good for ${ADMIN_CHALLENGE_LIFETIME_MS} ms): ask this node for a new one`);
    }
    return issuedAtMs;
  }

  #redeem(route: string, challenge: Uint8Array, issuedAtMs: number): void {
    const now = this.#now();
    for (const [key, expiresAtMs] of this.#redeemed) if (expiresAtMs < now) this.#redeemed.delete(key);
    const key = encodeBase64url(challenge);
    if (this.#redeemed.has(key)) throw new AccessDeniedError(`the challenge of this ${route} request was used already: a signed admin request runs once (a replayed request?)`);
    if (this.#redeemed.size >= ADMIN_CHALLENGES_REDEEMED_MAX) {
      throw new BusyError(`this node ran ${ADMIN_CHALLENGES_REDEEMED_MAX} admin requests within ${ADMIN_CHALLENGE_LIFETIME_MS} ms: try again later`);
    }
    this.#redeemed.set(key, issuedAtMs + ADMIN_CHALLENGE_LIFETIME_MS);
  }

  #macBytes(challenge: Uint8Array): Uint8Array<ArrayBuffer> {
    return Uint8Array.from(packValue([CHALLENGE_MAC_LABEL, this.#zoneId, challenge.subarray(0, ISSUED_AT_BYTES + ADMIN_CHALLENGE_RANDOM_BYTES)]));
  }
}
