import {
  BATCH_ITEMS_MAX,
  GLOB_RESULTS_MAX,
  GREP_RESULTS_MAX,
  LIST_LIMIT_MAX,
  PATH_BYTES_MAX,
} from '../../kernel/fs/types.ts';
import { InvalidArgumentError } from '../../kernel/errors.ts';

/**
 * Every bound of the HTTP API, in one place. A request is from a caller who may be careless or
 * hostile: nothing it sends may make the server hold unbounded memory or work. The file API's own
 * ceilings (list, glob, grep, batches) are the kernel's by default, so embedded and remote answer
 * the same; a server may lower them.
 */
export interface HttpApiLimits {
  /**
   * Largest body of a request that is read whole: JSON bodies (rename, grep, edit, batches, keys)
   * and appends. Beyond it: 413.
   */
  readonly requestBodyBytesMax: number;
  /** Largest file a PUT may upload. Uploads stream to the ObjectStore, so this may be large. Beyond it: 413. */
  readonly uploadBytesMax: number;
  /** All request header names and values together (the request line excluded). Beyond it: 431. */
  readonly headerBytesMax: number;
  /** A file path in a URL, decoded, in UTF-8 bytes (the kernel's PATH_BYTES_MAX). */
  readonly pathBytesMax: number;
  /** Nesting of arrays and objects in a JSON body. */
  readonly jsonDepthMax: number;
  readonly listLimitMax: number;
  readonly globResultsMax: number;
  readonly grepResultsMax: number;
  /** Paths or files in one batch read, stat or write. */
  readonly batchItemsMax: number;
  /** Watch streams open at once; one more is refused with 503 EBUSY. */
  readonly watchStreamsMax: number;
  /** A watch stream sends a comment this often when idle, so proxies and clients see it alive. */
  readonly watchHeartbeatMs: number;
}

export const HTTP_API_LIMITS_DEFAULT: HttpApiLimits = {
  requestBodyBytesMax: 32 * 1024 * 1024,
  uploadBytesMax: 16 * 1024 * 1024 * 1024,
  headerBytesMax: 8 * 1024,
  pathBytesMax: PATH_BYTES_MAX,
  jsonDepthMax: 16,
  listLimitMax: LIST_LIMIT_MAX,
  globResultsMax: GLOB_RESULTS_MAX,
  grepResultsMax: GREP_RESULTS_MAX,
  batchItemsMax: BATCH_ITEMS_MAX,
  watchStreamsMax: 1024,
  watchHeartbeatMs: 15_000,
};

/** The defaults with `overrides` applied (an undefined override keeps the default); each must be a positive safe integer. */
export function resolveHttpApiLimits(overrides: Partial<HttpApiLimits> = {}): HttpApiLimits {
  const given = Object.entries(overrides).filter(([, value]) => value !== undefined);
  const limits: HttpApiLimits = { ...HTTP_API_LIMITS_DEFAULT, ...Object.fromEntries(given) };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidArgumentError(`HTTP API limit ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  return limits;
}
