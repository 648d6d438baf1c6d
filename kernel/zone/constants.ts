/**
 * Every limit and default of zones, in one place. A replica's options may lower (or, for the
 * snapshot interval, change) the defaults; the `*_MAX` bounds are fixed.
 */
import { METASTORE_KEY_BYTES_MAX } from '../contracts/metastore.ts';
import { ENTRY_PAYLOAD_SIZE_BYTES_MAX } from '../raft/constants.ts';

/** A zone id: 1 to this many characters of `[a-z0-9._-]`, starting with a letter or digit. */
export const ZONE_ID_LENGTH_MAX = 64;

/**
 * Largest encoded proposal (one Metastore batch with its header). A Raft entry holds at most
 * ENTRY_PAYLOAD_SIZE_BYTES_MAX, so a replicated Metastore accepts smaller values than a local one.
 */
export const ZONE_PROPOSAL_BYTES_MAX = ENTRY_PAYLOAD_SIZE_BYTES_MAX;

/**
 * Keys under this prefix belong to the zone itself (its applied index, membership records, and
 * the raft log when it shares the KvStore): a replicated Metastore refuses them as user keys with
 * EINVAL and leaves them out of scans. Chosen so that no path encoding of the kernel starts with it.
 */
export const ZONE_RESERVED_KEY_PREFIX: Uint8Array = Uint8Array.of(0xff, 0xfe, 0x00, ...new TextEncoder().encode('nexus.zone'), 0x00);

/** The key prefix to open a replica's KvRaftStorage with, when it shares the replica's KvStore. */
export const ZONE_RAFT_KEY_PREFIX: Uint8Array = Uint8Array.of(...ZONE_RESERVED_KEY_PREFIX, 0x72);

/**
 * Applied entries between two snapshots (each snapshot compacts the raft log), as etcd's default
 * snapshot count since v3.6 (100,000 before). A snapshot copies nothing (the applied state is
 * already in the KvStore, one sync makes it durable) and keeps SNAPSHOT_CATCH_UP_ENTRIES_DEFAULT
 * entries behind it, so compacting often costs little and no follower just behind; what it buys is
 * a smaller live log, which a KvRaftStorage holds in memory: at most this plus the entries kept
 * behind (30,000), where it was 100,000 before. SNAPSHOT_INTERVAL_BYTES bounds it when entries are large.
 */
export const SNAPSHOT_INTERVAL_ENTRIES_DEFAULT = 10_000;

/**
 * Entries a snapshot leaves in the raft log behind its index (as etcd's SnapshotCatchUpEntries), so
 * that a follower just behind the compaction is sent entries rather than the whole state. Twice the
 * interval: a follower that was sent a snapshot resumes from its index, so it still catches up by
 * log when the leader snapshots once more during the transfer (fewer than an interval of writes
 * meanwhile); with fewer, a busy zone could compact past every transfer before it ends.
 */
export const SNAPSHOT_CATCH_UP_ENTRIES_DEFAULT = 2 * SNAPSHOT_INTERVAL_ENTRIES_DEFAULT;

/** Intervals of entries a snapshot leaves behind it when a replica sets its interval but not `snapshotCatchUpEntries`: the same reason. */
export const SNAPSHOT_CATCH_UP_INTERVALS = SNAPSHOT_CATCH_UP_ENTRIES_DEFAULT / SNAPSHOT_INTERVAL_ENTRIES_DEFAULT;

/**
 * Bytes of applied entries' payloads after which a snapshot is taken whatever their number, well
 * below RAFT_STORAGE_LOG_BYTES_MAX, the live log a KvRaftStorage keeps in memory.
 */
export const SNAPSHOT_INTERVAL_BYTES = 64 * 1024 * 1024;

/**
 * Entry bytes (`entrySizeBytes`) a snapshot leaves behind its index at most, whatever
 * `snapshotCatchUpEntries` says: with the interval's bytes, the live log stays below
 * RAFT_STORAGE_LOG_BYTES_MAX (256 MiB) with room for the entries not applied yet.
 */
