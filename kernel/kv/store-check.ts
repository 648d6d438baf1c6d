import { assert } from '../assert.ts';
import { compareBytes } from '../contracts/bytes.ts';
import type { StorageFile } from '../contracts/storage-file.ts';
import { FIRST_DATA_PAGE_ID, PAGE_PAYLOAD_BYTES, TREE_DEPTH_MAX } from './constants.ts';
import { computeBranchPayloadBytes, computeLeafPayloadBytes, type PageReference } from './node.ts';
import { overflowPageCount } from './overflow.ts';
import { PageStore } from './page-store.ts';
import { readCheckedFreelist, recoverState } from './recovery.ts';

/** What `checkStoreFile` found: the shape of the tree and where every page went. */
export interface StoreCheckReport {
  txn: number;
  lastVersion: number;
  entryCount: number;
  depth: number;
  treePages: number;
  overflowPages: number;
  freePages: number;
  freelistPages: number;
  pageCount: number;
}

/**
 * Reads a whole store image and checks every invariant the engine keeps: keys sorted within and
 * across pages, separators bounding their children, every leaf at one depth, every node within its
 * page, and every page id below the page count used exactly once (by the tree, an overflow run,
 * the freelist chain, or as a free page). For tests and offline checks: it reads everything.
 * Opening recovers (and may sync) like `openKvStore`, so pass a copy of an image, not a live file.
 */
export async function checkStoreFile(file: StorageFile): Promise<StoreCheckReport> {
  const pages = new PageStore(file, 1024);
  const state = await recoverState(pages);
  const freelist = state.freelist ?? (await readCheckedFreelist(pages, state.meta));
  const owners = new Map<number, string>();
  const claim = (pageId: number, owner: string): void => {
    assert(pageId >= FIRST_DATA_PAGE_ID && pageId < state.meta.pageCount, `${owner} uses page ${pageId} outside the store`);
    const previous = owners.get(pageId);
    assert(previous === undefined, `page ${pageId} is used by ${owner} and by ${previous}`);
    owners.set(pageId, owner);
  };
  const report: StoreCheckReport = {
    txn: state.meta.txn,
    lastVersion: state.meta.lastVersion,
    entryCount: 0,
    depth: 0,
    treePages: 0,
    overflowPages: 0,
    freePages: freelist.entries.length,
    freelistPages: freelist.pageIds.length,
    pageCount: state.meta.pageCount,
  };
  const leafDepths = new Set<number>();
  const walk = async (reference: PageReference, low: Uint8Array | undefined, high: Uint8Array | undefined, depth: number) => {
    assert(depth < TREE_DEPTH_MAX, 'the tree is deeper than TREE_DEPTH_MAX');
    claim(reference.pageId, 'a tree node');
    report.treePages++;
    const node = await pages.readNode(reference);
    assert(node.payloadBytes <= PAGE_PAYLOAD_BYTES, `node ${node.pageId} overflows its page`);
    const claimRun = (run: { pageId: number; lengthBytes: number } | undefined, owner: string) => {
      if (run === undefined) return;
      for (let index = 0; index < overflowPageCount(run.lengthBytes); index++) claim(run.pageId + index, owner);
      report.overflowPages += overflowPageCount(run.lengthBytes);
    };
    node.keyOverflows.forEach((run) => claimRun(run, 'an overflow key'));
    for (let index = 0; index < node.keys.length; index++) {
      const key = node.keys[index]!;
      if (index > 0) assert(compareBytes(node.keys[index - 1]!, key) < 0, `keys of page ${node.pageId} are out of order`);
      assert(low === undefined || compareBytes(low, key) <= 0, `page ${node.pageId} holds a key below its range`);
      assert(high === undefined || compareBytes(key, high) < 0, `page ${node.pageId} holds a key above its range`);
    }
    if (node.kind === 'leaf') {
      assert(node.payloadBytes === computeLeafPayloadBytes(node), `leaf ${node.pageId} size accounting is off`);
      node.values.forEach((value) => claimRun(value instanceof Uint8Array ? undefined : value, 'an overflow value'));
      report.entryCount += node.keys.length;
      leafDepths.add(depth);
      report.depth = Math.max(report.depth, depth + 1);
      return;
    }
    assert(node.payloadBytes === computeBranchPayloadBytes(node), `branch ${node.pageId} size accounting is off`);
    for (let index = 0; index < node.children.length; index++) {
      await walk(node.children[index]!, index === 0 ? low : node.keys[index - 1], index === node.keys.length ? high : node.keys[index], depth + 1);
    }
  };
  if (state.meta.root !== undefined) await walk(state.meta.root, undefined, undefined, 0);
  assert(leafDepths.size <= 1, `leaves at several depths: ${[...leafDepths].join(', ')}`);
  for (const pageId of freelist.pageIds) claim(pageId, 'the freelist chain');
  for (const entry of freelist.entries) claim(entry.pageId, 'the freelist');
  assert(
    owners.size === state.meta.pageCount - FIRST_DATA_PAGE_ID,
    `${state.meta.pageCount - FIRST_DATA_PAGE_ID - owners.size} pages are neither used nor free (leaked)`,
  );
  return report;
}
