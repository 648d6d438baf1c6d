import { InvalidArgumentError } from '../errors.ts';
import type { Edit } from './types.ts';

const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function decodeText(bytes: Uint8Array, path: string): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw new InvalidArgumentError(`cannot edit ${path}: it is not UTF-8 text`);
  }
}

/**
 * Applies search/replace edits in order. Each search must occur exactly once, or at least once with
 * `replaceAll`, in the text as left by the edits before it; anything else is EINVAL and the caller
 * keeps the original text, so a half-applied edit is never stored.
 */
export function applyEdits(path: string, text: string, edits: readonly Edit[]): { text: string; replacements: number[] } {
  if (!Array.isArray(edits) || edits.length === 0) {
    throw new InvalidArgumentError(`cannot edit ${path}: no edits given`);
  }
  const replacements: number[] = [];
  let current = text;
  edits.forEach((edit, index) => {
    if (typeof edit?.search !== 'string' || typeof edit.replace !== 'string') {
      throw new InvalidArgumentError(`cannot edit ${path}: edit ${index + 1} needs string 'search' and 'replace'`);
    }
    if (edit.search.length === 0) {
      throw new InvalidArgumentError(`cannot edit ${path}: edit ${index + 1} has an empty search text`);
    }
    const occurrences = current.split(edit.search).length - 1;
    if (occurrences === 0) {
      throw new InvalidArgumentError(`cannot edit ${path}: the search text of edit ${index + 1} was not found`);
    }
    if (occurrences > 1 && edit.replaceAll !== true) {
      throw new InvalidArgumentError(
        `cannot edit ${path}: the search text of edit ${index + 1} occurs ${occurrences} times; make it unique or set replaceAll`,
      );
    }
    current = current.split(edit.search).join(edit.replace);
    replacements.push(occurrences);
  });
  return { text: current, replacements };
}