export const SNAPSHOT_CATCH_UP_BYTES_MAX = SNAPSHOT_INTERVAL_BYTES / 2;

/**
 * Bytes of stored entries after which a snapshot chunk is closed (a chunk holds at least one entry,
 * so it may exceed this by one entry). One chunk is one transport message, one staging value and
 * one step of an install; a replica's options may lower it (tests do, to get many chunks).
 */
export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 1024 * 1024;

/** Entries in one snapshot chunk, whatever their size: each becomes one operation of an install commit. */
export const SNAPSHOT_CHUNK_ENTRIES_MAX = 4096;

/**
 * The largest encoded chunk: the byte target, one more entry of the largest key and stored value
 * (a proposal's value plus its 8-byte version), and the chunk's framing. It must fit a KvStore value
 * (it is staged as one) and a transport frame.
 */
export const SNAPSHOT_CHUNK_ENCODED_BYTES_MAX = SNAPSHOT_CHUNK_BYTES_DEFAULT + METASTORE_KEY_BYTES_MAX + ZONE_PROPOSAL_BYTES_MAX + 64 * 1024;

/**
 * Chunks in one snapshot transfer (with 1 MiB chunks, 4 TiB of state): a bound for the loops that
 * walk a transfer, far above any zone, not a limit a zone is expected to reach.
 */
export const SNAPSHOT_CHUNKS_MAX = 4 * 1024 * 1024;

/**
 * Keys a loop over the whole zone state may visit (SNAPSHOT_CHUNKS_MAX full chunks): the bound of
 * the scans that build and install snapshots, not a limit on the state.
 */
export const ZONE_STATE_ENTRIES_MAX = SNAPSHOT_CHUNKS_MAX * SNAPSHOT_CHUNK_ENTRIES_MAX;

/** Entries one page of the scans that build and install snapshot chunks reads. */
export const SNAPSHOT_SCAN_PAGE_ENTRIES = 1024;

/**
 * Operations in one KvStore commit of a snapshot install (puts of staged entries, deletes of
 * entries the snapshot lacks) and of the deletion of staged chunks: an install of any size is a
 * series of bounded commits.
 */
export const SNAPSHOT_INSTALL_OPERATIONS_PER_COMMIT = 8192;

/** Bytes of keys and values one install commit carries at most (beyond one entry): stored values may be megabytes each. */
export const SNAPSHOT_INSTALL_COMMIT_BYTES_MAX = 16 * 1024 * 1024;

/** Snapshot transfers a leader runs at once (each pins a KvStore snapshot); more are reported failed and retried by Raft. */
export const SNAPSHOT_SENDS_MAX = 4;

/** Ticks without an acknowledgement after which a snapshot chunk is sent again. */
export const SNAPSHOT_CHUNK_RESEND_TICKS = 10;

/** Times one chunk is sent again before the transfer is given up (and reported failed to Raft, which retries). */
export const SNAPSHOT_CHUNK_RESENDS_MAX = 5;

/**
 * Chunks of one transfer sent and not yet acknowledged. One chunk in flight left the link idle for
 * a round trip and the follower idle while the leader read the next chunk, per chunk; a few in
 * flight keep the leader reading, the link carrying and the follower staging at once (100k keys:
 * see bench:zone-catchup). Few, since the follower stages in order and a lost chunk costs its
 * followers a resend (go-back-N), and each is held in memory at both ends until acknowledged.
 */
export const SNAPSHOT_CHUNKS_IN_FLIGHT_MAX = 4;

/**
 * Encoded bytes of one transfer's chunks in flight, beyond which no further chunk leaves until one
 * is acknowledged (one always may): a chunk exceeds its byte target by up to one entry, which may
 * be a proposal of ZONE_PROPOSAL_BYTES_MAX.
 */
export const SNAPSHOT_BYTES_IN_FLIGHT_MAX = SNAPSHOT_CHUNKS_IN_FLIGHT_MAX * SNAPSHOT_CHUNK_BYTES_DEFAULT;

