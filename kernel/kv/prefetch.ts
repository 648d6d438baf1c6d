import type { PageReference } from './node.ts';
import type { PageStore } from './page-store.ts';
import { findLeaf } from './tree-read.ts';

/**
 * Reads into the cache the leaves that `keys` lead to in the committed tree at `root`, with up to
 * `concurrency` reads in flight. Applying a batch walks the tree one key at a time and would wait
 * for each missing page in turn; warming the cache first lets the medium serve the reads in
 * parallel. The caller keeps `keys` to a fraction of the cache, so the prefetch does not evict its
 * own pages. It only reads: a failure is the failure applying the batch would meet.
 */
export async function prefetchLeaves(
  pages: PageStore,
  root: PageReference | undefined,
  keys: readonly Uint8Array[],
  concurrency: number,
): Promise<void> {
  if (root === undefined || keys.length < 2) return;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keys.length) await findLeaf(pages, root, keys[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
}
