import type { StorageFile } from '../contracts/storage-file.ts';
import { ClosedError } from '../errors.ts';

/**
 * A StorageFile over a growable Uint8Array for the engine's own tests, counting what the engine
 * asks of it (syncs above all: group commit is judged by them). `image()` is what a reopened file
 * starts from; `failNextSync` makes the next sync throw, as a failing disk would.
 */
export class CountingStorageFile implements StorageFile {
  #bytes: Uint8Array;
  #sizeBytes: number;
  #closed = false;
  syncCount = 0;
  writeCount = 0;
  writtenBytes = 0;
  readCount = 0;
  failNextSync = false;

  constructor(image: Uint8Array = new Uint8Array(0)) {
    this.#bytes = new Uint8Array(Math.max(4096, image.length));
    this.#bytes.set(image);
    this.#sizeBytes = image.length;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.#assertOpen();
    this.readCount++;
    const start = Math.min(offset, this.#sizeBytes);
    return this.#bytes.slice(start, Math.min(offset + length, this.#sizeBytes));
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#assertOpen();
    this.writeCount++;
    this.writtenBytes += data.length;
    const end = offset + data.length;
    if (end > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.#bytes.length * 2));
      grown.set(this.#bytes.subarray(0, this.#sizeBytes));
      this.#bytes = grown;
    }
    this.#bytes.set(data, offset);
    this.#sizeBytes = Math.max(this.#sizeBytes, end);
  }

  async size(): Promise<number> {
    this.#assertOpen();
    return this.#sizeBytes;
  }

  async truncate(sizeBytes: number): Promise<void> {
    this.#assertOpen();
    if (sizeBytes < this.#sizeBytes) this.#bytes.fill(0, sizeBytes, this.#sizeBytes);
    else await this.write(sizeBytes, new Uint8Array(0));
    this.#sizeBytes = sizeBytes;
  }

  async sync(): Promise<void> {
    this.#assertOpen();
    this.syncCount++;
    if (this.failNextSync) {
      this.failNextSync = false;
      throw new Error('simulated sync failure');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  image(): Uint8Array {
    return this.#bytes.slice(0, this.#sizeBytes);
  }

  /** Flips the bits of one byte in place, as a bad sector would. */
  corrupt(offset: number): void {
    this.#bytes[offset] = this.#bytes[offset]! ^ 0xff;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('the counting storage file is closed');
  }
}

/** What a RecordingStorageFile saw, in order; `mark` events are the test's own annotations. */
export type StorageEvent =
  | { kind: 'write'; offset: number; data: Uint8Array }
  | { kind: 'sync' }
  | { kind: 'mark'; label: string };

/**
 * A CountingStorageFile that logs every write and sync, so a test can build, after the fact, the
 * image a crash at any point would have left: everything synced before that point, plus any
 * subset of the later writes, whole or torn, applied in any order.
 */
export class RecordingStorageFile extends CountingStorageFile {
  readonly events: StorageEvent[] = [];

  override async write(offset: number, data: Uint8Array): Promise<void> {
    this.events.push({ kind: 'write', offset, data: new Uint8Array(data) });
    await super.write(offset, data);
  }

  override async sync(): Promise<void> {
    this.events.push({ kind: 'sync' });
    await super.sync();
  }

  mark(label: string): void {
    this.events.push({ kind: 'mark', label });
  }
}

/** What happens to one unsynced write in a crash image. */
export type WriteFate = 'lost' | 'kept' | 'torn';

/**
 * The image after a crash right after `events[0..eventCount)`: the writes synced by then, then
 * the unsynced ones in `order` (a permutation of their indexes) with their fates; a torn write
 * keeps its first `tornBytes(write)` bytes.
 */
export function crashImage(
  events: readonly StorageEvent[],
  eventCount: number,
  choose: (unsynced: { offset: number; data: Uint8Array }[]) => { order: number[]; fates: WriteFate[]; tornBytes: number[] },
): Uint8Array {
  const image = new CountingStorageFile();
  let unsynced: { offset: number; data: Uint8Array }[] = [];
  for (const event of events.slice(0, eventCount)) {
    if (event.kind === 'write') unsynced.push(event);
    if (event.kind === 'sync') {
      for (const write of unsynced) void image.write(write.offset, write.data);
      unsynced = [];
    }
  }
  const { order, fates, tornBytes } = choose(unsynced);
  for (const index of order) {
    const write = unsynced[index]!;
    if (fates[index] === 'kept') void image.write(write.offset, write.data);
    if (fates[index] === 'torn') void image.write(write.offset, write.data.subarray(0, tornBytes[index]!));
  }
  return image.image();
}

/**
 * Seeded fates for `crashImage`: the unsynced writes in a random order, each lost, kept (twice as
 * likely) or torn at a random byte.
 */
export function randomCrashFates(random: { below(bound: number): number }) {
  return (unsynced: { offset: number; data: Uint8Array }[]): { order: number[]; fates: WriteFate[]; tornBytes: number[] } => {
    const order = unsynced.map((_, index) => index);
    for (let index = order.length - 1; index > 0; index--) {
      const other = random.below(index + 1);
      [order[index], order[other]] = [order[other]!, order[index]!];
    }
    const fates = unsynced.map((): WriteFate => (['lost', 'kept', 'kept', 'torn'] as const)[random.below(4)]!);
    const tornBytes = unsynced.map((write) => random.below(write.data.length));
    return { order, fates, tornBytes };
  };
}

/** The last `state N durable` mark among the first `eventCount` events: the state a crash must keep. */
export function lastDurableState(events: readonly { kind: string; label?: string }[], eventCount: number): number {
  let last = 0;
  for (const event of events.slice(0, eventCount)) {
    if (event.kind === 'mark') last = Number(event.label!.split(' ')[1]);
  }
  return last;
}
