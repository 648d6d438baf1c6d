import type { ObjectStore } from '../contracts/object-store.ts';

/**
 * The file API every NexusFS shares: the embedded kernel (`NexusFS`) and, later, the remote client
 * over HTTP. `runNexusFSSuite` holds any implementation to the behaviour described here.
 *
 * Paths are absolute, `/`-separated strings. They are normalised before use: repeated slashes and
 * `.` collapse, a trailing slash is dropped, `..` steps up one level. Rejected with
 * InvalidArgumentError (EINVAL): a relative or empty path, a `..` that would climb above `/`, a NUL
 * or other control character (C0, DEL, C1), invalid Unicode (lone surrogates, which cannot be UTF-8), a component
 * longer than `NAME_BYTES_MAX` or a path longer than `PATH_BYTES_MAX` UTF-8 bytes. Paths under
 * `/__sys__` are reserved for the kernel: AccessDeniedError (EACCES).
 *
 * Every mutation is atomic (one Metastore batch: a crash leaves the old or the new state) and gets
 * the next zone revision, recorded in the change log that `watch` replays.
 */
export interface FileSystem {
  /** The whole file, or `[offset, offset + length)` of it, cut at the end. EISDIR for a directory. */
  read(path: string, options?: ReadOptions): Promise<Uint8Array>;
  readStream(path: string, options?: ReadOptions): Promise<ReadableStream<Uint8Array>>;
  /**
   * Creates or replaces a file. Missing parent directories are created (EEXIST/ENOTDIR when an
   * ancestor is a file). EISDIR when the path is a directory. With `ifMatch` the file must exist
   * at that version, with `ifNoneMatch: '*'` it must not exist: ECONFLICT otherwise.
   */
  write(path: string, data: Uint8Array | string | ReadableStream<Uint8Array>, options?: WriteOptions): Promise<FileMetadata>;
  /** Appends to a file, creating it when absent. Takes `ifMatch`. */
  append(path: string, data: Uint8Array | string, options?: Pick<WriteOptions, 'ifMatch'>): Promise<FileMetadata>;
  /** ENOENT when absent. */
  stat(path: string): Promise<FileMetadata>;
  exists(path: string): Promise<boolean>;
  /**
   * Entries below a directory in path order (depth first with `recursive`), at most `limit`
   * (default `LIST_LIMIT_DEFAULT`, ceiling `LIST_LIMIT_MAX`), with a cursor when more follow.
   * ENOTDIR for a file, ENOENT when absent.
   */
  list(path: string, options?: ListOptions): Promise<ListPage>;
  /** ENOENT for a missing parent without `parents`; EEXIST when present without `existOk`. */
  mkdir(path: string, options?: MkdirOptions): Promise<FileMetadata>;
  /**
   * Removes a file or an empty directory; with `recursive` a whole tree. ENOTEMPTY for a non-empty
   * directory without `recursive`; EBUSY for `/` and for a mount point or a tree holding one.
   * Blobs no file refers to any more are reclaimed.
   */
  delete(path: string, options?: DeleteOptions): Promise<void>;
  /**
   * Moves a file or a whole directory. Metadata only: blobs are never copied. EEXIST when the
   * target exists (unless `overwrite` and both are files); EINVAL when moving a directory into
   * itself; EXDEV across mounts; EBUSY for mount points or trees holding one.
   */
  rename(from: string, to: string, options?: RenameOptions): Promise<FileMetadata>;
  /**
   * Copies a file, or a directory with `recursive`. Within one mount the copy shares the blob;
   * across mounts the bytes are copied into the target mount's ObjectStore.
   */
  copy(from: string, to: string, options?: CopyOptions): Promise<FileMetadata>;
  /** Paths matching a glob (`*`, `**`, `?`, `[...]`, `{a,b}`), in path order. */
  glob(pattern: string, options?: GlobOptions): Promise<string[]>;
  /** Lines matching a regular expression in the files below `path`, in path order. */
  grep(pattern: string, options?: GrepOptions): Promise<GrepMatch[]>;
  /**
   * Applies search/replace edits to a text file in order, atomically: each `search` must occur
   * exactly once (or at least once with `replaceAll`), else EINVAL and nothing changes.
   */
  edit(path: string, edits: readonly Edit[], options?: Pick<WriteOptions, 'ifMatch'>): Promise<EditResult>;
  /**
   * Change events for `path` and everything below it: first those after revision `since` from the
   * change log (ECOMPACTED when they have been dropped), then live ones, until `signal` aborts or
   * the iterator is returned. Without `since`, only changes from now on.
   */
  watch(path: string, options?: WatchOptions): AsyncIterable<ChangeEvent>;

  readMany(paths: readonly string[]): Promise<BatchResult<Uint8Array>[]>;
  /** Writes every file in one atomic batch: all succeed or none does. */
  writeMany(files: readonly WriteManyItem[]): Promise<FileMetadata[]>;
  statMany(paths: readonly string[]): Promise<BatchResult<FileMetadata>[]>;

  /** The current zone revision (0 before the first mutation). */
  revision(): Promise<number>;
}

