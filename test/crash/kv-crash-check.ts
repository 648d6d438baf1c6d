import type { MetastoreEntry } from '../../kernel/contracts/metastore.ts';
import type { StorageFile } from '../../kernel/contracts/storage-file.ts';
import type { KvStore } from '../../kernel/kv/index.ts';
import { MemoryStorageFile } from '../../drivers/memory/storage-file.ts';
import { toHex, utf8 } from '../conformance/test-bytes.ts';
import { type CrashImage, CrashStorageFile } from './crash-storage-file.ts';
import type { CommittedRecord, WorkloadTrace } from './kv-workload.ts';

/**
 * What a store recovered from a crash image must be: exactly the state after some prefix of the
 * successful commits (in call order, which is version order). That one rule says all of it:
 * - every commit acknowledged as durable before the crash (and every commit before it, which that
 *   acknowledgement made durable too) is in the prefix, so each of its keys has its value and
 *   version or a later commit's;
 * - a commit is in the prefix whole or not at all, so nothing of it is half-visible;
 * - relaxed commits can only be missing as a suffix;
 * - and no commit called after the crash point is there.
 * The store must also be usable: a new commit succeeds with a larger version and is read back.
 */

/** The most keys whose difference a failure message lists. */
const DIFFERENCES_SHOWN_MAX = 8;
/** A key neither family of the workload uses, for the commit that checks the store is usable. */
const PROBE_PREFIX = utf8('crash/');
const PROBE_KEY = utf8('crash/probe');
const PROBE_KEY_HEX = toHex(PROBE_KEY);
const PROBE_VALUE = utf8('written after recovery');
/** Pages the one scan of a recovered store may take before it is called endless. */
const SCAN_PAGES_MAX = 100;

/** The states after each prefix of the commits, kept as fingerprints, and rebuilt for diagnostics. */
export class PrefixStates {
  readonly #commits: readonly CommittedRecord[];
  readonly #fingerprints: string[] = [];

  constructor(commits: readonly CommittedRecord[]) {
    this.#commits = commits;
    const state = new Map<string, MetastoreEntry>();
    this.#fingerprints.push(fingerprintOf([]));
    for (const commit of commits) {
      applyCommit(state, commit);
      this.#fingerprints.push(fingerprintOf(sortedEntries(state)));
    }
  }

  get commitCount(): number {
    return this.#commits.length;
  }

