/**
 * Every limit of the Raft core, in one place. A `RaftConfig` may lower (never raise above a
 * `*_MAX_*` bound) most of them; the defaults are what a zone uses when it says nothing.
 *
 * Why each bound exists: Raft queues grow with load (proposals, in-flight appends, read requests)
 * and with faults (a follower that never answers). An unbounded queue turns a slow peer into an
 * out-of-memory crash of the leader, so every queue stops at a named limit and says so.
 */

/** Ticks without hearing from a leader before a follower campaigns (randomized up to twice this). */
export const ELECTION_TIMEOUT_TICKS_DEFAULT = 10;

/** Ticks between the heartbeats a leader sends; must be well below the election timeout. */
export const HEARTBEAT_INTERVAL_TICKS_DEFAULT = 1;

/**
 * Accounting overhead of one entry beyond its payload (index, term, type), so that empty entries
 * still count against the byte budgets below and a budget of N bytes bounds the entry count too.
 */
export const ENTRY_OVERHEAD_BYTES = 24;

/** Largest payload of one proposed entry. Larger proposals are refused, not split. */
export const ENTRY_PAYLOAD_SIZE_BYTES_MAX = 8 * 1024 * 1024;

/**
 * Byte budget of the entries in one append message. One entry larger than the budget is still
 * sent alone, so progress is always possible.
 */
export const MESSAGE_ENTRIES_SIZE_BYTES_DEFAULT = 1024 * 1024;

/** Append messages a leader may have unacknowledged to one follower (pipelining depth). */
export const INFLIGHT_MESSAGES_DEFAULT = 256;

/** Upper bound for `RaftConfig.inflightMessagesMax`: the in-flight queue is an array of this size. */
export const INFLIGHT_MESSAGES_MAX = 4096;

/** Entry bytes a leader may have unacknowledged to one follower. */
export const INFLIGHT_BYTES_DEFAULT = 32 * 1024 * 1024;

/**
 * Payload bytes a leader accepts into its log beyond the applied index. Beyond it, proposals are
 * refused until the log drains; this is the back-pressure a slow quorum exerts on clients.
 */
export const UNCOMMITTED_ENTRIES_SIZE_BYTES_DEFAULT = 64 * 1024 * 1024;

/** Byte budget of the committed entries one `Ready` hands to the application to apply. */
export const COMMITTED_ENTRIES_SIZE_BYTES_PER_READY_DEFAULT = 8 * 1024 * 1024;

/**
 * Read requests a new leader holds until it has committed an entry of its own term (it cannot
 * know the commit index before that). Beyond it, read requests are dropped.
 */
export const PENDING_READ_INDEX_REQUESTS_MAX = 4096;

/** Safe read requests waiting for a quorum of heartbeat acknowledgements. */
export const READ_ONLY_REQUESTS_MAX = 4096;

/** Length of a read request's context string (it travels in every heartbeat). */
export const READ_CONTEXT_LENGTH_MAX = 256;

/** Voters plus learners of one Raft group. */
export const GROUP_MEMBERS_MAX = 64;

/**
 * Bounds the loop that keeps sending appends to one follower after an acknowledgement; the
 * in-flight limit stops it first, this is the backstop that makes the bound visible.
 */
export const APPENDS_PER_ACKNOWLEDGEMENT_MAX = INFLIGHT_MESSAGES_MAX;

/**
 * KvRaftStorage keeps the live log (entries after the snapshot) in memory, because RaftStorage
 * reads are synchronous: at most this many entry bytes (counted as `entrySizeBytes`). A persist
 * that would grow the log beyond it is refused with BusyError until the application snapshots.
 */
export const RAFT_STORAGE_LOG_BYTES_MAX = 256 * 1024 * 1024;

/**
 * Entries one `persist` may carry: each is one operation of one KvStore commit, and a commit holds
 * at most METASTORE_BATCH_OPERATIONS_MAX (100,000). A driver loop bounds its Readies below this.
 */
export const RAFT_STORAGE_PERSIST_ENTRIES_MAX = 50_000;

/**
 * Entry keys left behind by compaction or a replaced tail are deleted by later writes, at most this
 * many per commit, so that no write carries an unbounded deletion. Small, because the deletes ride
 * on the durable writes a leader waits for (a delete costs the KV engine tens of microseconds), and
 * still far above the entries one write appends, so deletion keeps up with compaction.
 */
export const RAFT_STORAGE_GARBAGE_DELETES_PER_COMMIT_MAX = 512;

/** Snapshot data is stored in chunks of this size (a KvStore value holds at most 16 MiB). */
export const RAFT_STORAGE_SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

/** The largest snapshot KvRaftStorage stores; it also keeps the latest one in memory. */
export const RAFT_STORAGE_SNAPSHOT_BYTES_MAX = 512 * 1024 * 1024;

/** The longest key prefix KvRaftStorage accepts (its keys add at most 9 bytes to it). */
export const RAFT_STORAGE_KEY_PREFIX_BYTES_MAX = 1024;
