/**
 * Operating errors: the few classes every layer throws, each with a stable `code` that is the same
 * in every runtime and across the HTTP API. Messages say what was attempted and what was found.
 *
 * Broken invariants are not operating errors: they are `assert()` failures (see `assert.ts`) that
 * nothing catches.
 */

export const ERROR_CODES = [
  'ENOENT',
  'EEXIST',
  'ENOTDIR',
  'EISDIR',
  'ENOTEMPTY',
  'EINVAL',
  'EACCES',
  'ECONFLICT',
  'EXDEV',
  'EBUSY',
  'ECOMPACTED',
  'ECORRUPT',
  'ECLOSED',
  'EAUTH',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class NexusError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** A path, key or object that the operation needs does not exist. */
export class NotFoundError extends NexusError {
  constructor(message: string) {
    super('ENOENT', message);
  }
}

/** The operation would create something that already exists. */
export class AlreadyExistsError extends NexusError {
  constructor(message: string) {
    super('EEXIST', message);
  }
}

/** A path component that must be a directory is not one. */
export class NotDirectoryError extends NexusError {
  constructor(message: string) {
    super('ENOTDIR', message);
  }
}

/** A file operation was asked of a directory. */
export class IsDirectoryError extends NexusError {
  constructor(message: string) {
    super('EISDIR', message);
  }
}

/** A directory that must be empty is not. */
export class NotEmptyError extends NexusError {
  constructor(message: string) {
    super('ENOTEMPTY', message);
  }
}

/** An argument is malformed: a bad path, a negative range, an edit that does not match. */
export class InvalidArgumentError extends NexusError {
  constructor(message: string) {
    super('EINVAL', message);
  }
}

/** The caller may not do this: a reserved path, a missing permission. */
export class AccessDeniedError extends NexusError {
  constructor(message: string) {
    super('EACCES', message);
  }
}

/** A precondition failed: `ifMatch` named another version, or a compare-and-set lost a race. */
export class ConflictError extends NexusError {
  constructor(message: string) {
    super('ECONFLICT', message);
  }
}

/** The operation would cross a mount (an ObjectStore or zone boundary). */
export class CrossDeviceError extends NexusError {
  constructor(message: string) {
    super('EXDEV', message);
  }
}

/** The target is in use: a mount point, the root, a mount with entries below it. */
export class BusyError extends NexusError {
  constructor(message: string) {
    super('EBUSY', message);
  }
}

/** A revision asked for has been dropped from the change log. */
export class CompactedError extends NexusError {
  constructor(message: string) {
    super('ECOMPACTED', message);
  }
}

/** Stored data failed its checksum or could not be decoded: never returned as data. */
export class CorruptionError extends NexusError {
  constructor(message: string) {
    super('ECORRUPT', message);
  }
}

/** The store or file system was closed. */
export class ClosedError extends NexusError {
  constructor(message: string) {
    super('ECLOSED', message);
  }
}

/**
 * A request carried no credentials, or ones that admit to nothing: no API key, an unknown key or a
 * revoked one (HTTP 401). Distinct from AccessDeniedError, which is a known caller doing what it
 * may not (HTTP 403). The code is BSD's EAUTH ("authentication error").
 */
export class UnauthenticatedError extends NexusError {
  constructor(message: string) {
    super('EAUTH', message);
  }
}

const ERROR_CLASSES: Record<ErrorCode, new (message: string) => NexusError> = {
  ENOENT: NotFoundError,
  EEXIST: AlreadyExistsError,
  ENOTDIR: NotDirectoryError,
  EISDIR: IsDirectoryError,
  ENOTEMPTY: NotEmptyError,
  EINVAL: InvalidArgumentError,
  EACCES: AccessDeniedError,
  ECONFLICT: ConflictError,
  EXDEV: CrossDeviceError,
  EBUSY: BusyError,
  ECOMPACTED: CompactedError,
  ECORRUPT: CorruptionError,
  ECLOSED: ClosedError,
  EAUTH: UnauthenticatedError,
};

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Rebuilds the error class for a code, e.g. from an HTTP error body. */
export function errorFromCode(code: ErrorCode, message: string): NexusError {
  return new ERROR_CLASSES[code](message);
}

/** The codes of server answers that are not operating errors: a bug on the server, an unreadable answer. */
export const INTERNAL_ERROR_CODE = 'EINTERNAL';
export const PROTOCOL_ERROR_CODE = 'EPROTO';

/**
 * An error a client of a nexusfs server (the HTTP API, a zone node's ZoneApi) got that is not one
 * of the kernel's codes: a 500 from a bug on the server (EINTERNAL), an answer the client cannot
 * read (EPROTO), or a status without a JSON error body (from a proxy). `status` is the HTTP status.
 */
export class RemoteApiError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = 'RemoteApiError';
    this.code = code;
    this.status = status;
  }
}

/**
 * The error that an error answer (`{"error":{"code","message"}}`, the body both APIs answer
 * errors with) stands for: the kernel's class for its codes, a RemoteApiError with the server's
 * code otherwise, and one with EPROTO for a body that is not that JSON.
 */
export function errorFromResponseText(status: number, text: string): Error {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return new RemoteApiError(PROTOCOL_ERROR_CODE, `HTTP ${status}: ${text.slice(0, 200)}`, status);
  }
  const error = isObject(parsed) && isObject(parsed.error) ? parsed.error : undefined;
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${status}`;
  if (isErrorCode(error?.code)) return errorFromCode(error.code, message);
  return new RemoteApiError(typeof error?.code === 'string' ? error.code : PROTOCOL_ERROR_CODE, message, status);
}

/**
 * The JSON of a successful answer. One that is not JSON (a proxy's page, a cut body) is a
 * RemoteApiError EPROTO, not a SyntaxError: the client could not read it.
 */
export function jsonFromResponseText(status: number, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RemoteApiError(PROTOCOL_ERROR_CODE, `a ${status} answer is not JSON: ${text.slice(0, 80)}`, status);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
