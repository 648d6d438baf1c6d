import { assert } from '../../kernel/assert.ts';
import { ENTRY_PAYLOAD_SIZE_BYTES_MAX } from '../../kernel/raft/constants.ts';
import { SNAPSHOT_CHUNK_ENCODED_BYTES_MAX } from '../../kernel/zone/constants.ts';

/**
 * Every limit of the WebSocket ZoneTransport and the ZoneApi, in one place.
 *
 * Why each bound exists: a peer is another process that may be slow, down or hostile. Nothing it
 * sends or fails to read may make this process grow without bound, and nothing it says is trusted
 * before the connection has proved that it knows the zone secret.
 */

/**
 * Largest frame, in bytes, sent or accepted on a peer connection. A raft append carries at most
 * `MESSAGE_ENTRIES_SIZE_BYTES_DEFAULT` (1 MiB) of entries, or one entry of up to
 * `ENTRY_PAYLOAD_SIZE_BYTES_MAX` (8 MiB) alone, and a snapshot travels in chunks of at most
 * `SNAPSHOT_CHUNK_ENCODED_BYTES_MAX` (about 9 MiB; raft's own snapshot message carries no state),
 * so every message fits one frame whatever the size of the zone (checked below).
 */
export const FRAME_BYTES_MAX = 64 * 1024 * 1024;

/** Room in a frame for its framing and a message's fields besides its largest byte string. */
const FRAME_OVERHEAD_BYTES_RESERVED = 64 * 1024;

assert(
  SNAPSHOT_CHUNK_ENCODED_BYTES_MAX + FRAME_OVERHEAD_BYTES_RESERVED <= FRAME_BYTES_MAX && ENTRY_PAYLOAD_SIZE_BYTES_MAX + FRAME_OVERHEAD_BYTES_RESERVED <= FRAME_BYTES_MAX,
  'a snapshot chunk or a raft entry would not fit a frame',
);

/**
 * Frames queued for one peer while its connection is down or its socket is backed up. Beyond it
 * new frames are dropped: raft retransmits what matters (appends after a rejection or a
 * heartbeat, votes after an election timeout), so a bounded loss is safe and an unbounded queue
 * is not.
 */
export const SEND_QUEUE_FRAMES_MAX = 4096;

/** Bytes queued for one peer (frames waiting plus bytes buffered in the socket) before dropping. */
export const SEND_QUEUE_BYTES_MAX = 128 * 1024 * 1024;

/** First delay before reconnecting to a peer after a failed or lost connection. */
export const RECONNECT_DELAY_MS_MIN = 50;

/** Reconnect delays double after each failure up to this ceiling. */
export const RECONNECT_DELAY_MS_MAX = 2_000;

/** A connection that has not completed its handshake within this time is closed. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;

/**
 * Connections accepted and still in their handshake. Beyond it new connections are closed at
 * once: strangers can hold at most this many sockets open (each for HANDSHAKE_TIMEOUT_MS).
 */
export const HANDSHAKES_IN_PROGRESS_MAX = 64;

/** Bytes of the random nonces each side contributes to the handshake. */
export const HANDSHAKE_NONCE_BYTES = 32;

/** Bytes of a zone secret (the random part of a join token). */
export const ZONE_SECRET_BYTES = 32;

/** Largest ZoneApi request body, in bytes (a Metastore batch of large values fits). */
export const API_REQUEST_BYTES_MAX = 64 * 1024 * 1024;

/**
 * Largest body, in bytes, of a ZoneApi call whose credential is inside its body: the admin calls,
 * signed (admin-request.ts), and their challenge. Such a body is read before it can be checked, so
 * a stranger may send it: it may only be small. A token call's body may be API_REQUEST_BYTES_MAX,
 * as its token is checked from the headers before the body is read.
 */
export const ADMIN_REQUEST_BYTES_MAX = 64 * 1024;

/**
 * Largest body, in bytes, of an admin call itself, the `request` its signed envelope carries
 * (remove-node's is {nodeId}, a few bytes). admin-request.ts checks that the envelope around the
 * largest one fits ADMIN_REQUEST_BYTES_MAX.
 */
export const ADMIN_CALL_BYTES_MAX = 4 * 1024;

/**
 * How long an admin challenge (admin-request.ts) stays good after its node issued it. Long enough
 * for a CLI to sign and send over a slow link; short, so that a request captured on the way is
 * useless soon even to the node that issued it (which also refuses it a second time).
 */
export const ADMIN_CHALLENGE_LIFETIME_MS = 60_000;

/** Random bytes in an admin challenge, besides its issue time and MAC. */
export const ADMIN_CHALLENGE_RANDOM_BYTES = 16;

/**
 * Admin requests a node remembers having run within ADMIN_CHALLENGE_LIFETIME_MS (to refuse their
 * replays). Only requests with a valid member signature count, so only members can fill it; past it
 * the node answers EBUSY rather than forgetting a challenge that could then be replayed.
 */
export const ADMIN_CHALLENGES_REDEEMED_MAX = 1024;
