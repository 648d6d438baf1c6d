import { CorruptionError } from '../errors.ts';
import { assert } from '../assert.ts';
import { FORMAT_VERSION, META_INLINE_FREE_PAGES_MAX, META_MAGIC, PAGE_BYTES } from './constants.ts';
import type { FreePage } from './freelist.ts';
import type { PageReference } from './node.ts';
import { PageReader, PageWriter } from './node-codec.ts';
import { PAGE_KIND, newPage, openPage, sealPage } from './page-format.ts';

/**
 * The meta page: the root of one committed state. Two slots (pages 0 and 1) alternate so that the
 * slot holding the last durable state is never overwritten; see recovery.ts for how one is chosen.
 *
 * Payload: magic u32, format u32, page bytes u32, root reference, freelist reference, freelist
 * entry count u32, page count u32, last version u64, durable txn at write u64, then the inline
 * freelist: count u16 and entries (page id u32, freeing txn u64). A reference with page id 0 is
 * "none" (page 0 is a meta slot, never a tree page).
 */
export interface Meta {
  /** The write transaction this state is the result of (0 for a freshly created store). */
  txn: number;
  /** The version of the last commit in this state. */
  lastVersion: number;
  root: PageReference | undefined;
  freelist: PageReference | undefined;
  freelistEntryCount: number;
  /** Pages the state accounts for: every page id it uses or lists as free is below it. */
  pageCount: number;
  /** The freelist itself when it is short (META_INLINE_FREE_PAGES_MAX); empty with a chain. */
  inlineFreePages: FreePage[];
  /**
   * The last txn known durable when this meta was written. Every page with an older or equal txn
   * had been synced before this meta was written, so recovery need not verify it.
   */
  durableTxnAtWrite: number;
}

const NO_PAGE = 0;

export function encodeMeta(slot: number, meta: Meta): Uint8Array {
  const page = newPage({ kind: PAGE_KIND.meta, count: 0, pageId: slot, txn: meta.txn });
  const writer = new PageWriter(page);
  writer.uint32(META_MAGIC);
  writer.uint32(FORMAT_VERSION);
  writer.uint32(PAGE_BYTES);
  writer.pageReference(meta.root ?? { pageId: NO_PAGE, txn: 0 });
  writer.pageReference(meta.freelist ?? { pageId: NO_PAGE, txn: 0 });
  writer.uint32(meta.freelistEntryCount);
  writer.uint32(meta.pageCount);
  writer.uint53(meta.lastVersion);
  writer.uint53(meta.durableTxnAtWrite);
  assert(meta.inlineFreePages.length <= META_INLINE_FREE_PAGES_MAX, 'an inline freelist fits the meta page');
  writer.uint16(meta.inlineFreePages.length);
  for (const entry of meta.inlineFreePages) {
    writer.uint32(entry.pageId);
    writer.uint53(entry.freedTxn);
  }
  return sealPage(page);
}

/** The meta in a slot; CorruptionError when the slot does not hold a valid one. */
export function decodeMeta(slot: number, page: Uint8Array): Meta {
  const header = openPage(page, { pageId: slot, kind: PAGE_KIND.meta, txn: undefined });
  const reader = new PageReader(page, slot);
  const magic = reader.uint32();
  if (magic !== META_MAGIC) throw new CorruptionError(`meta slot ${slot} is not a nexusfs KV meta page`);
  const format = reader.uint32();
  if (format !== FORMAT_VERSION) throw new CorruptionError(`meta slot ${slot} has format ${format}, expected ${FORMAT_VERSION}`);
  const pageBytes = reader.uint32();
  if (pageBytes !== PAGE_BYTES) throw new CorruptionError(`meta slot ${slot} uses ${pageBytes}-byte pages, expected ${PAGE_BYTES}`);
  const root = optionalReference(reader.pageReference());
  const freelist = optionalReference(reader.pageReference());
  const meta: Meta = {
    txn: header.txn,
    root,
    freelist,
    freelistEntryCount: reader.uint32(),
    pageCount: reader.uint32(),
    lastVersion: reader.uint53(),
    durableTxnAtWrite: reader.uint53(),
    inlineFreePages: [],
  };
  const inlineCount = reader.uint16();
  if (inlineCount > META_INLINE_FREE_PAGES_MAX) reader.corrupt(`${inlineCount} inline free pages`);
  for (let index = 0; index < inlineCount; index++) meta.inlineFreePages.push({ pageId: reader.uint32(), freedTxn: reader.uint53() });
  const inlineExpected = freelist === undefined ? meta.freelistEntryCount : 0;
  if (inlineCount !== inlineExpected) {
    throw new CorruptionError(`meta slot ${slot} holds ${inlineCount} inline free pages, expected ${inlineExpected}`);
  }
  if (meta.durableTxnAtWrite > meta.txn) throw new CorruptionError(`meta slot ${slot} claims a durable txn after its own`);
  for (const reference of [root, freelist]) {
    if (reference !== undefined && (reference.pageId >= meta.pageCount || reference.txn > meta.txn)) {
      throw new CorruptionError(`meta slot ${slot} refers to page ${reference.pageId} beyond its state`);
    }
  }
  return meta;
}

function optionalReference(reference: PageReference): PageReference | undefined {
  return reference.pageId === NO_PAGE ? undefined : reference;
}
