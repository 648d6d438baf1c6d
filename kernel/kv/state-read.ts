import { assert } from '../assert.ts';
import { bytesSuccessor, compareBytes, copyBytesPooled } from '../contracts/bytes.ts';
import type { MetastoreEntry, MetastoreScanPage } from '../contracts/metastore.ts';
import { encodeScanCursor } from '../contracts/metastore-cursor.ts';
import type { ResolvedMetastoreScan } from '../contracts/metastore-validation.ts';
import { WRITE_BUFFERS_MAX } from './constants.ts';
import type { PageReference } from './node.ts';
import type { PageStore } from './page-store.ts';
import { NEEDS_FILE, readEntry, readEntryCached, scanTree } from './tree-read.ts';
import type { BufferedEntry, FrozenEntries, WriteBuffer } from './write-buffer.ts';

/**
 * Reads of one committed state: a tree, and write buffers on top of it read at the state's
 * version (see write-buffer.ts): the live buffer, then the frozen ones a checkpoint is merging
 * into the tree, newest first. The newest buffer holding a key decides it (a delete there hides
 * older buffers' entries and the tree's); the tree answers the rest. The caller keeps the state
 * pinned while a read runs. Every returned buffer is a fresh copy.
 */
export interface ReadableState {
  meta: { readonly root: PageReference | undefined };
  buffer: WriteBuffer;
  /** Buffers older than `buffer` whose entries the tree does not have yet, newest first. */
  frozenBuffers: readonly FrozenEntries[];
  version: number;
}

/** The entry for `key` without waiting, or NEEDS_FILE when the tree must read the file. */
export function readStateCached(pages: PageStore, state: ReadableState, key: Uint8Array): MetastoreEntry | undefined | typeof NEEDS_FILE {
  const buffered = lookupBuffers(state, key);
  if (buffered !== undefined) return entryOf(buffered);
  return readEntryCached(pages, state.meta.root, key);
}

/** The newest buffered entry of `key` at the state's version, from the newest buffer that has one. */
function lookupBuffers(state: ReadableState, key: Uint8Array): BufferedEntry | undefined {
  const live = state.buffer.lookup(key, state.version);
  if (live !== undefined) return live;
  for (const buffer of state.frozenBuffers) {
    const entry = buffer.lookup(key, state.version);
    if (entry !== undefined) return entry;
  }
  return undefined;
}

export async function readState(pages: PageStore, state: ReadableState, key: Uint8Array): Promise<MetastoreEntry | undefined> {
  const cached = readStateCached(pages, state, key);
  return cached === NEEDS_FILE ? readEntry(pages, state.meta.root, key) : cached;
}

/**
 * One page of a scan of the state: the tree's entries and the buffer's merged in key order, the
 * buffer's winning where both have a key. The tree is read a page of `limit + 1` entries at a
 * time, since deletes in the buffer may hide some of them.
 */
export async function scanState(pages: PageStore, state: ReadableState, scan: ResolvedMetastoreScan): Promise<MetastoreScanPage> {
  const buffers = [state.buffer, ...state.frozenBuffers].filter((buffer) => buffer.entryCount > 0);
  if (buffers.length === 0) return scanTree(pages, state.meta.root, scan);
  const buffer = buffers.length === 1 ? buffers[0]!.cursor(scan, state.version) : new MergedBufferCursor(buffers, scan, state.version);
  let buffered = buffer.next();
  // Nothing buffered in the range: the tree's page is the answer.
  if (buffered === undefined) return scanTree(pages, state.meta.root, scan);
  const wanted = scan.limit + 1;
  const tree = new TreeCursor(pages, state.meta.root, scan, wanted);
  const entries: MetastoreEntry[] = [];
  while (entries.length < wanted) {
    if (tree.needsRead) await tree.read();
    const stored = tree.current();
    if (buffered === undefined && stored === undefined) break;
    const order = buffered === undefined ? 1 : stored === undefined ? -1 : scanOrder(scan, buffered.key, stored.key);
    if (order > 0) {
      entries.push(stored!);
      tree.advance();
      continue;
    }
    // The buffer decides a key both have: its entry, or its delete, hides the tree's.
    if (order === 0) tree.advance();
    const entry = entryOf(buffered!);
    if (entry !== undefined) entries.push(entry);
    buffered = buffer.next();
  }
  if (entries.length <= scan.limit) return { entries };
  entries.length = scan.limit;
  return { entries, cursor: encodeScanCursor(entries.at(-1)!.key) };
}

