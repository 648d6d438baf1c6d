import { describe, expect, it } from 'vitest';
import { PAGE_BYTES } from './constants.ts';
import {
  applyFreelistChain,
  decodeFreelistChainPage,
  decodeFreelistPage,
  encodeFreelistDelta,
  FreelistEncoder,
  FREELIST_ENTRIES_PER_PAGE,
  freelistDeltaPagesNeeded,
} from './freelist.ts';
import { decodeMeta, encodeMeta, type Meta } from './meta.ts';
import { type BranchNode, type LeafNode, computeBranchPayloadBytes, computeLeafPayloadBytes } from './node.ts';
import {
  decodeNode,
  encodeNode,
  leafEntryInlineValueAt,
  leafEntryKeyOverflows,
  leafEntryOffsets,
  leafEntryVersionAt,
} from './node-codec.ts';
import { decodeOverflowRun, encodeOverflowRun } from './overflow.ts';

const encoder = new TextEncoder();

function leaf(): LeafNode {
  const node: LeafNode = {
    kind: 'leaf',
    pageId: 7,
    txn: 2 ** 40 + 3,
    keys: [encoder.encode('a'), encoder.encode('b'), new Uint8Array(500).fill(0x63)],
    keyOverflows: [undefined, undefined, { pageId: 20, txn: 5, lengthBytes: 500 }],
    versions: [1, 2 ** 50, 3],
    values: [encoder.encode('one'), { pageId: 9, txn: 4, lengthBytes: 70_000 }, new Uint8Array(0)],
    payloadBytes: 0,
  };
  node.payloadBytes = computeLeafPayloadBytes(node);
  return node;
}

function expectCorrupt(action: () => unknown): void {
  expect(action).toThrow(expect.objectContaining({ code: 'ECORRUPT' }));
}

