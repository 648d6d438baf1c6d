import type { PageReference } from './node.ts';
import type { PageStore } from './page-store.ts';
import { findLeaf } from './tree-read.ts';

/**
 * Reads into the cache the leaves that `keys` lead to in the tree at `root`, up to
 * `concurrency` reads in flight. Applying a batch walks the tree one key at a time and would wait
 * for each missing page in turn; warming the cache first lets the medium serve the reads in
 * parallel. At most half the cache is prefetched, so the prefetch does not evict its own pages.
 * It only reads: a failure is the same as the failure applying the batch would meet.
 */
export async function prefetchLeaves(
  pages: PageStore,
  root: PageReference | undefined,
  keys: readonly Uint8Array[],
  options: { concurrency: number; cachePages: number },
): Promise<void> {
  if (root === undefined || keys.length < 2) return;
  const wanted = keys.slice(0, Math.floor(options.cachePages / 2));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < wanted.length) await findLeaf(pages, root, wanted[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, wanted.length) }, worker));
}
