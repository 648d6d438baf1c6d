import { describe, expect, it } from 'vitest';
import type { MetastoreEntry } from '../contracts/metastore.ts';
import { resolveMetastoreScan } from '../contracts/metastore-validation.ts';
import { PageStore } from './page-store.ts';
import { type ReadableState, readState, scanState } from './state-read.ts';
import { CountingStorageFile } from './test-storage.ts';
import { WriteBuffer } from './write-buffer.ts';

const key = (byte: number): Uint8Array => Uint8Array.of(byte);
const describeEntries = (entries: readonly (MetastoreEntry | undefined)[]): string[] =>
  entries.map((entry) => (entry === undefined ? '-' : `${entry.key.join('.')}@${entry.version}=${entry.value.join('.')}`));

/**
 * A frozen buffer (versions 1-3, as a checkpoint merging it would hold it) under a live one
 * (versions 4-6) over an empty tree: reads see the newest buffer that has a key.
 */
function twoBuffers(version: number): ReadableState {
  const frozen = new WriteBuffer(0);
  frozen.add(key(1), 1, key(1));
  frozen.add(key(2), 2, key(2));
  frozen.add(key(3), 3, key(3));
  frozen.publish(3);
  const live = new WriteBuffer(3);
  live.add(key(2), 4, null);
  live.add(key(4), 5, key(4));
  live.add(key(1), 6, key(6));
  live.publish(6);
  return { meta: { root: undefined }, buffer: live, frozenBuffers: [frozen], version };
}

describe('reads of a state with a frozen write buffer', () => {
  const pages = new PageStore(new CountingStorageFile(), 64);

  it('answers a key from the newest buffer that has it at the state version, a delete hiding the older one', async () => {
    const latest = twoBuffers(6);
    expect(describeEntries(await Promise.all([1, 2, 3, 4, 5].map((byte) => readState(pages, latest, key(byte)))))).toEqual([
      '1@6=6', '-', '3@3=3', '4@5=4', '-',
    ]);
    // Pinned before the live buffer's commits: the frozen buffer's entries.
    const early = twoBuffers(3);
    expect(describeEntries(await Promise.all([1, 2, 4].map((byte) => readState(pages, early, key(byte)))))).toEqual(['1@1=1', '2@2=2', '-']);
  });

  it('scans both buffers merged in key order, forward and backward, in pages', async () => {
    const state = twoBuffers(6);
    const forward = await scanState(pages, state, resolveMetastoreScan({}));
    expect(describeEntries(forward.entries)).toEqual(['1@6=6', '3@3=3', '4@5=4']);
    const backward = await scanState(pages, state, resolveMetastoreScan({ reverse: true }));
    expect(describeEntries(backward.entries)).toEqual(['4@5=4', '3@3=3', '1@6=6']);
    const first = await scanState(pages, state, resolveMetastoreScan({ limit: 2 }));
    expect(describeEntries(first.entries)).toEqual(['1@6=6', '3@3=3']);
    const rest = await scanState(pages, state, resolveMetastoreScan({ limit: 2, cursor: first.cursor }));
    expect(describeEntries(rest.entries)).toEqual(['4@5=4']);
    const early = await scanState(pages, twoBuffers(4), resolveMetastoreScan({}));
    expect(describeEntries(early.entries)).toEqual(['1@1=1', '3@3=3']);
  });
});
