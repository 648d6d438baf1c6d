import { describe, expect, it } from 'vitest';
import type { StorageFile } from '../../kernel/contracts/storage-file.ts';
import { SeededRandom } from '../../kernel/raft/random.ts';
import { runStorageFileSuite } from '../conformance/storage-file-suite.ts';
import { bytesDifference, patternBytes, utf8 } from '../conformance/test-bytes.ts';
import { type CrashFate, CrashStorageFile, SECTOR_BYTES } from './crash-storage-file.ts';

// Reopening keeps only what was synced: the suite's reopen tests then check the durability
// bookkeeping too, not just the bytes.
runStorageFileSuite('CrashStorageFile', async () => new CrashStorageFile(), {
  reopen: async (closed: StorageFile) => {
    const crashFile = closed as CrashStorageFile;
    return new CrashStorageFile(crashFile.durableImage(crashFile.eventCount));
  },
});

/** Seeds the "every mode occurs" tests try: enough that each mode shows up many times. */
const SEEDS_PER_MODE_TEST = 200;
/** Random workloads the "synced data is in every image" property runs, and their length. */
const PROPERTY_WORKLOADS = 30;
const PROPERTY_STEPS = 40;
const PROPERTY_SEEDS_PER_POINT = 5;
const PROPERTY_FILE_BYTES = 8 * SECTOR_BYTES * 4;

const PAGE_BYTES = 4096;

function page(seed: number): Uint8Array {
  return patternBytes(PAGE_BYTES, seed);
}

describe('CrashStorageFile events', () => {
  it('numbers writes, truncates and completed syncs in call order, and marks what each sync made durable', async () => {
    const file = new CrashStorageFile();
    await file.write(0, utf8('a'));
    await file.truncate(10);
    await file.sync();
    await file.write(1, utf8('b'));
    expect(file.events.map((event) => [event.index, event.kind])).toEqual([
      [1, 'write'],
      [2, 'truncate'],
      [3, 'sync'],
      [4, 'write'],
    ]);
    expect(file.events.map((event) => (event.kind === 'sync' ? 'sync' : event.durableAt))).toEqual([3, 3, 'sync', undefined]);
  });

  it('does not count a write as durable by a sync called before the write resolved', async () => {
    const file = new CrashStorageFile();
    await Promise.all([file.write(0, utf8('in flight')), file.sync()]);
    expect(file.events[0]).toMatchObject({ kind: 'write', durableAt: undefined });
    await file.sync();
    expect(file.events[0]).toMatchObject({ kind: 'write', durableAt: 3 });
  });

  it('refuses overlapping writes in flight together: the contract says the engine never issues them', async () => {
    const file = new CrashStorageFile();
    const first = file.write(0, page(1));
    await expect(file.write(PAGE_BYTES - 1, page(2))).rejects.toThrow(/overlaps event 1/);
    await first;
    await file.write(PAGE_BYTES - 1, page(2)); // once the first has resolved, overlapping is fine
  });

  it('keeps the crash files deterministic: the same seed gives the same image, other seeds other images', async () => {
    const file = await fileWithUnsyncedPages(8);
    const first = file.crashImage(file.eventCount, 42);
    const again = file.crashImage(file.eventCount, 42);
    expect(again).toEqual(first);
    const images = new Set<string>();
    for (let seed = 0; seed < 20; seed++) images.add(hashOf(file.crashImage(file.eventCount, seed).bytes));
    expect(images.size).toBeGreaterThan(10);
  });
});

