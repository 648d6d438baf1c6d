import { InvalidArgumentError } from '../../kernel/errors.ts';

/**
 * Checks for values decoded from the wire. Everything a peer or client sends is `unknown` until
 * one of these has looked at it; each failure is an InvalidArgumentError that names the field,
 * so a bad frame says what was wrong with it rather than crashing a later step.
 */

export function wireError(field: string, expected: string, found: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`cannot decode ${field}: expected ${expected}, found ${describe(found)}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (typeof value === 'number') return `the number ${value}`;
  return typeof value;
}

export function readTuple(value: unknown, field: string, length: number): readonly unknown[] {
  if (!Array.isArray(value) || value.length !== length) throw wireError(field, `an array of ${length}`, value);
  return value;
}

export function readArray(value: unknown, field: string, lengthMax: number): readonly unknown[] {
  if (!Array.isArray(value) || value.length > lengthMax) throw wireError(field, `an array of at most ${lengthMax}`, value);
  return value;
}

/** A non-negative safe integer (indexes, terms, counts). */
export function readCount(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw wireError(field, 'a non-negative integer', value);
  return value;
}

/** A positive safe integer (node ids, versions). */
export function readPositive(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw wireError(field, 'a positive integer', value);
  return value;
}

export function readBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw wireError(field, 'a boolean', value);
  return value;
}

export function readString(value: unknown, field: string, lengthMax: number): string {
  if (typeof value !== 'string' || value.length > lengthMax) throw wireError(field, `a string of at most ${lengthMax} characters`, value);
  return value;
}

/**
 * Bytes as a plain Uint8Array view (a decoder may hand out a subclass such as Node's Buffer; the
 * kernel's buffers are plain Uint8Arrays). The view shares the frame's memory, which nobody
 * mutates after decoding.
 */
export function readBytes(value: unknown, field: string, lengthMax: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.byteLength > lengthMax) throw wireError(field, `at most ${lengthMax} bytes`, value);
  return value.constructor === Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

export function readExactBytes(value: unknown, field: string, length: number): Uint8Array {
  const bytes = readBytes(value, field, length);
  if (bytes.byteLength !== length) throw wireError(field, `exactly ${length} bytes`, value);
  return bytes;
}

export function readOneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw wireError(field, `one of ${allowed.join(', ')}`, value);
  return value as T;
}
