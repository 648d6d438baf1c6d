import { expect } from 'vitest';

/**
 * Vitest setup file of every project: `toEqual` and `toStrictEqual` compare two Uint8Arrays with
 * one loop over their bytes. Vitest's generic equality visits each element as an object property
 * and takes seconds per MiB (7 s for the 2 MiB file of the CLI's import test on a loaded
 * machine), which the tests of file content, blobs and streams paid again and again.
 *
 * The verdict is the one vitest reaches: equal when both are of the same class (a Buffer is not
 * a plain Uint8Array) with the same bytes. Anything else (a Buffer against a Uint8Array, arrays
 * with properties of their own) is left to vitest.
 */
export function uint8ArraysEqual(actual: unknown, expected: unknown): boolean | undefined {
  if (!(actual instanceof Uint8Array) || !(expected instanceof Uint8Array) || actual.constructor !== expected.constructor) return undefined;
  if (actual.length !== expected.length) return false;
  for (let index = 0; index < actual.length; index += 1) if (actual[index] !== expected[index]) return false;
  // Vitest also compares properties set on the arrays besides their bytes: with any, it decides.
  // Counting keys finds them in a fraction of the time that comparing every entry takes.
  if (Object.keys(actual).length !== actual.length || Object.keys(expected).length !== expected.length) return undefined;
  return true;
}

expect.addEqualityTesters([uint8ArraysEqual]);
