import { InvalidArgumentError } from '../errors.ts';
import { bytesSuccessor, compareBytes, describeBytes, isUint8Array, prefixEnd } from './bytes.ts';
import {
  METASTORE_BATCH_OPERATIONS_MAX,
  METASTORE_KEY_BYTES_MAX,
  METASTORE_SCAN_LIMIT_MAX,
  METASTORE_VALUE_BYTES_MAX,
  type MetastoreOperation,
  type MetastorePrecondition,
  type MetastoreScanOptions,
} from './metastore.ts';
import { decodeScanCursor } from './metastore-cursor.ts';
import { resolvePageLimit } from './page-limit.ts';

/**
 * Input checks shared by every Metastore driver, so that each rejects exactly the same inputs with
 * the same InvalidArgumentError (EINVAL) before it touches storage, and a failing check never leaves
 * a batch half validated and half applied. Drivers call these first, then do their work.
 */

export function assertMetastoreKey(key: unknown, role = 'key'): asserts key is Uint8Array {
  if (!isUint8Array(key)) throw new InvalidArgumentError(`invalid ${role}: expected a Uint8Array, got ${typeof key}`);
  if (key.length === 0) throw new InvalidArgumentError(`invalid ${role}: a key must not be empty`);
  if (key.length > METASTORE_KEY_BYTES_MAX) {
    throw new InvalidArgumentError(
      `invalid ${role} ${describeBytes(key)}: ${key.length} bytes, at most ${METASTORE_KEY_BYTES_MAX} allowed`,
    );
  }
}

export function assertMetastoreValue(value: unknown, key: Uint8Array): asserts value is Uint8Array {
  if (!isUint8Array(value)) {
    throw new InvalidArgumentError(`invalid value for key ${describeBytes(key)}: expected a Uint8Array, got ${typeof value}`);
  }
  if (value.length > METASTORE_VALUE_BYTES_MAX) {
    throw new InvalidArgumentError(
      `invalid value for key ${describeBytes(key)}: ${value.length} bytes, at most ${METASTORE_VALUE_BYTES_MAX} allowed`,
    );
  }
}

export function assertMetastoreKeys(keys: unknown): asserts keys is readonly Uint8Array[] {
  if (!Array.isArray(keys)) throw new InvalidArgumentError(`invalid keys: expected an array, got ${typeof keys}`);
  if (keys.length > METASTORE_BATCH_OPERATIONS_MAX) {
    throw new InvalidArgumentError(`too many keys: ${keys.length}, at most ${METASTORE_BATCH_OPERATIONS_MAX} per call`);
  }
  for (const key of keys) assertMetastoreKey(key);
}

/** Checks a whole batch, operations and preconditions, before any of it is applied. */
export function assertMetastoreBatch(
  operations: unknown,
  preconditions: unknown,
): asserts operations is readonly MetastoreOperation[] {
  if (!Array.isArray(operations)) {
    throw new InvalidArgumentError(`invalid batch: expected an array of operations, got ${typeof operations}`);
  }
  if (preconditions !== undefined && !Array.isArray(preconditions)) {
    throw new InvalidArgumentError(`invalid batch: expected an array of preconditions, got ${typeof preconditions}`);
  }
  const preconditionCount = preconditions?.length ?? 0;
  if (operations.length + preconditionCount > METASTORE_BATCH_OPERATIONS_MAX) {
    throw new InvalidArgumentError(
      `batch too large: ${operations.length} operations and ${preconditionCount} preconditions, ` +
        `at most ${METASTORE_BATCH_OPERATIONS_MAX} together`,
    );
  }
  assertMetastoreOperations(operations);
  if (preconditions !== undefined) assertMetastorePreconditions(preconditions);
}

// Each loop over a batch sits in a function of its own that ends with it. A large batch gets its
// loop compiled while it runs (on-stack replacement), before the code after the loop ever ran;
// every later small batch then entered that compiled loop and deoptimized past its end (measured:
// after one commit of 100,000 operations, two deoptimizations in every later commit).

function assertMetastoreOperations(operations: readonly unknown[]): void {
  for (const operation of operations) assertMetastoreOperation(operation);
}

function assertMetastorePreconditions(preconditions: readonly unknown[]): void {
  for (const precondition of preconditions) assertMetastorePrecondition(precondition);
}