describe('CrashStorageFile crash images', () => {
  it('gives the initial bytes for a crash before any event', async () => {
    const file = new CrashStorageFile(utf8('initial'));
    await file.write(0, utf8('changed'));
    await file.sync();
    for (let seed = 0; seed < 10; seed++) expect(file.crashImage(0, seed).bytes).toEqual(utf8('initial'));
  });

  it('keeps every synced write in every image, however the unsynced ones fare', async () => {
    const file = new CrashStorageFile();
    for (let index = 0; index < 4; index++) await file.write(index * PAGE_BYTES, page(index + 1));
    await file.sync();
    const syncedThrough = file.eventCount;
    for (let index = 4; index < 8; index++) await file.write(index * PAGE_BYTES, page(index + 1));
    for (let afterEvent = syncedThrough; afterEvent <= file.eventCount; afterEvent++) {
      for (let seed = 0; seed < 50; seed++) {
        const { bytes } = file.crashImage(afterEvent, seed);
        for (let index = 0; index < 4; index++) {
          expect(bytesDifference(bytes.subarray(index * PAGE_BYTES, (index + 1) * PAGE_BYTES), page(index + 1))).toBeUndefined();
        }
      }
    }
  });

  it('gives exactly the live bytes at a sync with nothing in flight, for every seed', async () => {
    const file = new CrashStorageFile();
    const liveAtSync: Uint8Array[] = [];
    for (let round = 0; round < 5; round++) {
      await file.write(round * 1000, page(round));
      await file.truncate(round * 1000 + 3000);
      await file.sync();
      liveAtSync.push(file.liveImage());
    }
    const syncEvents = file.events.filter((event) => event.kind === 'sync').map((event) => event.index);
    syncEvents.forEach((afterEvent, round) => {
      for (let seed = 0; seed < 10; seed++) expect(bytesDifference(file.crashImage(afterEvent, seed).bytes, liveAtSync[round]!)).toBeUndefined();
    });
  });

  it('loses, keeps and tears unsynced writes, keeping a prefix or a suffix of whole sectors when it tears', async () => {
    const file = await fileWithUnsyncedPages(4);
    const fates = new Map<CrashFate, number>();
    const tornSides = new Set<'prefix' | 'suffix'>();
    for (let seed = 0; seed < SEEDS_PER_MODE_TEST; seed++) {
      const image = file.crashImage(file.eventCount, seed);
      for (const outcome of image.outcomes) {
        fates.set(outcome.fate, (fates.get(outcome.fate) ?? 0) + 1);
        const event = file.events[outcome.event - 1]!;
        if (event.kind !== 'write') continue;
        const onDisk = image.bytes.subarray(event.offset, event.offset + PAGE_BYTES);
        if (outcome.fate === 'kept') expect(bytesDifference(onDisk, event.data)).toBeUndefined();
        if (outcome.fate === 'lost') expect(onDisk.every((byte) => byte === 0)).toBe(true);
        if (outcome.fate === 'torn') {
          const { start, end } = outcome.keptRange!;
          expect(start % SECTOR_BYTES === 0 || end % SECTOR_BYTES === 0).toBe(true);
          expect(end - start).toBeGreaterThan(0);
          expect(end - start).toBeLessThan(PAGE_BYTES);
          tornSides.add(start === event.offset ? 'prefix' : 'suffix');
          expect(bytesDifference(image.bytes.subarray(start, end), event.data.subarray(start - event.offset, end - event.offset))).toBeUndefined();
          const rest = start === event.offset ? image.bytes.subarray(end, event.offset + PAGE_BYTES) : image.bytes.subarray(event.offset, start);
          expect(rest.every((byte) => byte === 0)).toBe(true);
        }
      }
    }
    expect(fates.get('lost')).toBeGreaterThan(SEEDS_PER_MODE_TEST / 2);
    expect(fates.get('kept')).toBeGreaterThan(SEEDS_PER_MODE_TEST / 2);
    expect(fates.get('torn')).toBeGreaterThan(SEEDS_PER_MODE_TEST / 2);
    expect(tornSides).toEqual(new Set(['prefix', 'suffix']));
  });

  it('never tears a write that lies inside one sector', async () => {
    const file = new CrashStorageFile();
    await file.write(SECTOR_BYTES + 10, patternBytes(SECTOR_BYTES - 20));
    for (let seed = 0; seed < 50; seed++) {
      expect(file.crashImage(1, seed).outcomes[0]!.fate).not.toBe('torn');
    }
  });

  it('applies unsynced writes in random orders, so an older write may land over a newer one', async () => {
    const file = new CrashStorageFile();
    await file.write(0, page(1));
    await file.write(0, page(2));
    await file.write(0, page(3));
    const survivors = new Set<string>();
    let reordered = 0;
    for (let seed = 0; seed < SEEDS_PER_MODE_TEST; seed++) {
      const image = file.crashImage(3, seed);
      if (image.reordered) reordered++;
      const lastWhole = image.outcomes.filter((outcome) => outcome.fate === 'kept').at(-1);
      if (lastWhole !== undefined && image.outcomes.at(-1) === lastWhole) survivors.add(`write ${lastWhole.event}`);
    }
    expect(reordered).toBeGreaterThan(SEEDS_PER_MODE_TEST / 2);
    expect(reordered).toBeLessThan(SEEDS_PER_MODE_TEST);
    expect(survivors).toEqual(new Set(['write 1', 'write 2', 'write 3']));
  });

  it('loses or keeps an unsynced truncate', async () => {
    const file = new CrashStorageFile();
    await file.write(0, page(1));
    await file.sync();
    await file.truncate(100);
    const sizes = new Set<number>();
    for (let seed = 0; seed < 50; seed++) sizes.add(file.crashImage(3, seed).bytes.length);
    expect(sizes).toEqual(new Set([100, PAGE_BYTES]));
  });

  it('leaves in every image only bytes that the durable state or some unsynced write put there (random workloads)', async () => {
    for (let workload = 0; workload < PROPERTY_WORKLOADS; workload++) {
      const { file, liveBefore } = await randomWorkload(new SeededRandom(workload));
      for (let afterEvent = 0; afterEvent <= file.eventCount; afterEvent++) {
        for (let seed = 0; seed < PROPERTY_SEEDS_PER_POINT; seed++) {
          const problem = impossibleByte({ file, afterEvent, liveBefore }, file.crashImage(afterEvent, seed).bytes);
          expect(problem, `workload ${workload}, crash after event ${afterEvent}, seed ${seed}`).toBeUndefined();
        }
      }
    }
  });
});

