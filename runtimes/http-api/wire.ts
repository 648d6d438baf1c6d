import { decodeBase64url, encodeBase64url } from '../../kernel/contracts/base64url.ts';
import { type ErrorCode, InvalidArgumentError, NexusError, PROTOCOL_ERROR_CODE, RemoteApiError } from '../../kernel/errors.ts';
import type {
  BatchResult,
  ChangeEvent,
  EditResult,
  EntryType,
  FileMetadata,
  GrepMatch,
  ListPage,
} from '../../kernel/fs/types.ts';
import type { ApiKeyInfo, CreatedApiKey } from '../../kernel/services/api-key-types.ts';

/**
 * The wire format of the HTTP API, in the one module the server (http-api.ts) and the clients
 * (remote-nexus-fs.ts, remote-api-keys.ts) share.
 *
 * - FileMetadata travels as JSON with the kernel's own field names: `version` is the integer the
 *   kernel counts (use it with `ifMatch`, or as the ETag `"<version>"`), `createdAtMs` and
 *   `modifiedAtMs` are integer milliseconds since the epoch (not date strings: they round-trip
 *   exactly), `contentId` is the lowercase hex SHA-256 of the content or `null`.
 * - Errors are `{"error": {"code", "message"}}` with the status of HTTP_STATUS_BY_CODE; the client
 *   rebuilds the same NexusError class from the code (`errorFromCode`).
 * - A list page is `{entries, cursor?}`; the cursor is the kernel's, passed through untouched.
 * - Bytes inside JSON (batch reads and writes) are base64url without padding.
 * - A file path in a URL keeps its `/` separators; each component is percent-encoded
 *   (encodeURIComponent) and decoded exactly once by the server.
 */

export const API_PATH = '/api/v1';

/** The route prefixes; a path-taking route is the prefix followed by the encoded file path. */
export const ROUTES = {
  files: `${API_PATH}/files`,
  stat: `${API_PATH}/stat`,
  list: `${API_PATH}/list`,
  mkdir: `${API_PATH}/mkdir`,
  append: `${API_PATH}/append`,
  edit: `${API_PATH}/edit`,
  watch: `${API_PATH}/watch`,
  rename: `${API_PATH}/rename`,
  copy: `${API_PATH}/copy`,
  glob: `${API_PATH}/glob`,
  grep: `${API_PATH}/grep`,
  revision: `${API_PATH}/revision`,
  readMany: `${API_PATH}/batch/read`,
  statMany: `${API_PATH}/batch/stat`,
  writeMany: `${API_PATH}/batch/write`,
  keys: `${API_PATH}/keys`,
  openapi: `${API_PATH}/openapi.json`,
} as const;

/** Server-sent event names of the watch stream. */
export const WATCH_EVENT = { change: 'change', error: 'error' } as const;

export const JSON_CONTENT_TYPE = 'application/json';

/** The status each error code is answered with (some answers override it: 405, 413, 416, 431). */
export const HTTP_STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  EINVAL: 400,
  EAUTH: 401,
  EACCES: 403,
  ENOENT: 404,
  EEXIST: 409,
  ENOTEMPTY: 409,
  ENOTDIR: 409,
  EISDIR: 409,
  EBUSY: 409,
  EXDEV: 409,
  ECOMPACTED: 410,
  ECONFLICT: 412,
  ECORRUPT: 500,
  ECLOSED: 503,
};

export interface ErrorBody {
  error: { code: string; message: string };
}

/**
 * An operating error the API answers with another status than its code's: 405 (method), 413 (body
 * too large), 416 (range), 431 (headers), 503 (too many watches). The client sees the code only.
 */
export class HttpStatusError extends NexusError {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, error: NexusError, headers: Readonly<Record<string, string>> = {}) {
    super(error.code, error.message);
    this.status = status;
    this.headers = headers;
  }
}

// ---- paths in URLs

/** `/a b/c` → `/a%20b/c`. Takes a normalised path (no `.` or `..` components: URL parsers would resolve them). */
export function encodeUrlPath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/**
 * The file path in the rest of a URL's path after a route prefix, decoded once. Refused with
 * EINVAL: an encoded length beyond what `pathBytesMax` could need, a malformed escape or invalid
 * UTF-8, an encoded `/` inside a component, a `.` or `..` component (a client sends normalised
 * paths; URL parsers resolve dot segments, so one that survives is a trick), a NUL. Everything else
 * (control characters, lengths, `/__sys__`) the kernel checks as it does for every caller.
 */