function assertMetastoreOperation(operation: unknown): asserts operation is MetastoreOperation {
  if (typeof operation !== 'object' || operation === null) {
    throw new InvalidArgumentError(`invalid batch operation: expected an object, got ${String(operation)}`);
  }
  const { type, key, value } = operation as { type?: unknown; key?: unknown; value?: unknown };
  if (type === 'put') {
    assertMetastoreKey(key);
    assertMetastoreValue(value, key);
  } else if (type === 'delete') {
    assertMetastoreKey(key);
  } else {
    throw new InvalidArgumentError(`invalid batch operation type ${JSON.stringify(type)}: expected "put" or "delete"`);
  }
}

function assertMetastorePrecondition(precondition: unknown): asserts precondition is MetastorePrecondition {
  if (typeof precondition !== 'object' || precondition === null) {
    throw new InvalidArgumentError(`invalid precondition: expected an object, got ${String(precondition)}`);
  }
  const { key, version } = precondition as { key?: unknown; version?: unknown };
  assertMetastoreKey(key, 'precondition key');
  if (version === null) return;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new InvalidArgumentError(
      `invalid precondition version ${String(version)} for key ${describeBytes(key)}: expected a positive integer or null`,
    );
  }
}

/**
 * A scan reduced to what a driver has to do: walk the half-open key range `[start, end)` in one
 * direction and stop after `limit` entries. Prefix and cursor are already folded into the bounds;
 * `undefined` bounds are open (from the first key, to the last key).
 */
export interface ResolvedMetastoreScan {
  start: Uint8Array | undefined;
  end: Uint8Array | undefined;
  reverse: boolean;
  limit: number;
}

/** Validates scan options and folds prefix, start, end and cursor into one half-open range. */
export function resolveMetastoreScan(options: MetastoreScanOptions | undefined): ResolvedMetastoreScan {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(`invalid scan options: expected an object, got ${String(options)}`);
  }
  const { prefix, start, end, reverse, limit, cursor } = options ?? {};
  assertScanBound(prefix, 'prefix');
  assertScanBound(start, 'start');
  assertScanBound(end, 'end');
  if (start !== undefined && end !== undefined && compareBytes(start, end) > 0) {
    throw new InvalidArgumentError(`invalid scan range: start ${describeBytes(start)} is after end ${describeBytes(end)}`);
  }
  if (reverse !== undefined && typeof reverse !== 'boolean') {
    throw new InvalidArgumentError(`invalid scan option reverse: expected a boolean, got ${typeof reverse}`);
  }
  const resolved: ResolvedMetastoreScan = {
    start: maxBound(start, prefix),
    end: minBound(end, prefix === undefined ? undefined : prefixEnd(prefix)),
    reverse: reverse ?? false,
    limit: resolvePageLimit(limit, METASTORE_SCAN_LIMIT_MAX),
  };
  if (cursor !== undefined) continueAfterCursor(resolved, decodeScanCursor(cursor));
  return resolved;
}

/** The next page starts strictly after the last key returned, in the direction of the scan. */
function continueAfterCursor(scan: ResolvedMetastoreScan, lastKey: Uint8Array): void {
  if (scan.reverse) {
    scan.end = minBound(scan.end, lastKey);
  } else {
    scan.start = maxBound(scan.start, bytesSuccessor(lastKey));
  }
}

/** Whether no key can lie in the range, so a driver may answer without reading anything. */
export function isEmptyMetastoreScan(scan: ResolvedMetastoreScan): boolean {
  return scan.start !== undefined && scan.end !== undefined && compareBytes(scan.start, scan.end) >= 0;
}

export function isInMetastoreScan(key: Uint8Array, scan: ResolvedMetastoreScan): boolean {
  if (scan.start !== undefined && compareBytes(key, scan.start) < 0) return false;
  return scan.end === undefined || compareBytes(key, scan.end) < 0;
}

/** Range bounds are byte strings like keys, but may be empty: the empty string sorts before every key. */
function assertScanBound(bound: unknown, role: string): asserts bound is Uint8Array | undefined {
  if (bound === undefined) return;
  if (!isUint8Array(bound)) throw new InvalidArgumentError(`invalid scan ${role}: expected a Uint8Array, got ${typeof bound}`);
  if (bound.length > METASTORE_KEY_BYTES_MAX) {
    throw new InvalidArgumentError(
      `invalid scan ${role}: ${bound.length} bytes, at most ${METASTORE_KEY_BYTES_MAX} allowed`,
    );
  }
}

/** The tighter of two lower bounds; `undefined` is no bound. */
function maxBound(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) >= 0 ? a : b;
}

/** The tighter of two upper bounds; `undefined` is no bound. */
function minBound(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) <= 0 ? a : b;
}
