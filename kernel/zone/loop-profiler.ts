/**
 * What a zone replica tells a profiler about its driver loop, when one is passed
 * (ZoneReplicaOptions.profiler): each phase of each turn of the loop and how long it took. For
 * finding where a write's latency goes (bench:raft's nodes record it with NEXUS_ZONE_PROFILE,
 * runtimes/node/zone-profile.ts); a replica without a profiler measures nothing.
 *
 * Phases, in the order a turn runs them:
 * - `inputs`: stepping the queued ticks, messages and requests into Raft (synchronous); `count` is
 *   the messages and requests stepped.
 * - `apply-stage`: checking and staging committed entries in the state machine; `count` entries.
 * - `persist`: the Ready's write to the raft storage, from its call to its end, when there is
 *   one; `count` entries; `synced` when the write had to be durable.
 * - `apply-commit`: from issuing the state machine's KvStore commit to its end; `count` entries.
 * - `send`: handing the Ready's messages to the transport (synchronous); `count` messages.
 * - `ready`: the whole Ready, from `ready()` to `advance()`; `count` entries persisted.
 * - `snapshot`: a snapshot and log compaction, when one is due; `count` entries compacted.
 *
 * And outside the loop: `commit`, an SC write from its `commit` call to its outcome (at the
 * replica it was asked of), so its latency inside the node compares with what a client sees.
 */
export type ZoneLoopPhase = 'commit' | 'inputs' | 'apply-stage' | 'persist' | 'apply-commit' | 'send' | 'ready' | 'snapshot';

export interface ZoneLoopProfiler {
  /** Milliseconds on a monotonic clock (the kernel has none of its own). */
  now(): number;
  /** One phase took `durationMs` (awaits included for the asynchronous ones). Must not throw. */
  record(phase: ZoneLoopPhase, durationMs: number, count: number, synced?: boolean): void;
}
