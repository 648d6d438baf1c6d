import { assert } from '../../kernel/assert.ts';
import type { StorageFile } from '../../kernel/contracts/storage-file.ts';
import { assertStorageFileSize, assertStorageFileWrite } from '../../kernel/contracts/storage-file-validation.ts';
import { SeededRandom } from '../../kernel/raft/random.ts';
import { MEMORY_STORAGE_FILE_BYTES_MAX, MemoryStorageFile } from '../../drivers/memory/storage-file.ts';
import { ClosedError } from '../../kernel/errors.ts';

/**
 * The unit a disk writes atomically: a torn write keeps or loses whole sectors, never part of one.
 * 512 bytes is the smallest sector any disk has, so it is the worst case for the engine.
 */
export const SECTOR_BYTES = 512;

/**
 * What may happen to a write (or truncate) that was not yet durable when the power failed, as the
 * StorageFile contract allows: it never reached the medium, reached it whole, or reached it in part
 * (a prefix or a suffix of its sectors). Truncates are never torn.
 */
export type CrashFate = 'lost' | 'kept' | 'torn';

/** One mutation or sync the file saw, numbered from 1 in the order the calls were made. */
export type CrashEvent =
  | { kind: 'write'; index: number; offset: number; data: Uint8Array; durableAt: number | undefined }
  | { kind: 'truncate'; index: number; sizeBytes: number; durableAt: number | undefined }
  | { kind: 'sync'; index: number };

type MutationEvent = Exclude<CrashEvent, { kind: 'sync' }>;

/** A half-open byte range `[start, end)` of the file. */
interface ByteRange {
  start: number;
  end: number;
}

/** What one crash image did with one mutation that was not durable at the crash. */
export interface CrashOutcome {
  event: number;
  fate: CrashFate;
  /** For a torn write: the half-open byte range of the file that it kept. */
  keptRange?: ByteRange;
}

/** The file as a crash after event `afterEvent` could leave it, chosen by `seed`. */
export interface CrashImage {
  afterEvent: number;
  seed: number;
  bytes: Uint8Array;
  /** The mutations that were not durable at the crash, in the order the image applied them. */
  outcomes: CrashOutcome[];
  /** Whether that order differs from the order the calls were made in. */
  reordered: boolean;
}

/** The chance of each fate for a mutation that can be torn; one that cannot is lost or kept. */
const FATE_WEIGHTS: Record<CrashFate, number> = { lost: 1, kept: 1, torn: 1 };

/**
 * A StorageFile that remembers everything written to it, so that a test can ask what the medium
 * could hold had the power failed after any one of those calls.
 *
 * It serves reads from a MemoryStorageFile holding the live bytes, and numbers every write,
 * truncate and completed sync as an event. A write counts as resolved one microtask after the
 * call, and a sync makes durable exactly the mutations that had resolved when it was called (the
 * contract's rule), recording that as the mutation's `durableAt`. `crashImage(k, seed)` then
 * builds the medium after a crash following event k: every mutation durable by then is there, in
 * call order; every other mutation up to k is independently lost, kept or torn at a sector
 * boundary, and those are applied in a random order. The same file and seed give the same image.
 *
 * It also checks the caller keeps its side of the contract: overlapping writes are never in flight
 * together (that would make the result depend on timing, which no image could model). A breach is
 * an AssertionError from the offending call.
 */
export class CrashStorageFile implements StorageFile {
  readonly #live: MemoryStorageFile;
  readonly #initial: Uint8Array;
  readonly #events: CrashEvent[] = [];
  /** Mutations called but not yet resolved, with the bytes each changes. */
  readonly #inFlight = new Map<MutationEvent, ByteRange>();
  /** Mutations resolved and not yet covered by a sync call. */
  readonly #resolvedUnsynced: MutationEvent[] = [];
  /** The durable image after the last sync asked for, built incrementally; see #durableBase. */
  #baseCache: { throughSync: number; image: MemoryStorageFile } | undefined;
  #closed = false;

  /** A file that starts as a copy of `initial`, which counts as durable. */
  constructor(initial: Uint8Array = new Uint8Array(0)) {
    this.#live = new MemoryStorageFile(initial);
    this.#initial = new Uint8Array(initial);
  }

  /** Every event so far; event `i` is at `[i - 1]`. Do not change them. */
  get events(): readonly CrashEvent[] {
    return this.#events;
  }

  get eventCount(): number {
    return this.#events.length;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.#assertOpen('read');
    return this.#live.read(offset, length);
  }