/**
 * The entries of several buffers (newest first) in a scan's range at one version, merged in key
 * order: where more than one has a key, the newest buffer's entry (or delete) is the key's.
 */
class MergedBufferCursor {
  readonly #scan: ResolvedMetastoreScan;
  readonly #cursors: { next(): BufferedEntry | undefined }[];
  readonly #heads: (BufferedEntry | undefined)[];

  constructor(buffers: readonly FrozenEntries[], scan: ResolvedMetastoreScan, version: number) {
    assert(buffers.length <= WRITE_BUFFERS_MAX, `a state reads at most ${WRITE_BUFFERS_MAX} write buffers`);
    this.#scan = scan;
    this.#cursors = buffers.map((buffer) => buffer.cursor(scan, version));
    this.#heads = this.#cursors.map((cursor) => cursor.next());
  }

  next(): BufferedEntry | undefined {
    let winner: BufferedEntry | undefined;
    for (const head of this.#heads) {
      // Strictly first in scan order: on a tie the newer buffer, seen earlier, keeps the key.
      if (head !== undefined && (winner === undefined || scanOrder(this.#scan, head.key, winner.key) < 0)) winner = head;
    }
    if (winner === undefined) return undefined;
    for (let index = 0; index < this.#heads.length; index++) {
      const head = this.#heads[index];
      if (head !== undefined && compareBytes(head.key, winner.key) === 0) this.#heads[index] = this.#cursors[index]!.next();
    }
    return winner;
  }
}

/** Negative when `a` comes first in the scan's direction. */
function scanOrder(scan: ResolvedMetastoreScan, a: Uint8Array, b: Uint8Array): number {
  const comparison = compareBytes(a, b);
  return scan.reverse ? -comparison : comparison;
}

function entryOf(buffered: BufferedEntry): MetastoreEntry | undefined {
  if (buffered.value === null) return undefined;
  return { key: copyBytesPooled(buffered.key), value: copyBytesPooled(buffered.value), version: buffered.version };
}

/** The tree's entries in a scan's range, read a page at a time as the merge consumes them. */
class TreeCursor {
  readonly #pages: PageStore;
  readonly #root: PageReference | undefined;
  readonly #scan: ResolvedMetastoreScan;
  #entries: MetastoreEntry[] = [];
  #index = 0;
  #more = true;

  constructor(pages: PageStore, root: PageReference | undefined, scan: ResolvedMetastoreScan, pageEntries: number) {
    this.#pages = pages;
    this.#root = root;
    this.#scan = { ...scan, limit: pageEntries };
  }

  /** Whether the entries read so far are used up and the tree may hold more. */
  get needsRead(): boolean {
    return this.#index >= this.#entries.length && this.#more;
  }

  /** Reads the next page of entries, after the last one read. */
  async read(): Promise<void> {
    const page = await scanTree(this.#pages, this.#root, this.#scan);
    this.#entries = page.entries;
    this.#index = 0;
    this.#more = page.cursor !== undefined;
    const last = page.entries.at(-1);
    if (last === undefined) return;
    if (this.#scan.reverse) this.#scan.end = last.key;
    else this.#scan.start = bytesSuccessor(last.key);
  }

  /** The entry the cursor is at; undefined at the end (or before a needed read). */
  current(): MetastoreEntry | undefined {
    return this.#entries[this.#index];
  }

  advance(): void {
    this.#index++;
  }
}
