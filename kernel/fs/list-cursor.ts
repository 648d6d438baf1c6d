import { decodeBase64url, encodeBase64url } from '../contracts/base64url.ts';
import { InvalidArgumentError } from '../errors.ts';
import { isWithin, normalizePath } from './paths.ts';

/**
 * A list cursor names the last path a page returned and the kind of listing, as base64url JSON:
 * URL-safe for the HTTP API, and checked on the way back in so a cursor cannot leave its directory.
 */
const CURSOR_VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeCursor(lastPath: string, recursive: boolean): string {
  return encodeBase64url(encoder.encode(JSON.stringify({ v: CURSOR_VERSION, last: lastPath, recursive })));
}

/** The last path of the previous page; EINVAL for a cursor of another listing or a damaged one. */
export function decodeCursor(cursor: string, directory: string, recursive: boolean): string {
  let parsed: { v?: unknown; last?: unknown; recursive?: unknown };
  try {
    const bytes = typeof cursor === 'string' ? decodeBase64url(cursor) : undefined;
    if (bytes === undefined) throw new InvalidArgumentError('not base64url');
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new InvalidArgumentError(`cannot list ${directory}: the cursor is malformed`);
  }
  if (parsed?.v !== CURSOR_VERSION || typeof parsed.last !== 'string' || parsed.recursive !== recursive) {
    throw new InvalidArgumentError(`cannot list ${directory}: the cursor belongs to another listing`);
  }
  const last = normalizePath(parsed.last, 'list');
  if (last === directory || !isWithin(last, directory)) {
    throw new InvalidArgumentError(`cannot list ${directory}: the cursor belongs to another directory`);
  }
  return last;
}