export function decodeUrlPath(encoded: string, pathBytesMax: number): string {
  // Percent-encoding at most triples a byte; `/` separators are not encoded.
  if (encoded.length > pathBytesMax * 3 + 1) {
    throw new InvalidArgumentError(`a path in a URL holds at most ${pathBytesMax} bytes`);
  }
  if (encoded === '' || encoded === '/') return '/';
  if (!encoded.startsWith('/')) throw new InvalidArgumentError(`cannot decode the path ${JSON.stringify(encoded.slice(0, 80))}: it must follow the route after a /`);
  const components = encoded.slice(1).split('/').map((component) => decodeComponent(component, encoded));
  return '/' + components.join('/');
}

function decodeComponent(component: string, encoded: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(component);
  } catch {
    throw new InvalidArgumentError(`cannot decode the path ${JSON.stringify(encoded.slice(0, 80))}: a malformed percent-escape or invalid UTF-8`);
  }
  if (decoded.includes('/')) throw new InvalidArgumentError(`cannot use the path ${JSON.stringify(encoded.slice(0, 80))}: a name may not contain an encoded /`);
  if (decoded === '.' || decoded === '..') {
    throw new InvalidArgumentError(`cannot use the path ${JSON.stringify(encoded.slice(0, 80))}: send the normalised path, without . or .. components`);
  }
  if (decoded.includes('\u0000')) throw new InvalidArgumentError(`cannot use the path ${JSON.stringify(encoded.slice(0, 80))}: a path may not contain NUL`);
  return decoded;
}

// ---- ETags

/** The ETag of a version: a strong tag, `"<version>"`. */
export function formatEtag(version: number): string {
  return `"${version}"`;
}

/** The version in an If-Match header: one strong ETag `"<version>"` (or the bare number). */
export function parseEtag(header: string, name: string): number {
  const match = /^\s*(?:"(\d{1,16})"|(\d{1,16}))\s*$/.exec(header);
  const digits = match?.[1] ?? match?.[2];
  if (digits === undefined) {
    throw new InvalidArgumentError(`${name} must be one ETag "<version>" as ETag and stat give it, got ${JSON.stringify(header.slice(0, 80))}`);
  }
  return Number(digits);
}

// ---- bytes in JSON

export function bytesToWire(bytes: Uint8Array): string {
  return encodeBase64url(bytes);
}

/** The bytes of base64url text; undefined when `value` is not canonical base64url. */
export function bytesFromWire(value: unknown): Uint8Array | undefined {
  return typeof value === 'string' ? decodeBase64url(value) : undefined;
}

// ---- errors

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

// ---- readers of responses (client side): each field is checked, a wrong one is EPROTO

const ENTRY_TYPES: readonly EntryType[] = ['REG', 'DIR', 'MOUNT', 'LINK'];
const CHANGE_EVENT_TYPES: readonly ChangeEvent['type'][] = ['write', 'mkdir', 'delete', 'rename', 'mount', 'unmount'];

export function readMetadata(value: unknown): FileMetadata {
  const record = readRecord(value, 'file metadata');
  return {
    path: readString(record.path, 'path'),
    type: readOneOf(record.type, 'type', ENTRY_TYPES),
    sizeBytes: readInteger(record.sizeBytes, 'sizeBytes'),
    contentId: readNullableString(record.contentId, 'contentId'),
    version: readInteger(record.version, 'version'),
    createdAtMs: readInteger(record.createdAtMs, 'createdAtMs'),
    modifiedAtMs: readInteger(record.modifiedAtMs, 'modifiedAtMs'),
    mimeType: readNullableString(record.mimeType, 'mimeType'),
    owner: readNullableString(record.owner, 'owner'),
    zoneId: readString(record.zoneId, 'zoneId'),
    targetZone: readNullableString(record.targetZone, 'targetZone'),
  };
}

export function readListPage(value: unknown): ListPage {
  const record = readRecord(value, 'list page');
  const entries = readArray(record.entries, 'entries').map(readMetadata);
  return record.cursor === undefined ? { entries } : { entries, cursor: readString(record.cursor, 'cursor') };
}

