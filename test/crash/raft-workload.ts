import fc from 'fast-check';
import type { ConfState, Entry, HardState, RaftPersistRequest, WritableRaftStorage } from '../../kernel/raft/index.ts';
import { MemoryRaftStorage } from '../../kernel/raft/index.ts';
import { patternBytes, toHex } from '../conformance/test-bytes.ts';

/**
 * Generated workloads for the raft storage crash test: the writes a Raft driver loop makes, as
 * abstract steps that are turned into valid writes against a model of the storage when run (so
 * that shrinking keeps every workload valid). A step is one of:
 * - `append`: entries after the last one, maybe with a new term or vote and a higher commit;
 * - `conflict`: entries that replace an uncommitted tail, in a new term (a new leader overwrote it);
 * - `hard-state`: a new term, vote or commit alone;
 * - `install`: a leader's snapshot that replaces the log (maybe with entries after it);
 * - `snapshot`: createSnapshot at a committed index, which compacts the log up to it or up to a
 *   few entries behind it (the entries kept for followers just behind);
 * - `compact`: compact at or below the snapshot (drops entries kept behind it, or nothing).
 * `mustSync` follows Raft's rule (entries, term or vote changed) except where the step says to
 * relax it anyway, which the storage contract allows and which makes unsynced entries possible.
 * A step that does not `wait` is issued together with the next, the way a driver issues a snapshot
 * while a persist is in flight.
 */

/** Payloads: mostly small, some past the KV engine's inline limit (448 bytes) so they overflow. */
const DATA_BYTES_SMALL_MAX = 60;
const DATA_BYTES_LARGE_MIN = 500;
const DATA_BYTES_LARGE_MAX = 1_500;
const ENTRIES_PER_STEP_MAX = 12;
const STEPS_MIN = 3;
const STEPS_MAX = 18;
const VOTERS = [1, 2, 3] as const;

export type RaftStepSpec =
  | { kind: 'append'; count: number; newTerm: boolean; vote: boolean; commitShare: number; relaxed: boolean; large: boolean; wait: boolean }
  | { kind: 'conflict'; back: number; count: number; relaxed: boolean; wait: boolean }
  | { kind: 'hard-state'; newTerm: boolean; vote: boolean; commitShare: number; wait: boolean }
  | { kind: 'install'; ahead: number; entriesAfter: number; dataBytes: number; wait: boolean }
  | { kind: 'snapshot'; share: number; dataBytes: number; entriesKeptBehind: number; wait: boolean }
  | { kind: 'compact'; share: number; wait: boolean };

export interface RaftWorkload {
  steps: RaftStepSpec[];
  /** Seeds the crash images, so each crash point replays alone. */
  imageSeed: number;
}

const share = fc.double({ min: 0, max: 1, noNaN: true });
const wait = fc.boolean();

const stepArbitrary: fc.Arbitrary<RaftStepSpec> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      count: fc.integer({ min: 1, max: ENTRIES_PER_STEP_MAX }),
      newTerm: fc.boolean(),
      vote: fc.boolean(),
      commitShare: share,
      relaxed: fc.boolean(),
      large: fc.boolean(),
      wait,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('conflict' as const),
      back: fc.integer({ min: 1, max: 6 }),
      count: fc.integer({ min: 0, max: 6 }),
      relaxed: fc.boolean(),
      wait,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('hard-state' as const), newTerm: fc.boolean(), vote: fc.boolean(), commitShare: share, wait }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('install' as const),
      ahead: fc.integer({ min: 0, max: 30 }),
      entriesAfter: fc.integer({ min: 0, max: 4 }),
      dataBytes: fc.integer({ min: 0, max: 3_000 }),
      wait,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), share, dataBytes: fc.integer({ min: 0, max: 3_000 }), entriesKeptBehind: fc.integer({ min: 0, max: 4 }), wait }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), share, wait }) },
);

export const raftWorkloadArbitrary: fc.Arbitrary<RaftWorkload> = fc.record({
  steps: fc.array(stepArbitrary, { minLength: STEPS_MIN, maxLength: STEPS_MAX }),
  imageSeed: fc.integer({ min: 0, max: 0x7fff_ffff }),
});

/** One write the workload issued, and when. */
export interface IssuedWrite {
  /** The crash file's event count when the write was called: its own events come after. */
  issueEvent: number;
  /** The event count when it resolved; `undefined` if it never did (it cannot: writes here succeed). */
  ackEvent: number | undefined;
  /** Whether it was durable once resolved (a persist with mustSync). */
  durable: boolean;
  /** What the storage answers after this write and every earlier one. */
  fingerprint: string;
  description: string;
}

export interface RaftWorkloadTrace {
  writes: IssuedWrite[];
  /** What the storage answered before any write. */
  initialFingerprint: string;
}

/** Reads a crash file's event count. */
export interface EventCounter {
  readonly eventCount: number;
}

/**
 * Runs the workload on `storage`, planning each step against a MemoryRaftStorage model that takes
 * the same writes; the model's state after each write is the fingerprint a recovery must match.
 * Throws when the storage answers differently from the model, at any step.
 */
