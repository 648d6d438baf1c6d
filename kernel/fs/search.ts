import { Minimatch } from 'minimatch';
import { InvalidArgumentError } from '../errors.ts';
import { joinPath, normalizePath, ROOT_PATH } from './paths.ts';
import type { GrepMatch } from './types.ts';

/**
 * Glob matching through minimatch (a well-kept matcher; globbing is a solved problem).
 * `dot: true`: patterns match every name, dotfiles included, as an agent expects of `**`.
 */
export interface CompiledGlob {
  /** The deepest directory that holds every possible match: where the walk starts. */
  basePath: string;
  matches(path: string): boolean;
}

const MAGIC = /[*?[\]{}()!+@]/;

export function compileGlob(pattern: string, relativeTo: string = ROOT_PATH): CompiledGlob {
  if (typeof pattern !== 'string' || pattern.length === 0) {
    throw new InvalidArgumentError('a glob pattern must be a non-empty string');
  }
  if (pattern.includes('\u0000')) throw new InvalidArgumentError('a glob pattern may not contain NUL');
  const absolute = pattern.startsWith('/') ? pattern : joinPath(relativeTo, pattern);
  const matcher = new Minimatch(absolute, { dot: true, nocomment: true, nonegate: true });
  const literal: string[] = [];
  for (const component of absolute.split('/').slice(1, -1)) {
    if (MAGIC.test(component)) break;
    literal.push(component);
  }
  // A literal `..` or `.` in the prefix is normalised the same way paths are (and may not escape).
  const basePath = normalizePath('/' + literal.join('/'), 'glob');
  return { basePath, matches: (path) => matcher.match(path) };
}

export function compileGrepPattern(pattern: string, ignoreCase: boolean): RegExp {
  if (typeof pattern !== 'string' || pattern.length === 0) {
    throw new InvalidArgumentError('a grep pattern must be a non-empty regular expression');
  }
  try {
    return new RegExp(pattern, ignoreCase ? 'iu' : 'u');
  } catch (error) {
    throw new InvalidArgumentError(`invalid grep pattern ${JSON.stringify(pattern)}: ${(error as Error).message}`);
  }
}

const BINARY_SNIFF_BYTES = 8192;

/** A file is treated as binary (and skipped by grep) when its first bytes hold a NUL. */
export function looksBinary(bytes: Uint8Array): boolean {
  return bytes.subarray(0, BINARY_SNIFF_BYTES).includes(0);
}

const lenientDecoder = new TextDecoder('utf-8');

/** Matching lines of one file, at most `remaining`. */
export function grepText(
  path: string,
  bytes: Uint8Array,
  expression: RegExp,
  options: { contextLines: number; remaining: number },
): GrepMatch[] {
  const lines = lenientDecoder.decode(bytes).split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const matches: GrepMatch[] = [];
  for (let index = 0; index < lines.length && matches.length < options.remaining; index++) {
    const line = lines[index]!;
    if (!expression.test(line)) continue;
    matches.push({
      path,
      lineNumber: index + 1,
      line,
      before: lines.slice(Math.max(0, index - options.contextLines), index),
      after: lines.slice(index + 1, index + 1 + options.contextLines),
    });
  }
  return matches;
}