export function readPaths(value: unknown): string[] {
  return readArray(readRecord(value, 'glob answer').paths, 'paths').map((path) => readString(path, 'path'));
}

export function readGrepMatches(value: unknown): GrepMatch[] {
  return readArray(readRecord(value, 'grep answer').matches, 'matches').map((item) => {
    const match = readRecord(item, 'grep match');
    return {
      path: readString(match.path, 'path'),
      lineNumber: readInteger(match.lineNumber, 'lineNumber'),
      line: readString(match.line, 'line'),
      before: readArray(match.before, 'before').map((line) => readString(line, 'line')),
      after: readArray(match.after, 'after').map((line) => readString(line, 'line')),
    };
  });
}

export function readEditResult(value: unknown): EditResult {
  const record = readRecord(value, 'edit result');
  return {
    metadata: readMetadata(record.metadata),
    replacements: readArray(record.replacements, 'replacements').map((count) => readInteger(count, 'replacement count')),
  };
}

export function readChangeEvent(value: unknown): ChangeEvent {
  const record = readRecord(value, 'change event');
  const event: ChangeEvent = {
    revision: readInteger(record.revision, 'revision'),
    type: readOneOf(record.type, 'type', CHANGE_EVENT_TYPES),
    path: readString(record.path, 'path'),
    timestampMs: readInteger(record.timestampMs, 'timestampMs'),
  };
  if (record.fromPath !== undefined) event.fromPath = readString(record.fromPath, 'fromPath');
  if (record.metadata !== undefined) event.metadata = readMetadata(record.metadata);
  return event;
}

export function readRevision(value: unknown): number {
  return readInteger(readRecord(value, 'revision answer').revision, 'revision');
}

export function readBatchResults<T>(value: unknown, readValue: (value: unknown) => T): BatchResult<T>[] {
  return readArray(readRecord(value, 'batch answer').results, 'results').map((item): BatchResult<T> => {
    const result = readRecord(item, 'batch result');
    const path = readString(result.path, 'path');
    if (result.ok === true) return { path, ok: true, value: readValue(result.value) };
    const error = readRecord(result.error, 'batch error');
    return { path, ok: false, error: { code: readString(error.code, 'code'), message: readString(error.message, 'message') } };
  });
}

export function readMetadataList(value: unknown): FileMetadata[] {
  return readArray(readRecord(value, 'batch answer').entries, 'entries').map(readMetadata);
}

export function readApiKeyInfo(value: unknown): ApiKeyInfo {
  const record = readRecord(value, 'key info');
  const info = {
    id: readString(record.id, 'id'),
    name: readString(record.name, 'name'),
    admin: readBoolean(record.admin, 'admin'),
    createdAtMs: readInteger(record.createdAtMs, 'createdAtMs'),
  };
  return record.revokedAtMs === undefined ? info : { ...info, revokedAtMs: readInteger(record.revokedAtMs, 'revokedAtMs') };
}

export function readApiKeyList(value: unknown): ApiKeyInfo[] {
  return readArray(readRecord(value, 'key list').keys, 'keys').map(readApiKeyInfo);
}

export function readCreatedApiKey(value: unknown): CreatedApiKey {
  const record = readRecord(value, 'created key');
  return { info: readApiKeyInfo(record.info), key: readString(record.key, 'key') };
}

function protocolError(what: string, expected: string, value: unknown): RemoteApiError {
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : String(value);
  return new RemoteApiError(PROTOCOL_ERROR_CODE, `cannot read the server's ${what}: expected ${expected}, got ${shown}`, 200);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readRecord(value: unknown, what: string): Record<string, unknown> {
  if (!isRecord(value)) throw protocolError(what, 'an object', value);
  return value;
}

function readArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw protocolError(what, 'an array', value);
  return value;
}

function readString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw protocolError(what, 'a string', value);
  return value;
}

function readNullableString(value: unknown, what: string): string | null {
  return value === null ? null : readString(value, what);
}

function readInteger(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value)) throw protocolError(what, 'an integer', value);
  return value as number;
}

function readBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw protocolError(what, 'a boolean', value);
  return value;
}

function readOneOf<T extends string>(value: unknown, what: string, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(value)) throw protocolError(what, `one of ${allowed.join(', ')}`, value);
  return value as T;
}