  /** The prefixes in `[low, high]` whose state has this fingerprint. */
  matching(fingerprint: string, low = 0, high = this.commitCount): number[] {
    const matches: number[] = [];
    for (let prefix = low; prefix <= high; prefix++) if (this.#fingerprints[prefix] === fingerprint) matches.push(prefix);
    return matches;
  }

  /** The state after `prefix` commits, in key order. */
  entries(prefix: number): MetastoreEntry[] {
    const state = new Map<string, MetastoreEntry>();
    for (const commit of this.#commits.slice(0, prefix)) applyCommit(state, commit);
    return sortedEntries(state);
  }

  version(prefix: number): number {
    return prefix === 0 ? 0 : this.#commits[prefix - 1]!.version;
  }
}

export interface CrashPointCheck {
  image: CrashImage;
  trace: WorkloadTrace;
  prefixes: PrefixStates;
  /** Opens the engine on a file holding the crash image. */
  open: (file: StorageFile) => Promise<KvStore>;
  /**
   * Also crash the recovered store, at every event of its recovery and of the first commit after
   * it, and check what a second reopening finds; `seed` chooses those images.
   */
  secondCrash?: { seed: number } | undefined;
}

/** Reopens the store on the crash image and checks it; returns what is wrong, or `undefined`. */
export async function checkCrashPoint(check: CrashPointCheck): Promise<string | undefined> {
  const { image, prefixes } = check;
  const { required, issued } = prefixBounds(check.trace, image.afterEvent);
  // The image is what the medium holds now: all of it is durable, as the crash file's start. A
  // plain memory file does when no second crash is asked for: it costs less.
  const file = check.secondCrash === undefined ? new MemoryStorageFile(image.bytes) : new CrashStorageFile(image.bytes);
  let store: KvStore;
  try {
    store = await check.open(file);
  } catch (error) {
    return `reopening failed: ${describeError(error)}`;
  }
  let recovered: RecoveredStore;
  try {
    const entries = await scanEverything(store);
    const fingerprint = fingerprintOf(entries);
    const [prefix] = prefixes.matching(fingerprint, required, Math.max(required, issued));
    if (prefix === undefined) return diagnose(prefixes, entries, { required, issued });
    const probe = await checkUsable(store, prefixes.version(prefix));
    if (typeof probe === 'string') return probe;
    recovered = { fingerprint, probeVersion: probe, probeAckEvent: file instanceof CrashStorageFile ? file.eventCount : 0 };
  } catch (error) {
    return `the recovered store failed: ${describeError(error)}`;
  } finally {
    await store.close().catch(() => {});
  }
  if (check.secondCrash === undefined || !(file instanceof CrashStorageFile)) return undefined;
  return checkSecondCrash(file, { recovered, open: check.open, seed: check.secondCrash.seed });
}

/** What the first reopening found and did: its state, and the probe commit it acknowledged. */
interface RecoveredStore {
  fingerprint: string;
  probeVersion: number;
  probeAckEvent: number;
}

/** What a second crash is checked against, and how. */
interface SecondCrash {
  recovered: RecoveredStore;
  open: (file: StorageFile) => Promise<KvStore>;
  /** Seeds the images: `seed + event`. */
  seed: number;
}

/**
 * A crash while the engine recovers, or while it makes its first commit after that, must lose
 * nothing the first reopening found, and keep the probe commit once it was acknowledged.
 */
async function checkSecondCrash(file: CrashStorageFile, second: SecondCrash): Promise<string | undefined> {
  const { probeAckEvent } = second.recovered;
  for (let afterEvent = 0; afterEvent <= probeAckEvent; afterEvent++) {
    const image = file.crashImage(afterEvent, second.seed + afterEvent);
    const problem = await checkAfterSecondCrash(image, second);
    if (problem !== undefined) {
      return `after a second crash, ${afterEvent} of ${probeAckEvent} events into the first reopening (image seed ${image.seed}): ${problem}`;
    }
  }
  return undefined;
}

async function checkAfterSecondCrash(image: CrashImage, second: SecondCrash): Promise<string | undefined> {
  const { recovered } = second;
  let store: KvStore;
  try {
    store = await second.open(new MemoryStorageFile(image.bytes));
  } catch (error) {
    return `reopening failed: ${describeError(error)}`;
  }
  try {
    const entries = await scanEverything(store);
    const probe = entries.find((entry) => toHex(entry.key) === PROBE_KEY_HEX);
    const others = entries.filter((entry) => entry !== probe);
    if (fingerprintOf(others) !== recovered.fingerprint) return 'the state the first reopening recovered changed';
    if (probe === undefined && image.afterEvent >= recovered.probeAckEvent) return 'the acknowledged commit after recovery was lost';
    if (probe !== undefined && probe.version !== recovered.probeVersion) {
      return `the commit after recovery came back at version ${probe.version}, not ${recovered.probeVersion}`;
    }
    return undefined;
  } catch (error) {
    return `the store failed: ${describeError(error)}`;
  } finally {
    await store.close().catch(() => {});
  }
}

/**
 * `required`: the prefix every acknowledgement up to the crash made durable. `issued`: how many
 * commits had been called by then; a commit called later wrote nothing the image can hold.
 */
interface PrefixBounds {
  required: number;
  issued: number;
}

function prefixBounds(trace: WorkloadTrace, afterEvent: number): PrefixBounds {
  let required = 0;
  for (const acknowledged of trace.acknowledgements) {
    if (acknowledged.ackEvent <= afterEvent) required = Math.max(required, acknowledged.durablePrefix);
  }
  const issued = trace.commits.filter((commit) => commit.issueEvent < afterEvent).length;
  return { required, issued };
}

/** Commits the probe durably and reads it back; returns its version, or what went wrong. */
async function checkUsable(store: KvStore, lastVersion: number): Promise<number | string> {
  const version = await store.commit([{ type: 'put', key: PROBE_KEY, value: PROBE_VALUE }], [{ key: PROBE_KEY, version: null }], {
    durability: 'durable',
  });
  if (!(version > lastVersion)) return `a commit after recovery got version ${version}, not above ${lastVersion}`;
  const probe = await store.get(PROBE_KEY);
  if (probe?.version !== version || toHex(probe.value) !== toHex(PROBE_VALUE)) return 'a commit after recovery did not read back';
  // The full scan already ran; a scan over the probe's own prefix shows the tree took the insert.
  const probed = await store.scan({ prefix: PROBE_PREFIX });
  if (probed.entries.length !== 1) return `after recovery a put left ${probed.entries.length} entries under its prefix, not 1`;
  return version;
}

/** Why the recovered entries match no allowed prefix: a lost durable commit, or no prefix at all. */
function diagnose(prefixes: PrefixStates, recovered: readonly MetastoreEntry[], bounds: PrefixBounds): string {
  const anywhere = prefixes.matching(fingerprintOf(recovered));
  const { required, issued } = bounds;
  const described = `(durable acknowledgements require at least ${required} of ${prefixes.commitCount} commits; ${issued} were called)`;
  if (anywhere.length > 0) return `recovered the state after ${anywhere[0]} commits ${described}`;
  const expected = describeEntries(prefixes.entries(required));
  return (
    `recovered a state that no prefix of the commits leaves ${described}; against the state after ${required}: ` +
    differences(describeEntries(recovered), expected)
  );
}

function differences(actual: Map<string, string>, expected: Map<string, string>): string {
  const lines: string[] = [];
  for (const key of new Set([...actual.keys(), ...expected.keys()])) {
    if (actual.get(key) === expected.get(key)) continue;
    lines.push(`${key}: ${actual.get(key) ?? 'absent'}, expected ${expected.get(key) ?? 'absent'}`);
    if (lines.length === DIFFERENCES_SHOWN_MAX) break;
  }
  return lines.join('; ');
}

async function scanEverything(store: KvStore): Promise<MetastoreEntry[]> {
  const entries: MetastoreEntry[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < SCAN_PAGES_MAX; page++) {
    const result = await store.scan(cursor === undefined ? {} : { cursor });
    entries.push(...result.entries);
    if (result.cursor === undefined) return entries;
    cursor = result.cursor;
  }
  throw new Error(`the scan did not end after ${SCAN_PAGES_MAX} pages`);
}

function applyCommit(state: Map<string, MetastoreEntry>, commit: CommittedRecord): void {
  for (const operation of commit.operations) {
    if (operation.type === 'put') state.set(toHex(operation.key), { key: operation.key, value: operation.value, version: commit.version });
    else state.delete(toHex(operation.key));
  }
}

/** Lowercase hex of equal-width digits sorts exactly like the bytes it spells. */
function sortedEntries(state: Map<string, MetastoreEntry>): MetastoreEntry[] {
  return [...state.keys()].sort().map((key) => state.get(key)!);
}

/** Entries described for a failure message, keyed by hex key. */
function describeEntries(entries: readonly MetastoreEntry[]): Map<string, string> {
  return new Map(
    entries.map((entry) => [toHex(entry.key), `${entry.value.length} bytes #${hashBytes(entry.value).toString(16)} @${entry.version}`]),
  );
}

const FNV_BASIS = 0x811c9dc5;
const FNV_PRIME = 16777619;
const POLYNOMIAL_MULTIPLIER = 31;

/**
 * Entries in scan order hashed two ways at once (FNV-1a and a polynomial hash over keys, values,
 * lengths and versions), so two different states never meet by chance. Straight from the bytes,
 * one pass, no closures: this runs at every crash point over every entry.
 */
function fingerprintOf(entries: readonly MetastoreEntry[]): string {
  let first = FNV_BASIS;
  let second = 0;
  for (const { key, value, version } of entries) {
    for (const part of [key, value]) {
      first = Math.imul(first ^ part.length, FNV_PRIME);
      second = (Math.imul(second, POLYNOMIAL_MULTIPLIER) + part.length) | 0;
      for (let index = 0; index < part.length; index++) {
        const byte = part[index]!;
        first = Math.imul(first ^ byte, FNV_PRIME);
        second = (Math.imul(second, POLYNOMIAL_MULTIPLIER) + byte) | 0;
      }
    }
    first = Math.imul(first ^ version, FNV_PRIME);
    second = (Math.imul(second, POLYNOMIAL_MULTIPLIER) + version) | 0;
  }
  return `${entries.length}:${(first >>> 0).toString(16)}:${(second >>> 0).toString(16)}`;
}

/** FNV-1a over one value, for failure messages. */
function hashBytes(bytes: Uint8Array): number {
  let hash = FNV_BASIS;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, FNV_PRIME) >>> 0;
  return hash;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
}