/** `count` pages written and synced as zeros, then overwritten with data and not synced. */
async function fileWithUnsyncedPages(count: number): Promise<CrashStorageFile> {
  const file = new CrashStorageFile();
  await file.truncate(count * PAGE_BYTES);
  await file.sync();
  for (let index = 0; index < count; index++) await file.write(index * PAGE_BYTES, page(index + 1));
  return file;
}

/**
 * Random writes (some straddling sectors, some overlapping earlier ones) and syncs, each awaited;
 * returns the file and its live bytes before each event, for the checker.
 */
async function randomWorkload(random: SeededRandom): Promise<{ file: CrashStorageFile; liveBefore: Uint8Array[] }> {
  const file = new CrashStorageFile();
  const liveBefore: Uint8Array[] = [];
  for (let step = 0; step < PROPERTY_STEPS; step++) {
    liveBefore.push(file.liveImage());
    if (random.integerBelow(5) === 0) {
      await file.sync();
      continue;
    }
    const length = 1 + random.integerBelow(3 * SECTOR_BYTES);
    const offset = random.integerBelow(PROPERTY_FILE_BYTES - length);
    await file.write(offset, patternBytes(length, step + 1));
  }
  return { file, liveBefore };
}

/**
 * Where an image holds a byte no crash could leave, or `undefined`. A byte past the durable size
 * may be zero (a hole) or come from an unsynced write; a byte inside it is the durable byte or comes
 * from an unsynced write that covers it. Each of these workloads awaits every call, so the durable
 * state after event k is the live state before the first unsynced event.
 */
function impossibleByte(
  { file, afterEvent, liveBefore }: { file: CrashStorageFile; afterEvent: number; liveBefore: Uint8Array[] },
  image: Uint8Array,
): string | undefined {
  const unsynced = file.events
    .slice(0, afterEvent)
    .filter((event) => event.kind === 'write' && (event.durableAt === undefined || event.durableAt > afterEvent));
  const firstUnsynced = unsynced[0]?.index ?? afterEvent + 1;
  const durable = firstUnsynced - 1 < liveBefore.length ? liveBefore[firstUnsynced - 1]! : file.liveImage();
  expect(bytesDifference(file.durableImage(afterEvent), durable)).toBeUndefined();
  for (let position = 0; position < image.length; position++) {
    const byte = image[position]!;
    if (byte === (position < durable.length ? durable[position]! : 0)) continue;
    const written = unsynced.some(
      (event) => event.kind === 'write' && position >= event.offset && position < event.offset + event.data.length && event.data[position - event.offset] === byte,
    );
    if (!written) return `byte ${position} is ${byte}: neither the durable byte nor one an unsynced write put there`;
  }
  return undefined;
}

function hashOf(bytes: Uint8Array): string {
  let hash = 2166136261;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 16777619) >>> 0;
  return `${bytes.length}:${hash}`;
}