export async function runRaftWorkload(storage: WritableRaftStorage, workload: RaftWorkload, counter: EventCounter): Promise<RaftWorkloadTrace> {
  const model = new MemoryRaftStorage();
  const trace: RaftWorkloadTrace = { writes: [], initialFingerprint: fingerprintOf(model) };
  const pending: Promise<void>[] = [];
  let dataSeed = 1;
  for (const step of workload.steps) {
    const write = planStep(model, step, () => dataSeed++);
    if (write === undefined) continue;
    const issued: IssuedWrite = { issueEvent: counter.eventCount, ackEvent: undefined, durable: write.durable, fingerprint: '', description: write.description };
    const done = write.run(storage).then(() => {
      issued.ackEvent = counter.eventCount;
    });
    await write.run(model);
    issued.fingerprint = fingerprintOf(model);
    trace.writes.push(issued);
    pending.push(done);
    if (step.wait) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const answered = fingerprintOf(storage);
  if (answered !== fingerprintOf(model)) throw new Error(`the storage answers ${answered} where its model answers ${fingerprintOf(model)}`);
  return trace;
}

interface PlannedWrite {
  run(storage: WritableRaftStorage): Promise<unknown>;
  durable: boolean;
  description: string;
}

function planStep(model: MemoryRaftStorage, step: RaftStepSpec, nextSeed: () => number): PlannedWrite | undefined {
  const hardState = model.initialState().hardState;
  const first = model.firstIndex();
  const last = model.lastIndex();
  const confState: ConfState = { voters: [...VOTERS], learners: [] };
  switch (step.kind) {
    case 'append': {
      const term = Math.max(1, step.newTerm ? hardState.term + 1 : hardState.term);
      const entries = entriesFrom(last + 1, step.count, term, step.large, nextSeed);
      const newLast = last + step.count;
      const commit = Math.max(hardState.commit, Math.floor(hardState.commit + (newLast - hardState.commit) * step.commitShare));
      const next: HardState = { term, vote: step.vote ? VOTERS[term % VOTERS.length]! : hardState.vote, commit };
      return persist({ hardState: next, entries, snapshot: undefined, mustSync: !step.relaxed }, `append ${last + 1}..${newLast} in term ${term}`);
    }
    case 'conflict': {
      const start = Math.max(hardState.commit + 1, first, last - step.back + 1);
      const term = hardState.term + 1;
      const count = start > last ? Math.max(1, step.count) : step.count || 1;
      const entries = entriesFrom(start, count, term, false, nextSeed);
      const next: HardState = { term, vote: 0, commit: hardState.commit };
      return persist({ hardState: next, entries, snapshot: undefined, mustSync: !step.relaxed }, `replace from ${start} with ${count} entries of term ${term}`);
    }
    case 'hard-state': {
      const term = step.newTerm ? hardState.term + 1 : hardState.term;
      const vote = step.vote ? VOTERS[(term + 1) % VOTERS.length]! : step.newTerm ? 0 : hardState.vote;
      const commit = Math.max(hardState.commit, Math.floor(hardState.commit + (last - hardState.commit) * step.commitShare));
      const changedVote = term !== hardState.term || vote !== hardState.vote;
      return persist({ hardState: { term, vote, commit }, entries: [], snapshot: undefined, mustSync: changedVote }, `hard state ${term}/${vote}/${commit}`);
    }
    case 'install': {
      const index = Math.max(model.snapshot().metadata.index + 1, hardState.commit + 1, last - 3 + step.ahead);
      const term = Math.max(1, hardState.term);
      const snapshot = { metadata: { index, term, confState }, data: patternBytes(step.dataBytes, nextSeed()) };
      const entries = entriesFrom(index + 1, step.entriesAfter, term, false, nextSeed);
      const next: HardState = { term, vote: hardState.vote, commit: index };
      return persist({ hardState: next, entries, snapshot, mustSync: true }, `install snapshot ${index}/${term} with ${entries.length} entries after it`);
    }
    case 'snapshot': {
      const low = model.snapshot().metadata.index + 1;
      const high = Math.min(hardState.commit, last);
      if (high < low) return undefined;
      const index = low + Math.floor((high - low) * step.share);
      const data = patternBytes(step.dataBytes, nextSeed());
      const compactIndex = Math.max(0, index - step.entriesKeptBehind);
      return {
        run: (storage) => storage.createSnapshot(index, confState, data, { compactIndex }),
        durable: false,
        description: `createSnapshot at ${index}, compacting up to ${compactIndex}`,
      };
    }
    case 'compact': {
      const index = Math.floor(model.snapshot().metadata.index * step.share);
      return { run: (storage) => storage.compact(index), durable: false, description: `compact ${index}` };
    }
  }
}

function persist(request: RaftPersistRequest, description: string): PlannedWrite {
  return {
    run: (storage) => storage.persist(request),
    durable: request.mustSync,
    description: `${description}${request.mustSync ? '' : ' (relaxed)'}`,
  };
}

function entriesFrom(start: number, count: number, term: number, large: boolean, nextSeed: () => number): Entry[] {
  return Array.from({ length: count }, (_, offset) => {
    const seed = nextSeed();
    const sizeBytes = large && offset === 0 ? DATA_BYTES_LARGE_MIN + (seed % (DATA_BYTES_LARGE_MAX - DATA_BYTES_LARGE_MIN)) : seed % DATA_BYTES_SMALL_MAX;
    return { index: start + offset, term, type: seed % 7 === 0 ? 'config-change' : 'normal', data: patternBytes(sizeBytes, seed) };
  });
}

/** Everything the storage answers, as one string: two storages that answer alike print alike. */
export function fingerprintOf(storage: WritableRaftStorage): string {
  const first = storage.firstIndex();
  const last = storage.lastIndex();
  const { hardState, confState } = storage.initialState();
  const snapshot = storage.snapshot();
  const entries = storage.entries(first, last + 1, Infinity).map((entry) => `${entry.index}/${entry.term}/${entry.type}/${toHex(entry.data)}`);
  return JSON.stringify({
    hardState,
    confState,
    first,
    last,
    compactedTerm: storage.term(first - 1),
    snapshot: { ...snapshot.metadata, data: toHex(snapshot.data) },
    entries,
  });
}
