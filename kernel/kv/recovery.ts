import { CorruptionError } from '../errors.ts';
import { FIRST_DATA_PAGE_ID, META_SLOT_COUNT, PAGE_BYTES, TREE_DEPTH_MAX, TXN_GAP_AFTER_CRASH } from './constants.ts';
import type { FreePage } from './freelist.ts';
import { type Meta, decodeMeta, encodeMeta } from './meta.ts';
import type { PageReference } from './node.ts';
import { overflowPageCount } from './overflow.ts';
import type { PageStore } from './page-store.ts';

/**
 * Choosing the committed state when a store opens.
 *
 * A commit writes its pages, then its meta page into the slot that does not hold the last durable
 * state, then syncs once. A crash before that sync may leave any subset of those writes, torn or
 * whole, so a meta page with a valid checksum proves nothing about the pages it points at. Recovery
 * therefore takes the newest valid meta and verifies the pages that may not have been synced: those
 * written by a txn after the last state known durable (the older slot, or the durable txn the meta
 * recorded, whichever is older). COW means a page older than that threshold was synced before the
 * meta was written and never overwritten since, so a subtree whose root is older is skipped whole:
 * opening reads only the meta slots and the pages of the last unsynced commits.
 *
 * If the newest state fails, the other slot holds the last durable state, whose pages were synced.
 */

/** The committed state a store starts from. */
export interface RecoveredState {
  meta: Meta;
  slot: number;
  /**
   * The freelist, when recovery had to read it (its pages were not known to be synced). Otherwise
   * undefined: opening does not read it, the first write transaction does (`readCheckedFreelist`).
   */
  freelist: LoadedFreelist | undefined;
  /**
   * The highest txn and version any valid meta slot names, the rejected one included. The next
   * commit must number itself above both: reusing a rejected state's txn would let that stale meta
   * pass verification against the new commit's pages after a second crash, and reusing its versions
   * would let an `ifMatch` taken from a lost relaxed commit match a different one.
   */
  txnFloor: number;
  versionFloor: number;
}

export interface LoadedFreelist {
  entries: FreePage[];
  /** The pages of the chain itself, newest first. */
  pageIds: number[];
  /** How many of those (the last ones) are base pages; the rest are delta pages. */
  basePageCount: number;
}

/** The state of a store that has never committed. */
export function emptyMeta(): Meta {
  return {
    txn: 0,
    lastVersion: 0,
    root: undefined,
    freelist: undefined,
    freelistEntryCount: 0,
    inlineFreePages: [],
    pageCount: META_SLOT_COUNT,
    durableTxnAtWrite: 0,
  };
}

export async function recoverState(pages: PageStore): Promise<RecoveredState> {
  const sizeBytes = await pages.file.size();
  const slots = await readMetaSlots(pages);
  const valid: { slot: number; meta: Meta }[] = [];
  for (const { slot, meta } of slots) if (meta !== undefined) valid.push({ slot, meta });
  if (valid.length === 0) {
    // Creating a store writes slot 0 and syncs; a crash during that leaves at most the two slots.
    if (sizeBytes <= META_SLOT_COUNT * PAGE_BYTES) return createStore(pages);
    const reasons = slots.map((slot) => `slot ${slot.slot}: ${slot.problem}`).join('; ');
    throw new CorruptionError(`cannot open the KV store: neither meta slot holds a valid meta page (${reasons})`);
  }
  // Newest first; of two copies of one state (a clean close), the one that records it synced.
  valid.sort((a, b) => b.meta.txn - a.meta.txn || b.meta.durableTxnAtWrite - a.meta.durableTxnAtWrite);
  const txnFloor = Math.max(...valid.map((slot) => slot.meta.txn)) + (closedCleanly(slots) ? 0 : TXN_GAP_AFTER_CRASH);
  const versionFloor = Math.max(...valid.map((slot) => slot.meta.lastVersion));
  const failures: string[] = [];
  for (const candidate of valid) {
    const other = valid.find((slot) => slot !== candidate && slot.meta.txn < candidate.meta.txn);
    const trustedThroughTxn = Math.min(candidate.meta.durableTxnAtWrite, other?.meta.txn ?? Number.POSITIVE_INFINITY);
    try {
      await verifyTree(pages, candidate.meta, candidate.meta.root, trustedThroughTxn, 0);
      // An inline freelist costs no read; a chain of synced pages is left for the first write.
      const freelistTrusted = candidate.meta.freelist !== undefined && candidate.meta.freelist.txn <= trustedThroughTxn;
      const freelist = freelistTrusted ? undefined : await readCheckedFreelist(pages, candidate.meta);
      await overwriteAbandonedSlots(pages, slots, candidate);
      // What recovery chose may not have been synced (a relaxed commit the OS kept): sync it now,
      // since the next commit overwrites the other slot.
      await pages.file.sync();
      return { meta: candidate.meta, slot: candidate.slot, freelist, txnFloor, versionFloor };
    } catch (error) {
      if (!(error instanceof CorruptionError)) throw error;
      failures.push(`slot ${candidate.slot} (txn ${candidate.meta.txn}): ${error.message}`);
      // Nodes of a rejected state must not be served from the cache.
      pages.cache.clear();
    }
  }
  throw new CorruptionError(`cannot open the KV store: no meta slot leads to an intact state (${failures.join('; ')})`);
}