/** The admin side: which ObjectStore holds the blobs for which part of the tree. */
export interface MountAdmin {
  /**
   * Attaches an ObjectStore at `path`. `/` first; other mount points must be absent or an empty
   * directory (EEXIST over a file, EBUSY over a mount or a non-empty directory). Mounting again at a
   * path recorded as a mount point re-attaches it (after a restart).
   */
  mount(path: string, store: ObjectStore, options?: { name?: string }): Promise<MountInfo>;
  /** Detaches a mount; EBUSY while entries exist below it, ENOENT when not mounted. */
  unmount(path: string): Promise<void>;
  listMounts(): MountInfo[];
}

export type EntryType = 'REG' | 'DIR' | 'MOUNT' | 'LINK';

export interface FileMetadata {
  path: string;
  type: EntryType;
  sizeBytes: number;
  /** SHA-256 hex of the content for REG, `null` otherwise. */
  contentId: string | null;
  /** Increases on every change of this path; use it with `ifMatch`. */
  version: number;
  createdAtMs: number;
  modifiedAtMs: number;
  mimeType: string | null;
  owner: string | null;
  zoneId: string;
  /** The zone a DT_MOUNT entry links to; `null` for every other entry. */
  targetZone: string | null;
}

export interface ReadOptions {
  offset?: number;
  length?: number;
}

export interface WriteOptions {
  ifMatch?: number;
  ifNoneMatch?: '*';
  mimeType?: string;
}

export interface ListOptions {
  recursive?: boolean;
  limit?: number;
  cursor?: string;
}

export interface ListPage {
  entries: FileMetadata[];
  cursor?: string;
}

export interface MkdirOptions {
  parents?: boolean;
  existOk?: boolean;
}

export interface DeleteOptions {
  recursive?: boolean;
  ifMatch?: number;
}

export interface RenameOptions {
  overwrite?: boolean;
  ifMatch?: number;
}

export interface CopyOptions {
  overwrite?: boolean;
  recursive?: boolean;
}

export interface GlobOptions {
  /** Only below this directory; the pattern is matched against full paths either way. */
  path?: string;
  limit?: number;
}

export interface GrepOptions {
  /** A file or a directory searched recursively; `/` by default. */
  path?: string;
  /** Only files whose path matches this glob. */
  glob?: string;
  ignoreCase?: boolean;
  /** At most this many matches (default `GREP_RESULTS_DEFAULT`, ceiling `GREP_RESULTS_MAX`). */
  maxResults?: number;
  /** Lines of context before and after each match (default 0, ceiling `GREP_CONTEXT_LINES_MAX`). */
  contextLines?: number;
}

export interface GrepMatch {
  path: string;
  /** 1-based. */
  lineNumber: number;
  line: string;
  before: string[];
  after: string[];
}

export interface Edit {
  search: string;
  replace: string;
  replaceAll?: boolean;
}

export interface EditResult {
  metadata: FileMetadata;
  /** How many occurrences each edit replaced, in order. */
  replacements: number[];
}

export interface WatchOptions {
  since?: number;
  signal?: AbortSignal;
}

export type ChangeEventType = 'write' | 'mkdir' | 'delete' | 'rename' | 'mount' | 'unmount';

export interface ChangeEvent {
  revision: number;
  type: ChangeEventType;
  path: string;
  /** For `rename`: where the entry was. */
  fromPath?: string;
  /** The entry after the change; absent for `delete` and `unmount`. */
  metadata?: FileMetadata;
  timestampMs: number;
}

export type BatchResult<T> =
  | { path: string; ok: true; value: T }
  | { path: string; ok: false; error: { code: string; message: string } };

export interface WriteManyItem {
  path: string;
  data: Uint8Array | string;
  options?: WriteOptions;
}

export interface MountInfo {
  path: string;
  name: string;
}

/**
 * Like Linux's PATH_MAX of 4096 bytes with its terminating NUL. The entry key of a path is one byte
 * longer than the path, so this keeps every entry key within METASTORE_KEY_BYTES_MAX.
 */
export const PATH_BYTES_MAX = 4095;
/** Mount points are recorded in keys beside a content id, so their paths are kept shorter. */
export const MOUNT_PATH_BYTES_MAX = 1024;
/** Items in one readMany, writeMany or statMany. */
export const BATCH_ITEMS_MAX = 1000;
export const NAME_BYTES_MAX = 255;
export const LIST_LIMIT_DEFAULT = 1000;
export const LIST_LIMIT_MAX = 10_000;
export const GLOB_RESULTS_MAX = 10_000;
export const GREP_RESULTS_DEFAULT = 100;
export const GREP_RESULTS_MAX = 10_000;
export const GREP_CONTEXT_LINES_MAX = 20;
/** Files larger than this are skipped by grep: it reads whole files. */
export const GREP_FILE_BYTES_MAX = 8 * 1024 * 1024;
export const EDIT_FILE_BYTES_MAX = 8 * 1024 * 1024;
/** One mutation (a tree rename, delete or copy) touches at most this many entries. */
export const TREE_ENTRIES_MAX = 20_000;
/** Change log entries kept; older revisions are compacted away. */
export const CHANGE_LOG_RETAINED = 100_000;
