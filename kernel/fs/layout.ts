import { concatChunks } from '../contracts/bytes.ts';
import { CorruptionError } from '../errors.ts';
import { ROOT_PATH } from './paths.ts';
import type { ChangeEvent, FileMetadata } from './types.ts';

/**
 * How a zone's state is laid out in its Metastore. Everything for one zone lives under these keys:
 *
 *   'E' (0x00 name)*          one entry per path; `/a/b` is E 00 'a' 00 'b'. The 0x00 separator sorts
 *                             below every byte a name may hold, so a directory's whole subtree is the
 *                             contiguous range after its own key (a depth-first walk, names sorted),
 *                             and `key + 0x01` is the first key past that subtree.
 *   'S' 'rev'                 the zone revision: the number of mutations so far.
 *   'S' 'log' u64be(revision) the change events of one revision (the change log that watch replays).
 *   'S' 'ref' mount 00 id     how many entries in a mount refer to a blob; absent means none.
 *   'S' 'mnt' path            a mount point recorded in the zone.
 *
 * Values are JSON (UTF-8) with a layout version field, so a later layout can be told apart.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

const ENTRY_TAG = 0x45; // 'E'
const ENTRY_TAG_TEXT = String.fromCharCode(ENTRY_TAG);
const SEPARATOR = 0x00;
const SUBTREE_END = 0x01;
const SLASH = 0x2f;
export const LAYOUT_VERSION = 1;

export const REVISION_KEY = encoder.encode('Srev');
export const LOG_PREFIX = encoder.encode('Slog');
export const REFERENCE_PREFIX = encoder.encode('Sref');
export const MOUNT_PREFIX = encoder.encode('Smnt');

export function entryKey(normalizedPath: string): Uint8Array {
  if (normalizedPath === ROOT_PATH) return Uint8Array.of(ENTRY_TAG);
  // One encode of the whole path, then every '/' becomes the separator: 0x2F never occurs inside a
  // multi-byte UTF-8 sequence, so this is the same as encoding each name on its own.
  const key = encoder.encode(`${ENTRY_TAG_TEXT}${normalizedPath}`);
  for (let index = 1; index < key.byteLength; index++) if (key[index] === SLASH) key[index] = SEPARATOR;
  return key;
}

/** The prefix every key strictly below `path` starts with. */
export function descendantsPrefix(normalizedPath: string): Uint8Array {
  return concatChunks([entryKey(normalizedPath), Uint8Array.of(SEPARATOR)]);
}

/** The first key after `path` and its whole subtree. */
export function afterSubtreeKey(normalizedPath: string): Uint8Array {
  return concatChunks([entryKey(normalizedPath), Uint8Array.of(SUBTREE_END)]);
}

export function pathOfEntryKey(key: Uint8Array): string {
  if (key[0] !== ENTRY_TAG) throw new CorruptionError(`metastore key is not a file entry (tag ${key[0]})`);
  if (key.byteLength === 1) return ROOT_PATH;
  const path = key.slice(1);
  for (let index = 0; index < path.byteLength; index++) if (path[index] === SEPARATOR) path[index] = SLASH;
  return decoder.decode(path);
}

/** What the Metastore holds for one path; the path itself is the key. */
export type StoredEntry = Omit<FileMetadata, 'path' | 'zoneId'>;

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch (error) {
    throw new CorruptionError(`cannot decode ${what}: ${(error as Error).message}`);
  }
}

export function encodeEntry(entry: StoredEntry): Uint8Array {
  return encodeJson({ layout: LAYOUT_VERSION, ...entry });
}

export function decodeEntry(bytes: Uint8Array, path: string): StoredEntry {
  const { layout, ...entry } = decodeJson<StoredEntry & { layout: number }>(bytes, `the entry of ${path}`);
  if (layout !== LAYOUT_VERSION) {
    throw new CorruptionError(`the entry of ${path} has layout version ${layout}; this build reads ${LAYOUT_VERSION}`);
  }
  return entry;
}

export function logKey(revision: number): Uint8Array {
  const key = new Uint8Array(LOG_PREFIX.byteLength + 8);
  key.set(LOG_PREFIX);
  new DataView(key.buffer).setBigUint64(LOG_PREFIX.byteLength, BigInt(revision));
  return key;
}

export function revisionOfLogKey(key: Uint8Array): number {
  return Number(new DataView(key.buffer, key.byteOffset, key.byteLength).getBigUint64(LOG_PREFIX.byteLength));
}

export function encodeLogRecord(events: readonly ChangeEvent[]): Uint8Array {
  return encodeJson({ layout: LAYOUT_VERSION, events });
}

export function decodeLogRecord(bytes: Uint8Array): ChangeEvent[] {
  return decodeJson<{ events: ChangeEvent[] }>(bytes, 'a change log record').events;
}

export function referenceKey(mountPath: string, contentId: string): Uint8Array {
  return concatChunks([REFERENCE_PREFIX, encoder.encode(mountPath), Uint8Array.of(SEPARATOR), encoder.encode(contentId)]);
}

export function mountKey(mountPath: string): Uint8Array {
  return concatChunks([MOUNT_PREFIX, encoder.encode(mountPath)]);
}

export function mountPathOfKey(key: Uint8Array): string {
  return decoder.decode(key.subarray(MOUNT_PREFIX.byteLength));
}