/**
 * Whether the store was closed cleanly: a clean close leaves the same durable meta in both slots.
 * Anything else may have left pages of lost commits on the disk, stamped with txn numbers no valid
 * meta names (a torn meta page tells nothing), so numbering continues past TXN_GAP_AFTER_CRASH.
 */
function closedCleanly(slots: readonly { meta: Meta | undefined }[]): boolean {
  const [first, second] = slots.map((slot) => slot.meta);
  return first !== undefined && second !== undefined && first.txn === second.txn && first.durableTxnAtWrite === first.txn && second.durableTxnAtWrite === second.txn;
}

/**
 * A state recovery did not choose must never come back. A slot whose meta page is torn, or whose
 * newer state was rejected, could be completed by a later torn write: most of a page is zeros, so
 * the next commit's write of the same page torn the other way can supply exactly the missing half,
 * and a crash then would resurrect a state readers were already told does not exist. Such slots get
 * a copy of the chosen meta before the recovery sync; an older valid slot stays as the fallback.
 */
async function overwriteAbandonedSlots(
  pages: PageStore,
  slots: readonly { slot: number; meta: Meta | undefined }[],
  chosen: { slot: number; meta: Meta },
): Promise<void> {
  for (const { slot, meta } of slots) {
    if (slot === chosen.slot || (meta !== undefined && meta.txn <= chosen.meta.txn)) continue;
    await pages.file.write(slot * PAGE_BYTES, encodeMeta(slot, { ...chosen.meta, durableTxnAtWrite: chosen.meta.txn }));
  }
}

async function readMetaSlots(pages: PageStore): Promise<{ slot: number; meta: Meta | undefined; problem: string }[]> {
  const bytes = await pages.file.read(0, META_SLOT_COUNT * PAGE_BYTES);
  const result = [];
  for (let slot = 0; slot < META_SLOT_COUNT; slot++) {
    const page = bytes.slice(slot * PAGE_BYTES, (slot + 1) * PAGE_BYTES);
    try {
      result.push({ slot, meta: decodeMeta(slot, page), problem: '' });
    } catch (error) {
      if (!(error instanceof CorruptionError)) throw error;
      result.push({ slot, meta: undefined, problem: error.message });
    }
  }
  return result;
}

async function createStore(pages: PageStore): Promise<RecoveredState> {
  const meta = emptyMeta();
  await pages.file.write(0, encodeMeta(0, meta));
  await pages.file.sync();
  return { meta, slot: 0, freelist: { entries: [], pageIds: [], basePageCount: 0 }, txnFloor: 0, versionFloor: 0 };
}

/** Reads and checks every page of the state newer than `trustedThroughTxn`. */
async function verifyTree(
  pages: PageStore,
  meta: Meta,
  reference: PageReference | undefined,
  trustedThroughTxn: number,
  depth: number,
): Promise<void> {
  if (reference === undefined) return;
  if (depth >= TREE_DEPTH_MAX) throw new CorruptionError(`the tree is deeper than ${TREE_DEPTH_MAX} levels`);
  assertInside(meta, reference.pageId, 1);
  if (reference.txn <= trustedThroughTxn) return;
  const node = await pages.readNode(reference);
  for (const overflow of node.keyOverflows) {
    if (overflow !== undefined) assertInside(meta, overflow.pageId, overflowPageCount(overflow.lengthBytes));
  }
  if (node.kind === 'leaf') {
    for (const value of node.values) {
      if (value instanceof Uint8Array) continue;
      assertInside(meta, value.pageId, overflowPageCount(value.lengthBytes));
      if (value.txn > trustedThroughTxn) await pages.readOverflow(value);
    }
    return;
  }
  for (const child of node.children) await verifyTree(pages, meta, child, trustedThroughTxn, depth + 1);
}

/** The freelist of `meta`, every page checked, every entry inside the store. */
export async function readCheckedFreelist(pages: PageStore, meta: Meta): Promise<LoadedFreelist> {
  const freelist =
    meta.freelist === undefined ? { entries: meta.inlineFreePages, pageIds: [], basePageCount: 0 } : await pages.readFreelist(meta.freelist, meta.pageCount);
  if (freelist.entries.length !== meta.freelistEntryCount) {
    throw new CorruptionError(`the freelist holds ${freelist.entries.length} entries, the meta page says ${meta.freelistEntryCount}`);
  }
  for (const pageId of freelist.pageIds) assertInside(meta, pageId, 1);
  for (const entry of freelist.entries) assertInside(meta, entry.pageId, 1);
  return freelist;
}

function assertInside(meta: Meta, pageId: number, pageCount: number): void {
  if (pageId < FIRST_DATA_PAGE_ID || pageId + pageCount > meta.pageCount) {
    throw new CorruptionError(`page ${pageId} (${pageCount} pages) lies outside the ${meta.pageCount} pages of txn ${meta.txn}`);
  }
}
