import { InvalidArgumentError } from '../errors.ts';
import { decodeBase64url, encodeBase64url } from './base64url.ts';
import { METASTORE_KEY_BYTES_MAX } from './metastore.ts';

/**
 * The scan cursor every Metastore driver hands out: the last key a page returned, as base64url.
 * It is opaque to callers, and carries no position or snapshot, only a key, so it stays valid
 * whatever is written between pages: the next page starts strictly after that key (strictly before
 * it when scanning in reverse), which is the contract's "entries behind the cursor are not seen".
 */
export function encodeScanCursor(lastKey: Uint8Array): string {
  return encodeBase64url(lastKey);
}

/** The key a cursor names. A string no driver could have produced is InvalidArgumentError. */
export function decodeScanCursor(cursor: unknown): Uint8Array {
  const key = typeof cursor === 'string' ? decodeBase64url(cursor) : undefined;
  if (key === undefined || key.length === 0 || key.length > METASTORE_KEY_BYTES_MAX) {
    throw new InvalidArgumentError(`invalid scan cursor ${describeCursor(cursor)}: not a cursor from an earlier page`);
  }
  return key;
}

/** How much of a bad cursor an error message shows. */
const DESCRIBED_CURSOR_CHARACTERS_MAX = 64;

function describeCursor(cursor: unknown): string {
  if (typeof cursor !== 'string') return typeof cursor;
  const shown = JSON.stringify(cursor.slice(0, DESCRIBED_CURSOR_CHARACTERS_MAX));
  return cursor.length > DESCRIBED_CURSOR_CHARACTERS_MAX ? `${shown}...` : shown;
}
