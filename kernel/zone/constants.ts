/**
 * Every limit and default of zones, in one place. A replica's options may lower (or, for the
 * snapshot interval, change) the defaults; the `*_MAX` bounds are fixed.
 */
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
 * snapshot count: a snapshot copies the whole state and stalls the replica's loop meanwhile, so
 * it should be rare; SNAPSHOT_INTERVAL_BYTES bounds the log in memory when entries are large.
 */
export const SNAPSHOT_INTERVAL_ENTRIES_DEFAULT = 100_000;

/**
 * Bytes of applied entries' payloads after which a snapshot is taken whatever their number, well
 * below RAFT_STORAGE_LOG_BYTES_MAX, the live log a KvRaftStorage keeps in memory.
 */
export const SNAPSHOT_INTERVAL_BYTES = 64 * 1024 * 1024;

/** Largest snapshot a replica builds or installs: the whole state machine travels in one message. */
export const SNAPSHOT_BYTES_MAX = 256 * 1024 * 1024;

/** Keys in one snapshot: installing one is one KvStore commit (deletes and puts together). */
export const SNAPSHOT_KEYS_MAX = 40_000;

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
