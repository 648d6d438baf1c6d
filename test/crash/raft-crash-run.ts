import { MemoryStorageFile } from '../../drivers/memory/storage-file.ts';
import { openKvStore, type KvStore } from '../../kernel/kv/index.ts';
import { KvRaftStorage } from '../../kernel/raft/index.ts';
import { utf8 } from '../conformance/test-bytes.ts';
import { type CrashImage, CrashStorageFile } from './crash-storage-file.ts';
import { CrashTally } from './kv-crash-run.ts';
import { fingerprintOf, runRaftWorkload, type RaftWorkload, type RaftWorkloadTrace } from './raft-workload.ts';

/**
 * One raft storage workload through every crash point: run it once on KvRaftStorage over a KV
 * store on a CrashStorageFile, then build the image of a crash after each event, reopen store and
 * storage on it, and check what they answer:
 * - exactly the state after some prefix of the writes (so nothing is half-applied: no torn log, no
 *   entries without the hard state written with them, no snapshot without its compaction);
 * - a prefix that includes every write acknowledged as durable before the crash (and so every
 *   write before it), and no write issued after the crash;
 * - a storage that still works: a durable persist after recovery is there after another reopening.
 * The state after each prefix comes from a MemoryRaftStorage model that took the same writes.
 */

export { CrashTally };

const KEY_PREFIX = utf8('zone/1/raft/');
const CACHE_PAGES = 32;

/** The first crash point whose recovery is wrong, as an error message; `undefined` when all pass. */
export async function crashRaftEveryPoint(
  workload: RaftWorkload,
  options: { onlyAfterEvent?: number | undefined; tally?: CrashTally } = {},
): Promise<string | undefined> {
  const file = new CrashStorageFile();
  const store = await openKvStore(file, { cachePages: CACHE_PAGES });
  const storage = await KvRaftStorage.open(store, { keyPrefix: KEY_PREFIX });
  const trace = await runRaftWorkload(storage, workload, file);
  await storage.close();
  const lastEvent = file.eventCount;
  await store.close();
  for (let afterEvent = 0; afterEvent <= lastEvent; afterEvent++) {
    if (options.onlyAfterEvent !== undefined && afterEvent !== options.onlyAfterEvent) continue;
    const image = file.crashImage(afterEvent, imageSeed(workload.imageSeed, afterEvent));
    const problem = await checkRaftCrashPoint(image, trace);
    if (problem !== undefined) return describeFailure(image, lastEvent, trace, problem);
    options.tally?.count(image);
  }
  return undefined;
}

async function checkRaftCrashPoint(image: CrashImage, trace: RaftWorkloadTrace): Promise<string | undefined> {
  const { required, issued } = prefixBounds(trace, image.afterEvent);
  const file = new MemoryStorageFile(image.bytes);
  let store: KvStore | undefined;
  try {
    store = await openKvStore(file, { cachePages: CACHE_PAGES });
    const storage = await KvRaftStorage.open(store, { keyPrefix: KEY_PREFIX });
    const fingerprint = fingerprintOf(storage);
    const prefix = matchingPrefix(trace, fingerprint, required, Math.max(required, issued));
    if (prefix === undefined) {
      return `recovered a state that is no prefix of writes ${required} to ${issued}: ${fingerprint}; expected at least ${fingerprintAt(trace, required)}`;
    }
    return await checkUsable(storage, store, file);
  } catch (error) {
    return `recovery failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
  } finally {
    await store?.close().catch(() => {});
  }
}

/** A durable entry after recovery, then a clean reopening: it must be there and the rest unchanged. */
async function checkUsable(storage: KvRaftStorage, store: KvStore, file: MemoryStorageFile): Promise<string | undefined> {
  const { hardState } = storage.initialState();
  const index = storage.lastIndex() + 1;
  const term = Math.max(1, hardState.term);
  await storage.persist({
    hardState: { ...hardState, term },
    entries: [{ index, term, type: 'normal', data: utf8('after recovery') }],
    snapshot: undefined,
    mustSync: true,
  });
  const expected = fingerprintOf(storage);
  await storage.close();
  await store.close();
  const reopenedStore = await openKvStore(new MemoryStorageFile(file.image()), { cachePages: CACHE_PAGES });
  try {
    const reopened = await KvRaftStorage.open(reopenedStore, { keyPrefix: KEY_PREFIX });
    if (fingerprintOf(reopened) !== expected) return `a durable persist after recovery did not survive a reopening: ${fingerprintOf(reopened)}`;
    return undefined;
  } finally {
    await reopenedStore.close();
  }
}

/**
 * `required`: the writes every durable acknowledgement up to the crash made durable (a durable
 * commit makes every earlier commit durable). `issued`: how many writes had been called by then.
 */
function prefixBounds(trace: RaftWorkloadTrace, afterEvent: number): { required: number; issued: number } {
  let required = 0;
  trace.writes.forEach((write, position) => {
    if (write.durable && write.ackEvent !== undefined && write.ackEvent <= afterEvent) required = Math.max(required, position + 1);
  });
  const issued = trace.writes.filter((write) => write.issueEvent < afterEvent).length;
  return { required, issued };
}

function fingerprintAt(trace: RaftWorkloadTrace, prefix: number): string {
  return prefix === 0 ? trace.initialFingerprint : trace.writes[prefix - 1]!.fingerprint;
}

function matchingPrefix(trace: RaftWorkloadTrace, fingerprint: string, low: number, high: number): number | undefined {
  for (let prefix = high; prefix >= low; prefix--) if (fingerprintAt(trace, prefix) === fingerprint) return prefix;
  return undefined;
}

function describeFailure(image: CrashImage, lastEvent: number, trace: RaftWorkloadTrace, problem: string): string {
  const fates = image.outcomes.map((outcome) => `${outcome.event}:${outcome.fate}`).join(' ');
  const writes = trace.writes.map((write, position) => `  ${position + 1}. ${write.description} (events ${write.issueEvent}..${write.ackEvent})`).join('\n');
  return (
    `crash after event ${image.afterEvent} of ${lastEvent} (image seed ${image.seed}; unsynced events ${fates || 'none'}` +
    `${image.reordered ? ', reordered' : ''}): ${problem}\nwrites:\n${writes}\nReplay this point alone: ` +
    `RAFT_CRASH_SEED=<seed> RAFT_CRASH_PATH=<path> (as fast-check prints them) RAFT_CRASH_AFTER_EVENT=${image.afterEvent} ` +
    'npx vitest run --project node test/crash/raft-crash.test.ts'
  );
}

/** One seed per crash point of a workload, so each point replays alone. */
function imageSeed(workloadSeed: number, afterEvent: number): number {
  return (Math.imul(workloadSeed ^ 0x2545f491, 31) + afterEvent * 0x85ebca6b) >>> 0;
}
