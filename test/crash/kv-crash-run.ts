import type { StorageFile } from '../../kernel/contracts/storage-file.ts';
import { type KvStore, openKvStore } from '../../kernel/kv/index.ts';
import { type CrashFate, type CrashImage, CrashStorageFile } from './crash-storage-file.ts';
import { checkCrashPoint, PrefixStates } from './kv-crash-check.ts';
import { runWorkload, type Workload } from './kv-workload.ts';

/**
 * One workload through every crash point: run it once on a CrashStorageFile, then build the image
 * of a crash after each event and check the store the engine recovers from it.
 */

/** What the crash points of a run exercised: counted, so a test can show it covered every mode. */
export class CrashTally {
  workloads = 0;
  points = 0;
  readonly modes: Record<CrashFate | 'reordered', number> = { lost: 0, kept: 0, torn: 0, reordered: 0 };

  count(image: CrashImage): void {
    this.points++;
    for (const outcome of image.outcomes) this.modes[outcome.fate]++;
    if (image.reordered) this.modes.reordered++;
  }

  describe(): string {
    const { lost, kept, torn, reordered } = this.modes;
    return (
      `${this.points} crash points in ${this.workloads} workloads ` +
      `(unsynced writes lost ${lost}, kept ${kept}, torn ${torn}; ${reordered} images reordered)`
    );
  }
}

export interface CrashRunOptions {
  /** Check only the crash after this event. */
  onlyAfterEvent?: number | undefined;
  /** Stands between the engine and the crash file during the workload (harness self-tests). */
  wrapFile?: (file: StorageFile) => StorageFile;
  /** Opens the engine on a crash image (harness self-tests change what it returns). */
  reopen?: (file: StorageFile, workload: Workload) => Promise<KvStore>;
  tally?: CrashTally;
  /**
   * Every this many crash points, crash the recovered store again at each event of its recovery
   * and of its first commit (a recovery that writes must itself survive a crash). 0: never.
   */
  secondCrashEveryPoints?: number;
}

/** The first crash point whose recovery is wrong, as an error message; `undefined` when all pass. */
export async function crashEveryPoint(workload: Workload, options: CrashRunOptions = {}): Promise<string | undefined> {
  const file = new CrashStorageFile();
  const store = await openKvStore(options.wrapFile?.(file) ?? file, { cachePages: workload.cachePages });
  const trace = await runWorkload(store, workload, file);
  const lastEvent = file.eventCount;
  if (!workload.closeAtEnd) await store.close();
  const prefixes = new PrefixStates(trace.commits);
  const reopen = options.reopen ?? ((storage: StorageFile) => openKvStore(storage, { cachePages: workload.cachePages }));
  const open = (storage: StorageFile): Promise<KvStore> => reopen(storage, workload);
  for (let afterEvent = 0; afterEvent <= lastEvent; afterEvent++) {
    if (options.onlyAfterEvent !== undefined && afterEvent !== options.onlyAfterEvent) continue;
    const image = file.crashImage(afterEvent, imageSeed(workload.imageSeed, afterEvent));
    const every = options.secondCrashEveryPoints ?? 0;
    const secondCrash = every > 0 && afterEvent % every === 0 ? { seed: image.seed } : undefined;
    const problem = await checkCrashPoint({ image, trace, prefixes, open, secondCrash });
    if (problem !== undefined) return describeFailure(image, lastEvent, problem);
    options.tally?.count(image);
  }
  return undefined;
}

function describeFailure(image: CrashImage, lastEvent: number, problem: string): string {
  const fates = image.outcomes.map((outcome) => `${outcome.event}:${outcome.fate}`).join(' ');
  return (
    `crash after event ${image.afterEvent} of ${lastEvent} (image seed ${image.seed}; unsynced events ${fates || 'none'}` +
    `${image.reordered ? ', reordered' : ''}): ${problem}. Replay this point alone: npm run test:crash -- ` +
    `--seed <seed> --path <path> (as fast-check prints them) --after-event ${image.afterEvent}`
  );
}

/** One seed per crash point of a workload, so each point replays alone. */
function imageSeed(workloadSeed: number, afterEvent: number): number {
  return (Math.imul(workloadSeed ^ 0x9e3779b9, 31) + afterEvent * 0x85ebca6b) >>> 0;
}
