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
 * `ENTRY_PAYLOAD_SIZE_BYTES_MAX` (8 MiB) alone, so appends always fit. A snapshot travels whole
 * in one frame (no chunking): a zone whose snapshot exceeds this bound cannot bring a new or
 * far-behind member up to date, and the send is reported to raft as a failed snapshot.
 */
export const FRAME_BYTES_MAX = 64 * 1024 * 1024;

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