describe('KV page encoding', () => {
  it('round-trips a leaf; overflow keys come back as references to read', () => {
    const original = leaf();
    const page = encodeNode(original);
    expect(page.length).toBe(PAGE_BYTES);
    const decoded = decodeNode(page, { pageId: 7, txn: original.txn }) as LeafNode;
    expect(decoded.kind).toBe('leaf');
    expect(decoded.keys.slice(0, 2)).toEqual(original.keys.slice(0, 2));
    expect(decoded.keys[2]!.length).toBe(0);
    expect(decoded.keyOverflows).toEqual(original.keyOverflows);
    expect(decoded.versions).toEqual(original.versions);
    expect(decoded.values).toEqual(original.values);
    expect(decoded.payloadBytes).toBe(original.payloadBytes);
  });

  it('reads each leaf entry\'s version and inline value in place, as decoding the page gives them', () => {
    const original = leaf();
    const page = encodeNode(original);
    const offsets = leafEntryOffsets(page, original.keys.length, 7).slice(0, -1);
    expect(offsets.map((offset) => leafEntryVersionAt(page, offset))).toEqual([1, 2 ** 50, 3]);
    expect(offsets.map((offset) => leafEntryKeyOverflows(page, offset))).toEqual([false, false, true]);
    // The second value is in an overflow run; the third is empty, after a key in an overflow run.
    expect(leafEntryInlineValueAt(page, offsets[0]!)).toEqual(encoder.encode('one'));
    expect(leafEntryInlineValueAt(page, offsets[1]!)).toBeUndefined();
    expect(leafEntryInlineValueAt(page, offsets[2]!)).toEqual(new Uint8Array(0));
    expect(leafEntryInlineValueAt(page, offsets[0]!)!.buffer).toBe(page.buffer);
  });

  it('re-encodes a decoded leaf by copying its unchanged entries, and never copies a changed one', () => {
    const entries = Array.from({ length: 12 }, (_, index) => ({ key: encoder.encode(`key-${index}`), value: encoder.encode(`value-${index}`.repeat(index + 1)) }));
    const original: LeafNode = {
      kind: 'leaf',
      pageId: 9,
      txn: 3,
      keys: entries.map((entry) => entry.key),
      keyOverflows: entries.map(() => undefined),
      versions: entries.map((_, index) => 100 + index),
      values: entries.map((entry) => entry.value),
      payloadBytes: 0,
    };
    original.payloadBytes = computeLeafPayloadBytes(original);
    const page = encodeNode(original);
    // Encoding points the node at its new page, so the next encode finds the entries there.
    expect(original.keys[5]!.buffer).toBe(page.buffer);
    const copy = decodeNode(page, { pageId: 9, txn: 3 }) as LeafNode;
    // A commit changes one version in place, one value, and inserts an entry in the middle.
    copy.pageId = 10;
    copy.txn = 4;
    copy.versions[2] = 500;
    copy.values[7] = encoder.encode('changed');
    copy.keys.splice(9, 0, encoder.encode('key-8a'));
    copy.keyOverflows.splice(9, 0, undefined);
    copy.versions.splice(9, 0, 501);
    copy.values.splice(9, 0, encoder.encode('inserted'));
    copy.payloadBytes = computeLeafPayloadBytes(copy);
    const expected = { keys: copy.keys.map((key) => [...key]), versions: [...copy.versions], values: copy.values.map((value) => [...(value as Uint8Array)]) };
    const decoded = decodeNode(encodeNode(copy), { pageId: 10, txn: 4 }) as LeafNode;
    expect(decoded.keys.map((key) => [...key])).toEqual(expected.keys);
    expect(decoded.versions).toEqual(expected.versions);
    expect(decoded.values.map((value) => [...(value as Uint8Array)])).toEqual(expected.values);
  });

  it('round-trips a branch', () => {
    const branch: BranchNode = {
      kind: 'branch',
      pageId: 8,
      txn: 6,
      keys: [encoder.encode('m'), encoder.encode('t')],
      keyOverflows: [undefined, undefined],
      children: [
        { pageId: 3, txn: 1 },
        { pageId: 4, txn: 6 },
        { pageId: 5, txn: 2 },
      ],
      payloadBytes: 0,
    };
    branch.payloadBytes = computeBranchPayloadBytes(branch);
    expect(decodeNode(encodeNode(branch), { pageId: 8, txn: 6 })).toEqual(branch);
  });

  it('detects a flipped byte anywhere in a page, a page in the wrong place, and a stale page', () => {
    const page = encodeNode(leaf());
    for (const offset of [0, 4, 9, 100, PAGE_BYTES - 1]) {
      const damaged = page.slice();
      damaged[offset] = damaged[offset]! ^ 0x01;
      expectCorrupt(() => decodeNode(damaged, { pageId: 7, txn: leaf().txn }));
    }
    expectCorrupt(() => decodeNode(page, { pageId: 8, txn: leaf().txn }));
    expectCorrupt(() => decodeNode(page, { pageId: 7, txn: 1 }));
    expectCorrupt(() => decodeNode(page.subarray(0, 100), { pageId: 7, txn: leaf().txn }));
    expectCorrupt(() => decodeNode(new Uint8Array(PAGE_BYTES), { pageId: 7, txn: 0 }));
  });

  it('round-trips meta pages and rejects a meta page in the other slot', () => {
    const meta: Meta = {
      txn: 12,
      lastVersion: 40,
      root: { pageId: 5, txn: 12 },
      freelist: undefined,
      freelistEntryCount: 2,
      inlineFreePages: [
        { pageId: 7, freedTxn: 0 },
        { pageId: 8, freedTxn: 11 },
      ],
      pageCount: 9,
      durableTxnAtWrite: 11,
    };
    expect(decodeMeta(1, encodeMeta(1, meta))).toEqual(meta);
    expectCorrupt(() => decodeMeta(0, encodeMeta(1, meta)));
    expectCorrupt(() => decodeMeta(0, encodeMeta(0, { ...meta, root: { pageId: 9, txn: 12 } })));
  });

  it('round-trips overflow runs and freelist chains, page by page checked', () => {
    const bytes = Uint8Array.from({ length: 10_000 }, (_, index) => index % 251);
    const reference = { pageId: 30, txn: 4, lengthBytes: bytes.length };
    const run = encodeOverflowRun(reference, bytes);
    expect(run.length).toBe(3 * PAGE_BYTES);
    expect(decodeOverflowRun(run, reference)).toEqual(bytes);
    run[PAGE_BYTES * 2 + 50] = run[PAGE_BYTES * 2 + 50]! ^ 0x80;
    expectCorrupt(() => decodeOverflowRun(run, reference));

    const entries = Array.from({ length: FREELIST_ENTRIES_PER_PAGE + 5 }, (_, index) => ({ pageId: 100 + index, freedTxn: index }));
    const encoder = new FreelistEncoder([40, 41], 9);
    for (const entry of entries) encoder.add(entry.pageId, entry.freedTxn);
    const [first, second] = encoder.finish();
    const head = decodeFreelistPage(first!, { pageId: 40, txn: 9 });
    expect(head.next).toEqual({ pageId: 41, txn: 9 });
    const tail = decodeFreelistPage(second!, { pageId: 41, txn: 9 });
    expect(tail.next).toBeUndefined();
    expect([...head.entries, ...tail.entries]).toEqual(entries);
  });

  it('round-trips freelist deltas across pages and applies a chain from its base', () => {
    const base = new FreelistEncoder([50], 3);
    for (let pageId = 100; pageId < 110; pageId++) base.add(pageId, 2);
    const [basePage] = base.finish();
    // More records than one page holds: 900 removals and 400 additions span several pages.
    const removed = Array.from({ length: 10 }, (_, index) => 100 + index);
    const added = Array.from({ length: 1290 }, (_, index) => ({ pageId: 200 + index, freedTxn: 7 }));
    const needed = freelistDeltaPagesNeeded(removed.length, added.length);
    expect(needed).toBe(4);
    const pageIds = [60, 61, 62, 63, 64];
    const pages = encodeFreelistDelta({ removed, added }, { pageIds, txn: 7, previous: { pageId: 50, txn: 3 } });
    expect(pages).toHaveLength(5);
    // Chain order is newest first: the last delta page is the head, the base page the tail.
    const chainIds = [64, 63, 62, 61, 60, 50];
    const decoded = chainIds.map((pageId, index) =>
      decodeFreelistChainPage(index === chainIds.length - 1 ? basePage! : pages[pageIds.indexOf(pageId)]!, { pageId, txn: pageId === 50 ? 3 : 7 }),
    );
    expect(decoded.map((page) => page.next?.pageId)).toEqual([63, 62, 61, 60, 50, undefined]);
    const { entries, basePageCount } = applyFreelistChain(decoded, chainIds);
    expect(basePageCount).toBe(1);
    expect(entries.sort((a, b) => a.pageId - b.pageId)).toEqual(added);
    // A delta page where a base page is expected is refused.
    expectCorrupt(() => decodeFreelistPage(pages[0]!, { pageId: 60, txn: 7 }));
  });

  it('refuses a freelist chain whose deltas do not fit its base', () => {
    const base = new FreelistEncoder([50], 3);
    base.add(100, 2);
    const baseDecoded = decodeFreelistChainPage(base.finish()[0]!, { pageId: 50, txn: 3 });
    const delta = (removed: number[], added: { pageId: number; freedTxn: number }[]) =>
      decodeFreelistChainPage(encodeFreelistDelta({ removed, added }, { pageIds: [60], txn: 7, previous: { pageId: 50, txn: 3 } })[0]!, { pageId: 60, txn: 7 });
    expectCorrupt(() => applyFreelistChain([delta([101], []), baseDecoded], [60, 50]));
    expectCorrupt(() => applyFreelistChain([delta([], [{ pageId: 100, freedTxn: 7 }]), baseDecoded], [60, 50]));
    expectCorrupt(() => applyFreelistChain([baseDecoded, delta([], [])], [50, 60]));
    expect(applyFreelistChain([delta([100], [{ pageId: 100, freedTxn: 0 }]), baseDecoded], [60, 50]).entries).toEqual([{ pageId: 100, freedTxn: 0 }]);
    // A delta page that claims to point at a newer page is damaged.
    const forward = encodeFreelistDelta({ removed: [], added: [] }, { pageIds: [60], txn: 7, previous: { pageId: 50, txn: 9 } })[0]!;
    expectCorrupt(() => decodeFreelistChainPage(forward, { pageId: 60, txn: 7 }));
  });
});
