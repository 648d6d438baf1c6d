import { InvalidArgumentError } from '../errors.ts';

/**
 * The number of items one page of a scan or listing returns. Absent means `limitMax`; a limit above
 * `limitMax` is clamped to it, because a caller asking for "as many as you can" is not wrong, only
 * optimistic, and `limitMax` is the ceiling every contract documents. Zero, negative and fractional
 * limits are InvalidArgumentError: they are bugs in the caller, not requests for an empty page.
 */
export function resolvePageLimit(limit: unknown, limitMax: number): number {
  if (limit === undefined) return limitMax;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) {
    throw new InvalidArgumentError(`invalid page limit ${String(limit)}: expected a positive integer`);
  }
  return Math.min(limit, limitMax);
}