/** Snapshot chunks received and not yet staged: a window of one transfer, and as many again (the next transfer's, resends). */
export const SNAPSHOT_INBOX_CHUNKS_MAX = 2 * SNAPSHOT_CHUNKS_IN_FLIGHT_MAX;

/**
 * Ticks a leader keeps the state it pinned for a transfer that failed (its follower went silent or
 * restarted), so that the next transfer to that follower sends the same state and resumes after
 * what the follower staged rather than from the start (a new pin under writes is another state,
 * whose chunks cannot follow the staged ones). Longer than a failed transfer's resends take.
 */
export const SNAPSHOT_RETAIN_TICKS = 10 * SNAPSHOT_CHUNK_RESEND_TICKS;

/**
 * Entry bytes (`entrySizeBytes`) a leader keeps in its log beyond the catch-up entries for
 * followers being sent a snapshot: it compacts no further than the snapshot a transfer under way
 * sends (until the follower has the entries after it), so that a transfer outlasting the catch-up
 * entries under writes ends in log catch-up rather than in another transfer, and so on without end.
 * Bounded so that a stuck follower cannot hold the log forever: with the interval's bytes, the
 * live log stays below RAFT_STORAGE_LOG_BYTES_MAX.
 */
export const SNAPSHOT_TRANSFER_HOLD_BYTES_MAX = SNAPSHOT_INTERVAL_BYTES;

/** Proposals, reads and membership requests waiting for their outcome on one replica. */
export const PENDING_REQUESTS_MAX = 16_384;

/** Messages received and not yet stepped; beyond it messages are dropped (Raft recovers). */
export const INBOX_MESSAGES_MAX = 16_384;

/**
 * Ticks a proposal or read may wait for its outcome before it fails with a retryable error. With
 * the default election timeout (10 ticks) this spans several elections.
 */
export const REQUEST_TIMEOUT_TICKS_DEFAULT = 100;

/** Proposals stepped into Raft between two Readies: all of them are persisted with one write. */
export const PROPOSALS_PER_READY_MAX = 4096;

/** Recent apply outcomes kept so that `waitFor` can answer for a token already applied. */
export const RECENT_OUTCOMES_MAX = 4096;

/** Members of a zone (voters and learners), as Raft allows. */
export { GROUP_MEMBERS_MAX as ZONE_MEMBERS_MAX } from '../raft/constants.ts';

/**
 * A learner that joined to become a voter is promoted by the leader once its match index is
 * within this many entries of the leader's last index (and it replicates normally: any snapshot
 * sent to it is done). Few enough that a new voter does not hold up commits while it catches up
 * the rest, as etcd's learner promotion requires the learner to be "in sync".
 */
export const PROMOTION_LAG_ENTRIES_MAX = 256;

/** Bytes of a node's public key (raw Ed25519), recorded with its member record (see ZoneMember). */
export const NODE_PUBLIC_KEY_BYTES = 32;

/**
 * Bytes of entries in the last append a leader sends a node whose removal it applies, so that the
 * node learns the change committed and stops (ZoneReplica.sendRemovalNotice). A node further
 * behind than this is not told.
 */
export const REMOVAL_NOTICE_BYTES_MAX = 1024 * 1024;

/**
 * Ticks after a node's removal applies before the transport forgets it: the last append that
 * tells it of its removal leaves within them (a transport may drop frames queued for a peer it
 * forgets).
 */
export const REMOVAL_NOTICE_TICKS = 2;

/**
 * Ticks without a message from any peer after which a replica (not leading) asks its transport to
 * connect to every member it knows, though it has nothing to send (ZoneTransport.connect): a
 * learner sends nothing of its own, so one removed while cut off would otherwise never dial a
 * member and never be told of its removal at the handshake. A voter campaigns, and dials, anyway.
 */
export const SILENT_PEERS_PROBE_TICKS = 50;
