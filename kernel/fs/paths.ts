import { AccessDeniedError, InvalidArgumentError } from '../errors.ts';
import { NAME_BYTES_MAX, PATH_BYTES_MAX } from './types.ts';

/**
 * Path rules, in one place: absolute, `/`-separated, normalised; `..` may not climb above `/`;
 * no control characters (NUL included) and no lone surrogates (they have no UTF-8 form).
 */

export const ROOT_PATH = '/';
export const SYSTEM_PATH = '/__sys__';

const encoder = new TextEncoder();
// Unicode control characters (C0, DEL and C1). Names may hold any other Unicode scalar value.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Normalises `path` or throws InvalidArgumentError saying what is wrong with it. */
export function normalizePath(path: string, operation = 'use'): string {
  if (typeof path !== 'string') {
    throw new InvalidArgumentError(`cannot ${operation} ${String(path)}: a path must be a string`);
  }
  if (!path.startsWith('/')) {
    throw new InvalidArgumentError(`cannot ${operation} ${JSON.stringify(path)}: a path must start with /`);
  }
  if (CONTROL_CHARACTER.test(path)) {
    throw new InvalidArgumentError(`cannot ${operation} ${JSON.stringify(path)}: a path may not contain NUL or other control characters`);
  }
  if (LONE_SURROGATE.test(path)) {
    throw new InvalidArgumentError(`cannot ${operation} ${JSON.stringify(path)}: the path is not valid Unicode (a lone surrogate has no UTF-8 form)`);
  }
  const components: string[] = [];
  for (const component of path.split('/')) {
    if (component === '' || component === '.') continue;
    if (component === '..') {
      if (components.length === 0) {
        throw new InvalidArgumentError(`cannot ${operation} ${JSON.stringify(path)}: '..' climbs above the root`);
      }
      components.pop();
      continue;
    }
    if (encoder.encode(component).byteLength > NAME_BYTES_MAX) {
      throw new InvalidArgumentError(`cannot ${operation} ${JSON.stringify(path.slice(0, 80))}…: a name is longer than ${NAME_BYTES_MAX} bytes`);
    }
    components.push(component);
  }
  const normalized = '/' + components.join('/');
  if (encoder.encode(normalized).byteLength > PATH_BYTES_MAX) {
    throw new InvalidArgumentError(`cannot ${operation} ${JSON.stringify(path.slice(0, 80))}…: the path is longer than ${PATH_BYTES_MAX} bytes`);
  }
  return normalized;
}

/** Normalises a path an agent may touch: everything but the kernel's reserved `/__sys__`. */
export function normalizeUserPath(path: string, operation = 'use'): string {
  const normalized = normalizePath(path, operation);
  if (isWithin(normalized, SYSTEM_PATH)) {
    throw new AccessDeniedError(`cannot ${operation} ${normalized}: ${SYSTEM_PATH} is reserved for the kernel`);
  }
  return normalized;
}

export function parentPath(normalized: string): string {
  const index = normalized.lastIndexOf('/');
  return index <= 0 ? ROOT_PATH : normalized.slice(0, index);
}

export function joinPath(directory: string, relative: string): string {
  return directory === ROOT_PATH ? `/${relative}` : `${directory}/${relative}`;
}

/** Whether `path` is `ancestor` itself or below it (`/a` is within `/a`, `/ab` is not). */
export function isWithin(path: string, ancestor: string): boolean {
  if (ancestor === ROOT_PATH) return true;
  return path === ancestor || path.startsWith(ancestor + '/');
}

/** Every proper ancestor of `path`, from the root's child down to the parent (root excluded). */
export function ancestorsOf(normalized: string): string[] {
  const ancestors: string[] = [];
  let current = parentPath(normalized);
  while (current !== ROOT_PATH) {
    ancestors.unshift(current);
    current = parentPath(current);
  }
  return ancestors;
}

/** `path` moved from below `from` to below `to`. */
export function rebasePath(path: string, from: string, to: string): string {
  if (path === from) return to;
  return joinPath(to, path.slice(from === ROOT_PATH ? 1 : from.length + 1));
}