  async size(): Promise<number> {
    this.#assertOpen('size');
    return this.#live.size();
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#assertOpen('write');
    assertStorageFileWrite(offset, data);
    if (data.length === 0) return;
    const event: MutationEvent = { kind: 'write', index: this.#nextIndex(), offset, data: new Uint8Array(data), durableAt: undefined };
    await this.#mutate(event, { start: offset, end: offset + data.length }, () => this.#live.write(offset, data));
  }

  async truncate(sizeBytes: number): Promise<void> {
    this.#assertOpen('truncate');
    assertStorageFileSize(sizeBytes);
    const event: MutationEvent = { kind: 'truncate', index: this.#nextIndex(), sizeBytes, durableAt: undefined };
    // A truncate changes every byte from the smaller of the two sizes on.
    const start = Math.min(this.#live.sizeBytes, sizeBytes);
    await this.#mutate(event, { start, end: Number.MAX_SAFE_INTEGER }, () => this.#live.truncate(sizeBytes));
  }

  async sync(): Promise<void> {
    this.#assertOpen('sync');
    const covered = this.#resolvedUnsynced.splice(0);
    await yieldOnce();
    const index = this.#nextIndex();
    this.#events.push({ kind: 'sync', index });
    for (const event of covered) event.durableAt = index;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#live.close();
  }

  /** The live bytes now: what the file holds if no crash happens. */
  liveImage(): Uint8Array {
    return this.#live.image();
  }

  /**
   * The bytes a crash right after event `afterEvent` (0: before any event) could leave, with the
   * fate of each mutation that was not durable by then chosen by `seed`.
   */
  crashImage(afterEvent: number, seed: number): CrashImage {
    assert(Number.isSafeInteger(afterEvent) && afterEvent >= 0 && afterEvent <= this.#events.length, `no event ${afterEvent}`);
    const random = new SeededRandom(seed);
    const image = new MemoryStorageFile(this.#durableBase(afterEvent).image());
    const pending = this.#notDurableAt(afterEvent);
    const order = shuffledIndices(pending.length, random);
    const outcomes = order.map((position) => applyWithFate(image, pending[position]!, random));
    const reordered = order.some((position, index) => position !== index);
    return { afterEvent, seed, bytes: image.image(), outcomes, reordered };
  }

  /** The bytes that are durable after event `afterEvent`: every unsynced mutation lost. */
  durableImage(afterEvent: number): Uint8Array {
    assert(Number.isSafeInteger(afterEvent) && afterEvent >= 0 && afterEvent <= this.#events.length, `no event ${afterEvent}`);
    return this.#durableBase(afterEvent).image();
  }

  #nextIndex(): number {
    return this.#events.length + 1;
  }

  /**
   * Records a mutation and applies it to the live bytes, all before the first await, so that the
   * event order is the call order. It resolves a microtask later, as a medium would, and only then
   * may a sync cover it.
   */
  async #mutate(event: MutationEvent, range: ByteRange, apply: () => Promise<void>): Promise<void> {
    this.#assertNoOverlapInFlight(range, event);
    assert(event.kind !== 'write' || range.end <= MEMORY_STORAGE_FILE_BYTES_MAX, 'the crash storage file outgrew its memory');
    assert(event.kind !== 'truncate' || event.sizeBytes <= MEMORY_STORAGE_FILE_BYTES_MAX, 'the crash storage file outgrew its memory');
    this.#events.push(event);
    this.#inFlight.set(event, range);
    // MemoryStorageFile does its work before it returns; awaiting it is the medium's latency.
    await apply();
    this.#inFlight.delete(event);
    this.#resolvedUnsynced.push(event);
  }

  #assertNoOverlapInFlight(range: ByteRange, event: MutationEvent): void {
    for (const [other, otherRange] of this.#inFlight) {
      assert(
        range.end <= otherRange.start || otherRange.end <= range.start,
        `StorageFile contract broken: event ${event.index} (${event.kind} of [${range.start}, ${range.end})) overlaps ` +
          `event ${other.index} (${other.kind} of [${otherRange.start}, ${otherRange.end})), which is still in flight`,
      );
    }
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new ClosedError(`cannot ${operation}: the crash storage file is closed`);
  }

  /** The last sync event at or before `afterEvent`, or 0 when there is none. */
  #lastSyncAt(afterEvent: number): number {
    for (let index = afterEvent; index > 0; index--) {
      if (this.#events[index - 1]!.kind === 'sync') return index;
    }
    return 0;
  }

  /**
   * The initial bytes with every mutation that the last sync up to `afterEvent` left durable,
   * applied in call order. Built on the image of an earlier sync when one is cached: the mutations
   * that became durable since then are applied on top, which is the same as replaying all of them
   * because overlapping mutations are never in flight together (checked at each call), so a later
   * durable mutation never lands under an earlier one it overlaps.
   */
  #durableBase(afterEvent: number): MemoryStorageFile {
    const throughSync = this.#lastSyncAt(afterEvent);
    const cached = this.#baseCache;
    if (cached?.throughSync === throughSync) return cached.image;
    const fromSync = cached !== undefined && cached.throughSync < throughSync ? cached.throughSync : 0;
    const image = fromSync === 0 ? new MemoryStorageFile(this.#initial) : cached!.image;
    for (const event of this.#events) {
      if (event.kind === 'sync' || event.durableAt === undefined) continue;
      if (event.durableAt > fromSync && event.durableAt <= throughSync) applyWhole(image, event);
    }
    this.#baseCache = { throughSync, image };
    return image;
  }

  /** The mutations made up to `afterEvent` that no sync up to it made durable, in call order. */
  #notDurableAt(afterEvent: number): MutationEvent[] {
    const pending: MutationEvent[] = [];
    for (const event of this.#events.slice(0, afterEvent)) {
      if (event.kind === 'sync') continue;
      if (event.durableAt === undefined || event.durableAt > afterEvent) pending.push(event);
    }
    return pending;
  }
}

/** Lets other calls run before this one resolves, as a real medium would. */
async function yieldOnce(): Promise<void> {
  await Promise.resolve();
}

/**
 * Applies a mutation to an image synchronously. MemoryStorageFile's methods do all their work
 * before returning their promise, so the promise can be dropped; it never rejects here because the
 * event passed the same checks when it was recorded.
 */
function applyWhole(image: MemoryStorageFile, event: MutationEvent): void {
  if (event.kind === 'write') void image.write(event.offset, event.data);
  else void image.truncate(event.sizeBytes);
}

function applyWithFate(image: MemoryStorageFile, event: MutationEvent, random: SeededRandom): CrashOutcome {
  const tearable = event.kind === 'write' && innerSectorBoundaries(writtenRange(event)).length > 0;
  const fate = chooseFate(tearable, random);
  if (fate === 'lost') return { event: event.index, fate };
  if (fate === 'kept') {
    applyWhole(image, event);
    return { event: event.index, fate };
  }
  assert(event.kind === 'write', 'only writes are torn');
  const keptRange = tornRange(writtenRange(event), random);
  void image.write(keptRange.start, event.data.subarray(keptRange.start - event.offset, keptRange.end - event.offset));
  return { event: event.index, fate, keptRange };
}

function chooseFate(tearable: boolean, random: SeededRandom): CrashFate {
  const fates = (Object.keys(FATE_WEIGHTS) as CrashFate[]).filter((fate) => tearable || fate !== 'torn');
  const total = fates.reduce((sum, fate) => sum + FATE_WEIGHTS[fate], 0);
  let draw = random.integerBelow(total);
  for (const fate of fates) {
    draw -= FATE_WEIGHTS[fate];
    if (draw < 0) return fate;
  }
  assert(false, 'fate weights are positive integers');
}

function writtenRange(write: Extract<MutationEvent, { kind: 'write' }>): ByteRange {
  return { start: write.offset, end: write.offset + write.data.length };
}

/** The sector boundaries strictly inside a range: where a write to it can tear. */
function innerSectorBoundaries(range: ByteRange): number[] {
  const boundaries: number[] = [];
  const first = (Math.floor(range.start / SECTOR_BYTES) + 1) * SECTOR_BYTES;
  for (let boundary = first; boundary < range.end; boundary += SECTOR_BYTES) boundaries.push(boundary);
  return boundaries;
}

/** A torn write keeps the sectors before or after one boundary: which part reached the medium. */
function tornRange(written: ByteRange, random: SeededRandom): ByteRange {
  const boundaries = innerSectorBoundaries(written);
  const boundary = boundaries[random.integerBelow(boundaries.length)]!;
  return random.integerBelow(2) === 0 ? { start: written.start, end: boundary } : { start: boundary, end: written.end };
}

/** A uniformly random permutation of `0..count-1` (Fisher–Yates). */
function shuffledIndices(count: number, random: SeededRandom): number[] {
  const indices = Array.from({ length: count }, (_, index) => index);
  for (let index = count - 1; index > 0; index--) {
    const other = random.integerBelow(index + 1);
    [indices[index], indices[other]] = [indices[other]!, indices[index]!];
  }
  return indices;
}
