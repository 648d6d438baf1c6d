import { assert } from '../assert.ts';
import { type CacheStore, type Clock, NullCacheStore, systemClock } from '../contracts/cache-store.ts';
import { bytesSuccessor, concatChunks } from '../contracts/bytes.ts';
import type { Metastore } from '../contracts/metastore.ts';
import type { ObjectStore } from '../contracts/object-store.ts';
import type { RecordStore } from '../contracts/record-store.ts';
import { contentIdOf } from '../content-id.ts';
import {
  AlreadyExistsError,
  BusyError,
  ClosedError,
  CompactedError,
  ConflictError,
  CorruptionError,
  CrossDeviceError,
  InvalidArgumentError,
  IsDirectoryError,
  NexusError,
  NotDirectoryError,
  NotEmptyError,
  NotFoundError,
} from '../errors.ts';
import { MountTable, type ResolvedMount } from '../vfs/mount-table.ts';
import { CommitSignal, Mutex, untilWakeOrAbort } from './coordination.ts';
import { decodeCursor, encodeCursor } from './list-cursor.ts';
import { applyEdits, decodeText } from './edit.ts';
import {
  afterSubtreeKey,
  decodeEntry,
  decodeLogRecord,
  descendantsPrefix,
  encodeJson,
  entryKey,
  LOG_PREFIX,
  logKey,
  MOUNT_PREFIX,
  mountKey,
  mountPathOfKey,
  pathOfEntryKey,
  REVISION_KEY,
  referenceKey,
  revisionOfLogKey,
  type StoredEntry,
} from './layout.ts';
import { mimeTypeOf } from './mime-type.ts';
import { type KnownRevision, Mutation, readRevision } from './mutation.ts';
import {
  ancestorsOf,
  isWithin,
  joinPath,
  normalizeUserPath,
  parentPath,
  rebasePath,
  ROOT_PATH,
} from './paths.ts';
import { compileGlob, compileGrepPattern, grepText, looksBinary } from './search.ts';
import {
  BATCH_ITEMS_MAX,
  type BatchResult,
  type ChangeEvent,
  CHANGE_LOG_RETAINED,
  type CopyOptions,
  type DeleteOptions,
  type Edit,
  EDIT_FILE_BYTES_MAX,
  type EditResult,
  type FileMetadata,
  type FileSystem,
  GLOB_RESULTS_MAX,
  type GlobOptions,
  GREP_CONTEXT_LINES_MAX,
  GREP_FILE_BYTES_MAX,
  GREP_RESULTS_DEFAULT,
  GREP_RESULTS_MAX,
  type GrepMatch,
  type GrepOptions,
  LIST_LIMIT_DEFAULT,
  LIST_LIMIT_MAX,
  type ListOptions,
  type ListPage,
  type MkdirOptions,
  type MountAdmin,
  type MountInfo,
  MOUNT_PATH_BYTES_MAX,
  type ReadOptions,
  type RenameOptions,
  type WatchOptions,
  type WriteManyItem,
  type WriteOptions,
} from './types.ts';

export interface NexusFSOptions {
  /** Where the zone's metadata lives; required. NexusFS does not close it: its owner does. */
  metastore: Metastore;
  /** For services; the file kernel itself never uses it. */
  recordStore?: RecordStore;
  /** Optional; `NullCacheStore` when absent. */
  cacheStore?: CacheStore;
  /** Recorded in every entry's metadata; `root` by default. */
  zoneId?: string;
  clock?: Clock;
  /** The identity recorded as owner of entries this instance creates. */
  owner?: string;
}

/** Retries of a mutation whose commit lost a race with another writer of the same Metastore. */
const MUTATION_ATTEMPTS_MAX = 16;
/** Retries of a read-modify-write (edit, append) whose file changed between read and write. */
const READ_MODIFY_WRITE_ATTEMPTS_MAX = 8;
const LOG_SCAN_PAGE = 256;
const LIST_SCAN_PAGE = 1000;
const BATCH_READ_CONCURRENCY = 16;

const ROOT_ENTRY: StoredEntry = {
  type: 'DIR',
  sizeBytes: 0,
  contentId: null,
  version: 0,
  createdAtMs: 0,
  modifiedAtMs: 0,
  mimeType: null,
  owner: null,
  targetZone: null,
};

const encoder = new TextEncoder();

interface StoredBlob {
  mountPath: string;
  contentId: string;
  sizeBytes: number;
}

/**
 * The file kernel: a zone's tree of entries in a Metastore, file content as blobs in the
 * ObjectStores mounted into it. See `FileSystem` and `MountAdmin` for the contract.
 *
 * Concurrency: mutations through one NexusFS are serialized by a mutex and each commits as one
 * Metastore batch guarded by the zone revision, so several NexusFS over one Metastore stay correct
 * (a lost race is retried). Blob reclamation is exact within one NexusFS: a blob is deleted once no
 * entry refers to it and no write in flight is about to; across NexusFS instances sharing a store
 * a write racing a reclaim could lose its blob, which is why a zone has one writer.
 */
export class NexusFS implements FileSystem, MountAdmin {
  readonly metastore: Metastore;
  readonly recordStore: RecordStore | undefined;
  readonly cacheStore: CacheStore;
  readonly zoneId: string;
  readonly #clock: Clock;
  readonly #owner: string | null;
  readonly #mounts = new MountTable();
  readonly #lock = new Mutex();
  readonly #commits = new CommitSignal();
  /** Blobs a write has stored but not yet committed a reference to, by `mount NUL id`. */
  readonly #pins = new Map<string, number>();
  /** Stream uploads in progress: their content ids are not known until they end. */
  #streamUploadsInFlight = 0;
  readonly #reclaimCandidates = new Map<string, { mountPath: string; contentId: string }>();
  #mountsLoaded: Promise<void> | undefined;
  /** The revision as this instance's last commit left it; undefined until then or after a lost race. */
  #knownRevision: KnownRevision | undefined;
  #closed = false;

  constructor(options: NexusFSOptions) {
    assert(options?.metastore !== undefined, 'NexusFS needs a metastore');
    this.metastore = options.metastore;
    this.recordStore = options.recordStore;
    this.cacheStore = options.cacheStore ?? new NullCacheStore();
    this.zoneId = options.zoneId ?? 'root';
    this.#clock = options.clock ?? systemClock;
    this.#owner = options.owner ?? null;
  }

  // ---------------------------------------------------------------- reading

  async read(path: string, options: ReadOptions = {}): Promise<Uint8Array> {
    const normalized = normalizeUserPath(path, 'read');
    const range = validateRange(options, `read ${normalized}`);
    return this.#withBlob(normalized, 'read', (store, entry) => {
      const contentId = entry.contentId!;
      if (range === undefined) return store.get(contentId);
      const cut = cutRange(range, entry.sizeBytes);
      return cut.length === 0 ? Promise.resolve(new Uint8Array(0)) : store.getRange(contentId, cut.offset, cut.length);
    });
  }

  async readStream(path: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const normalized = normalizeUserPath(path, 'read');
    const range = validateRange(options, `read ${normalized}`);
    return this.#withBlob(normalized, 'read', (store, entry) => {
      const cut = range === undefined ? undefined : cutRange(range, entry.sizeBytes);
      return store.stream(entry.contentId!, cut);
    });
  }

  async stat(path: string): Promise<FileMetadata> {
    const normalized = normalizeUserPath(path, 'stat');
    const entry = await this.#readEntry(normalized);
    if (entry === undefined) throw new NotFoundError(`cannot stat ${normalized}: no such file or directory`);
    return this.#metadata(normalized, entry);
  }

  async exists(path: string): Promise<boolean> {
    const normalized = normalizeUserPath(path, 'check');
    return (await this.#readEntry(normalized)) !== undefined;
  }

  async list(path: string, options: ListOptions = {}): Promise<ListPage> {
    const normalized = normalizeUserPath(path, 'list');
    const limit = validateLimit(options.limit, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, `list ${normalized}`);
    const recursive = options.recursive === true;
    const resumeAfter = options.cursor === undefined ? undefined : decodeCursor(options.cursor, normalized, recursive);
    const entry = await this.#readEntry(normalized);
    if (entry === undefined) throw new NotFoundError(`cannot list ${normalized}: no such directory`);
    if (!isDirectoryLike(entry)) throw new NotDirectoryError(`cannot list ${normalized}: it is a file`);
    const found = await this.#scanChildren(normalized, { recursive, wanted: limit + 1, resumeAfter });
    if (found.length <= limit) return { entries: found };
    const entries = found.slice(0, limit);
    return { entries, cursor: encodeCursor(entries[entries.length - 1]!.path, recursive) };
  }

  /**
   * Up to `wanted` entries below `directory` in path order, starting after `resumeAfter`.
   * Without `recursive` the scan jumps over each child's subtree instead of reading it.
   */
  async #scanChildren(
    directory: string,
    options: { recursive: boolean; wanted: number; resumeAfter?: string | undefined },
  ): Promise<FileMetadata[]> {
    const prefix = descendantsPrefix(directory);
    let start: Uint8Array | undefined;
    if (options.resumeAfter !== undefined) {
      start = options.recursive ? bytesSuccessor(entryKey(options.resumeAfter)) : afterSubtreeKey(options.resumeAfter);
    }
    const found: FileMetadata[] = [];
    while (found.length < options.wanted) {
      const page = await this.metastore.scan({ prefix, start, limit: Math.min(options.wanted - found.length, LIST_SCAN_PAGE) });
      let restartAt: Uint8Array | undefined;
      for (const stored of page.entries) {
        const path = pathOfEntryKey(stored.key);
        if (!options.recursive && parentPath(path) !== directory) {
          restartAt = afterSubtreeKey(childOnTheWay(directory, path));
          break;
        }
        found.push(this.#metadata(path, decodeEntry(stored.value, path)));
        start = bytesSuccessor(stored.key);
      }
      if (restartAt !== undefined) {
        start = restartAt;
        continue;
      }
      if (page.cursor === undefined) break;
    }
    return found;
  }

  /** Every entry below `directory` (and the directory's own entry when it is a file), page by page. */
  async *#walk(directory: string): AsyncGenerator<FileMetadata> {
    let cursor: string | undefined;
    do {
      const page = await this.list(directory, { recursive: true, limit: LIST_LIMIT_MAX, cursor });
      yield* page.entries;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  async glob(pattern: string, options: GlobOptions = {}): Promise<string[]> {
    const relativeTo = normalizeUserPath(options.path ?? ROOT_PATH, 'glob');
    const limit = validateLimit(options.limit, GLOB_RESULTS_MAX, GLOB_RESULTS_MAX, `glob ${pattern}`);
    const compiled = compileGlob(pattern, relativeTo);
    const base = await this.#readEntry(compiled.basePath);
    if (base === undefined || !isDirectoryLike(base)) return [];
    const matches: string[] = [];
    for await (const entry of this.#walk(compiled.basePath)) {
      if (!isWithin(entry.path, relativeTo) || !compiled.matches(entry.path)) continue;
      matches.push(entry.path);
      if (matches.length >= limit) break;
    }
    return matches;
  }

  async grep(pattern: string, options: GrepOptions = {}): Promise<GrepMatch[]> {
    const root = normalizeUserPath(options.path ?? ROOT_PATH, 'grep');
    const expression = compileGrepPattern(pattern, options.ignoreCase === true);
    const maxResults = validateLimit(options.maxResults, GREP_RESULTS_DEFAULT, GREP_RESULTS_MAX, `grep ${root}`);
    const contextLines = validateCount(options.contextLines ?? 0, GREP_CONTEXT_LINES_MAX, 'contextLines');
    const fileFilter = options.glob === undefined ? undefined : compileGlob(options.glob, root);
    const entry = await this.#readEntry(root);
    if (entry === undefined) throw new NotFoundError(`cannot grep ${root}: no such file or directory`);
    const files = isDirectoryLike(entry) ? this.#walk(root) : single(this.#metadata(root, entry));
    const matches: GrepMatch[] = [];
    for await (const file of files) {
      if (matches.length >= maxResults) break;
      if (file.type !== 'REG' || file.sizeBytes > GREP_FILE_BYTES_MAX) continue;
      if (fileFilter !== undefined && !fileFilter.matches(file.path)) continue;
      let bytes: Uint8Array;
      try {
        bytes = await this.read(file.path);
      } catch (error) {
        if (error instanceof NotFoundError) continue; // deleted while we walked
        throw error;
      }
      if (looksBinary(bytes)) continue;
      matches.push(...grepText(file.path, bytes, expression, { contextLines, remaining: maxResults - matches.length }));
    }
    return matches;
  }

  async readMany(paths: readonly string[]): Promise<BatchResult<Uint8Array>[]> {
    validateBatch(paths, 'readMany');
    const results: BatchResult<Uint8Array>[] = [];
    for (let index = 0; index < paths.length; index += BATCH_READ_CONCURRENCY) {
      const slice = paths.slice(index, index + BATCH_READ_CONCURRENCY);
      results.push(...(await Promise.all(slice.map((path) => settle(path, () => this.read(path))))));
    }
    return results;
  }

  async statMany(paths: readonly string[]): Promise<BatchResult<FileMetadata>[]> {
    validateBatch(paths, 'statMany');
    this.#assertOpen();
    const normalized = paths.map((path) => settleSync(path, () => normalizeUserPath(path, 'stat')));
    const valid = normalized.filter((result) => result.ok).map((result) => result.value);
    const stored = await this.metastore.getMany(valid.map(entryKey));
    const byPath = new Map(valid.map((path, index) => [path, stored[index]]));
    return normalized.map((result): BatchResult<FileMetadata> => {
      if (!result.ok) return result;
      const path = result.value;
      if (path === ROOT_PATH) return { path: result.path, ok: true, value: this.#metadata(path, ROOT_ENTRY) };
      const entry = byPath.get(path);
      if (entry === undefined) {
        return { path: result.path, ok: false, error: { code: 'ENOENT', message: `cannot stat ${path}: no such file or directory` } };
      }
      return { path: result.path, ok: true, value: this.#metadata(path, decodeEntry(entry.value, path)) };
    });
  }

  async revision(): Promise<number> {
    this.#assertOpen();
    const stored = await this.metastore.get(REVISION_KEY);
    return stored === undefined ? 0 : readRevision(stored.value);
  }

  // ---------------------------------------------------------------- writing

  async write(path: string, data: Uint8Array | string | ReadableStream<Uint8Array>, options: WriteOptions = {}): Promise<FileMetadata> {
    const normalized = normalizeUserPath(path, 'write');
    validateWriteOptions(options, `write ${normalized}`);
    if (normalized === ROOT_PATH) throw new IsDirectoryError('cannot write /: it is a directory');
    await this.#ready();
    const mount = this.#mounts.resolve(normalized);
    const blob = await this.#storeBlob(mount, data, `write ${normalized}`);
    return this.#releasingBlobs(
      () => [blob],
      () => this.#mutate(`write ${normalized}`, (mutation) => this.#stageWrite(mutation, normalized, blob, options)),
    );
  }

  async writeMany(files: readonly WriteManyItem[]): Promise<FileMetadata[]> {
    validateBatch(files, 'writeMany');
    const items = files.map((file) => {
      const path = normalizeUserPath(file?.path, 'write');
      if (path === ROOT_PATH) throw new IsDirectoryError('cannot write /: it is a directory');
      validateWriteOptions(file.options ?? {}, `write ${path}`);
      return { path, data: file.data, options: file.options ?? {} };
    });
    const seen = new Set<string>();
    for (const item of items) {
      if (seen.has(item.path)) throw new InvalidArgumentError(`cannot writeMany: ${item.path} appears twice`);
      seen.add(item.path);
    }
    await this.#ready();
    const blobs: StoredBlob[] = [];
    return this.#releasingBlobs(
      () => blobs,
      async () => {
        for (const item of items) {
          blobs.push(await this.#storeBlob(this.#mounts.resolve(item.path), item.data, `write ${item.path}`));
        }
        return this.#mutate(`writeMany (${items.length} files)`, async (mutation) => {
          const written: FileMetadata[] = [];
          for (const [index, item] of items.entries()) {
            written.push(await this.#stageWrite(mutation, item.path, blobs[index]!, item.options));
          }
          return written;
        });
      },
    );
  }

  async append(path: string, data: Uint8Array | string, options: Pick<WriteOptions, 'ifMatch'> = {}): Promise<FileMetadata> {
    const normalized = normalizeUserPath(path, 'append to');
    const addition = toBytes(data, `append to ${normalized}`);
    return this.#readModifyWrite(normalized, 'append to', options.ifMatch, async (current) => {
      if (current === undefined) return { bytes: addition, result: undefined };
      const existing = await this.read(normalized);
      return { bytes: concatChunks([existing, addition]), result: undefined };
    }).then(({ metadata }) => metadata);
  }

  async edit(path: string, edits: readonly Edit[], options: Pick<WriteOptions, 'ifMatch'> = {}): Promise<EditResult> {
    const normalized = normalizeUserPath(path, 'edit');
    const { metadata, result } = await this.#readModifyWrite(normalized, 'edit', options.ifMatch, async (current) => {
      if (current === undefined) throw new NotFoundError(`cannot edit ${normalized}: no such file`);
      if (current.sizeBytes > EDIT_FILE_BYTES_MAX) {
        throw new InvalidArgumentError(`cannot edit ${normalized}: it is larger than ${EDIT_FILE_BYTES_MAX} bytes`);
      }
      const text = decodeText(await this.read(normalized), normalized);
      const edited = applyEdits(normalized, text, edits);
      return { bytes: encoder.encode(edited.text), result: edited.replacements };
    });
    return { metadata, replacements: result! };
  }

  /**
   * Reads a file, computes its new content, and writes it only if nobody changed the file
   * in between (retrying when they did, unless the caller pinned a version with `ifMatch`).
   */
  async #readModifyWrite<T>(
    path: string,
    operation: string,
    ifMatch: number | undefined,
    modify: (current: FileMetadata | undefined) => Promise<{ bytes: Uint8Array; result: T }>,
  ): Promise<{ metadata: FileMetadata; result: T }> {
    validateWriteOptions({ ifMatch }, `${operation} ${path}`);
    for (let attempt = 1; ; attempt++) {
      const entry = await this.#readEntry(path);
      if (entry !== undefined && isDirectoryLike(entry)) throw new IsDirectoryError(`cannot ${operation} ${path}: it is a directory`);
      const current = entry === undefined ? undefined : this.#metadata(path, entry);
      if (ifMatch !== undefined && current?.version !== ifMatch) {
        throw new ConflictError(`cannot ${operation} ${path}: expected version ${ifMatch}, found ${describeVersion(current)}`);
      }
      const { bytes, result } = await modify(current);
      const guard: WriteOptions =
        current === undefined ? { ifNoneMatch: '*' } : { ifMatch: current.version, mimeType: current.mimeType ?? undefined };
      try {
        return { metadata: await this.write(path, bytes, guard), result };
      } catch (error) {
        const retry = error instanceof ConflictError && ifMatch === undefined && attempt < READ_MODIFY_WRITE_ATTEMPTS_MAX;
        if (!retry) throw error;
      }
    }
  }

  async #stageWrite(mutation: Mutation, path: string, blob: StoredBlob, options: WriteOptions): Promise<FileMetadata> {
    if (this.#mounts.mountPointOf(path) !== blob.mountPath) {
      throw new BusyError(`cannot write ${path}: a mount point was created above it while it was being written`);
    }
    const existing = await mutation.get(path);
    if (existing !== undefined && existing.type !== 'REG') {
      throw new IsDirectoryError(`cannot write ${path}: it is a ${describeType(existing)}`);
    }
    checkPreconditions(path, existing, options, 'write');
    await this.#ensureParents(mutation, path, 'write');
    const entry: StoredEntry = {
      type: 'REG',
      sizeBytes: blob.sizeBytes,
      contentId: blob.contentId,
      version: mutation.revision,
      createdAtMs: existing?.createdAtMs ?? mutation.timestampMs,
      modifiedAtMs: mutation.timestampMs,
      mimeType: options.mimeType ?? mimeTypeOf(path),
      owner: existing?.owner ?? this.#owner,
      targetZone: null,
    };
    mutation.put(path, entry);
    mutation.reference(blob.mountPath, blob.contentId, 1);
    if (existing?.contentId != null) mutation.reference(blob.mountPath, existing.contentId, -1);
    const metadata = this.#metadata(path, entry);
    mutation.event({ type: 'write', path, metadata });
    return metadata;
  }

  async mkdir(path: string, options: MkdirOptions = {}): Promise<FileMetadata> {
    const normalized = normalizeUserPath(path, 'mkdir');
    if (normalized === ROOT_PATH) {
      if (options.existOk === true) return this.#metadata(ROOT_PATH, ROOT_ENTRY);
      throw new AlreadyExistsError('cannot mkdir /: it exists');
    }
    return this.#mutate(`mkdir ${normalized}`, async (mutation) => {
      const existing = await mutation.get(normalized);
      if (existing !== undefined) {
        if (isDirectoryLike(existing) && options.existOk === true) return this.#metadata(normalized, existing);
        throw new AlreadyExistsError(`cannot mkdir ${normalized}: a ${describeType(existing)} exists there`);
      }
      if (options.parents === true) {
        await this.#ensureParents(mutation, normalized, 'mkdir');
      } else {
        const parent = parentPath(normalized);
        const parentEntry = parent === ROOT_PATH ? ROOT_ENTRY : await mutation.get(parent);
        if (parentEntry === undefined) throw new NotFoundError(`cannot mkdir ${normalized}: ${parent} does not exist (use parents)`);
        if (!isDirectoryLike(parentEntry)) throw new NotDirectoryError(`cannot mkdir ${normalized}: ${parent} is a file`);
      }
      return this.#stageDirectory(mutation, normalized);
    });
  }

  async delete(path: string, options: DeleteOptions = {}): Promise<void> {
    const normalized = normalizeUserPath(path, 'delete');
    validateWriteOptions({ ifMatch: options.ifMatch }, `delete ${normalized}`);
    if (normalized === ROOT_PATH) throw new BusyError('cannot delete /: it is the root');
    await this.#mutate(`delete ${normalized}`, async (mutation) => {
      const entry = await mutation.get(normalized);
      if (entry === undefined) throw new NotFoundError(`cannot delete ${normalized}: no such file or directory`);
      if (entry.type === 'MOUNT') throw new BusyError(`cannot delete ${normalized}: it is a mount point (unmount it first)`);
      checkPreconditions(normalized, entry, { ifMatch: options.ifMatch }, 'delete');
      const below = entry.type === 'DIR' ? await mutation.subtree(normalized, 'delete') : [];
      if (below.length > 0 && options.recursive !== true) {
        throw new NotEmptyError(`cannot delete ${normalized}: the directory is not empty (use recursive)`);
      }
      const mountBelow = below.find((item) => item.entry.type === 'MOUNT');
      if (mountBelow !== undefined) throw new BusyError(`cannot delete ${normalized}: ${mountBelow.path} is a mount point below it`);
      const mountPath = this.#mounts.mountPointOf(normalized);
      for (const item of [{ path: normalized, entry }, ...below]) {
        mutation.remove(item.path);
        if (item.entry.contentId !== null) mutation.reference(mountPath, item.entry.contentId, -1);
      }
      mutation.event({ type: 'delete', path: normalized });
    });
  }

  async rename(from: string, to: string, options: RenameOptions = {}): Promise<FileMetadata> {
    const source = normalizeUserPath(from, 'rename');
    const target = normalizeUserPath(to, 'rename');
    const operation = `rename ${source} to ${target}`;
    validateWriteOptions({ ifMatch: options.ifMatch }, operation);
    if (source === ROOT_PATH) throw new BusyError(`cannot ${operation}: / cannot move`);
    if (target === ROOT_PATH) throw new AlreadyExistsError(`cannot ${operation}: / exists`);
    if (source !== target && isWithin(target, source)) {
      throw new InvalidArgumentError(`cannot ${operation}: a directory cannot move into itself`);
    }
    await this.#ready();
    return this.#mutate(operation, async (mutation) => {
      const entry = await mutation.get(source);
      if (entry === undefined) throw new NotFoundError(`cannot ${operation}: ${source} does not exist`);
      if (entry.type === 'MOUNT') throw new BusyError(`cannot ${operation}: ${source} is a mount point`);
      checkPreconditions(source, entry, { ifMatch: options.ifMatch }, 'rename');
      if (source === target) return this.#metadata(source, entry);
      const mountPath = this.#mounts.mountPointOf(source);
      if (this.#mounts.mountPointOf(target) !== mountPath) {
        throw new CrossDeviceError(`cannot ${operation}: they are on different mounts (${mountPath} and ${this.#mounts.mountPointOf(target)})`);
      }
      await this.#stageReplaceTarget(mutation, { source: entry, target, mountPath, overwrite: options.overwrite, operation });
      await this.#ensureParents(mutation, target, 'rename');
      const below = entry.type === 'DIR' ? await mutation.subtree(source, 'rename') : [];
      const mountBelow = below.find((item) => item.entry.type === 'MOUNT');
      if (mountBelow !== undefined) throw new BusyError(`cannot ${operation}: ${mountBelow.path} is a mount point below it`);
      for (const item of below) {
        mutation.remove(item.path);
        mutation.put(rebasePath(item.path, source, target), { ...item.entry, version: mutation.revision });
      }
      const moved: StoredEntry = { ...entry, version: mutation.revision };
      mutation.remove(source);
      mutation.put(target, moved);
      const metadata = this.#metadata(target, moved);
      mutation.event({ type: 'rename', path: target, fromPath: source, metadata });
      return metadata;
    });
  }

  async copy(from: string, to: string, options: CopyOptions = {}): Promise<FileMetadata> {
    const source = normalizeUserPath(from, 'copy');
    const target = normalizeUserPath(to, 'copy');
    const operation = `copy ${source} to ${target}`;
    if (target === ROOT_PATH) throw new AlreadyExistsError(`cannot ${operation}: / exists`);
    if (isWithin(target, source)) throw new InvalidArgumentError(`cannot ${operation}: a directory cannot be copied into itself`);
    await this.#ready();
    const entry = await this.#readEntry(source);
    if (entry === undefined) throw new NotFoundError(`cannot ${operation}: ${source} does not exist`);
    if (isDirectoryLike(entry) && options.recursive !== true) {
      throw new IsDirectoryError(`cannot ${operation}: ${source} is a directory (use recursive)`);
    }
    const sourceMount = this.#mounts.mountPointOf(source);
    const targetMount = this.#mounts.resolve(target);
    const sameMount = sourceMount === targetMount.mountPath;
    const uploaded = new Map<string, StoredBlob>();
    return this.#releasingBlobs(() => [...uploaded.values()], async () => {
      if (!sameMount) await this.#copyBlobsAcross(source, entry, targetMount, uploaded, operation);
      return this.#mutate(operation, async (mutation) => {
        const current = await mutation.get(source);
        if (current === undefined) throw new NotFoundError(`cannot ${operation}: ${source} does not exist`);
        const below = current.type === 'REG' ? [] : await mutation.subtree(source, 'copy');
        const mountBelow = below.find((item) => item.entry.type === 'MOUNT');
        if (mountBelow !== undefined) throw new BusyError(`cannot ${operation}: ${mountBelow.path} is a mount point below it`);
        await this.#stageReplaceTarget(mutation, { source: current, target, mountPath: targetMount.mountPath, overwrite: options.overwrite, operation });
        await this.#ensureParents(mutation, target, 'copy');
        let rootMetadata: FileMetadata | undefined;
        for (const item of [{ path: source, entry: current }, ...below]) {
          const copied = this.#stageCopiedEntry(mutation, item.entry, { sameMount, uploaded, targetMount: targetMount.mountPath, operation });
          const copiedPath = rebasePath(item.path, source, target);
          mutation.put(copiedPath, copied);
          const metadata = this.#metadata(copiedPath, copied);
          mutation.event({ type: copied.type === 'REG' ? 'write' : 'mkdir', path: copiedPath, metadata });
          rootMetadata ??= metadata;
        }
        return rootMetadata!;
      });
    });
  }

  #stageCopiedEntry(
    mutation: Mutation,
    entry: StoredEntry,
    context: { sameMount: boolean; uploaded: Map<string, StoredBlob>; targetMount: string; operation: string },
  ): StoredEntry {
    const copied: StoredEntry = {
      ...entry,
      type: entry.type === 'MOUNT' ? 'DIR' : entry.type,
      version: mutation.revision,
      createdAtMs: mutation.timestampMs,
      modifiedAtMs: mutation.timestampMs,
      owner: this.#owner ?? entry.owner,
    };
    if (entry.contentId === null) return copied;
    if (!context.sameMount && !context.uploaded.has(entry.contentId)) {
      throw new ConflictError(`cannot ${context.operation}: the source changed while it was being copied`);
    }
    mutation.reference(context.targetMount, entry.contentId, 1);
    return copied;
  }

  /** Copies the blobs of a file or tree into another mount's ObjectStore, before the metadata commit. */
  async #copyBlobsAcross(
    source: string,
    entry: StoredEntry,
    targetMount: ResolvedMount,
    uploaded: Map<string, StoredBlob>,
    operation: string,
  ): Promise<void> {
    const files = entry.type === 'REG' ? [this.#metadata(source, entry)] : [];
    if (entry.type !== 'REG') for await (const item of this.#walk(source)) if (item.type === 'REG') files.push(item);
    for (const file of files) {
      if (file.contentId === null || uploaded.has(file.contentId)) continue;
      const stream = await this.readStream(file.path);
      uploaded.set(file.contentId, await this.#storeBlob(targetMount, stream, operation));
    }
  }

  /** Makes room at `target` for a rename or copy: EEXIST unless both are files and `overwrite`. */
  async #stageReplaceTarget(
    mutation: Mutation,
    context: { source: StoredEntry; target: string; mountPath: string; overwrite: boolean | undefined; operation: string },
  ): Promise<void> {
    const existing = await mutation.get(context.target);
    if (existing === undefined) return;
    if (context.overwrite !== true || existing.type !== 'REG' || context.source.type !== 'REG') {
      throw new AlreadyExistsError(`cannot ${context.operation}: ${context.target} exists (a ${describeType(existing)})`);
    }
    mutation.remove(context.target);
    if (existing.contentId !== null) mutation.reference(context.mountPath, existing.contentId, -1);
  }

  /** Creates every missing ancestor of `path` as a directory; ENOTDIR when one is a file. */
  async #ensureParents(mutation: Mutation, path: string, operation: string): Promise<void> {
    const parent = parentPath(path);
    if (parent === ROOT_PATH) return;
    const parentEntry = await mutation.get(parent);
    // An entry exists only below an existing directory, so an existing parent means every ancestor exists.
    if (parentEntry !== undefined) {
      if (isDirectoryLike(parentEntry)) return;
      throw new NotDirectoryError(`cannot ${operation} ${path}: ${parent} is a file`);
    }
    const ancestors = ancestorsOf(path);
    const entries = await mutation.getMany(ancestors);
    for (const [index, ancestor] of ancestors.entries()) {
      const entry = entries[index];
      if (entry === undefined) this.#stageDirectory(mutation, ancestor);
      else if (!isDirectoryLike(entry)) throw new NotDirectoryError(`cannot ${operation} ${path}: ${ancestor} is a file`);
    }
  }

  #stageDirectory(mutation: Mutation, path: string, type: 'DIR' | 'MOUNT' = 'DIR'): FileMetadata {
    const entry: StoredEntry = {
      ...ROOT_ENTRY,
      type,
      version: mutation.revision,
      createdAtMs: mutation.timestampMs,
      modifiedAtMs: mutation.timestampMs,
      owner: this.#owner,
    };
    mutation.put(path, entry);
    const metadata = this.#metadata(path, entry);
    mutation.event({ type: type === 'DIR' ? 'mkdir' : 'mount', path, metadata });
    return metadata;
  }

  // ---------------------------------------------------------------- watching

  async *watch(path: string, options: WatchOptions = {}): AsyncGenerator<ChangeEvent> {
    const watched = normalizeUserPath(path, 'watch');
    const signal = options.signal;
    let last = options.since === undefined ? await this.revision() : validateCount(options.since, Number.MAX_SAFE_INTEGER, 'since');
    if (options.since !== undefined) await this.#assertRetained(options.since, watched);
    while (!this.#closed && !isAborted(signal)) {
      const wake = this.#commits.next();
      const page = await this.metastore.scan({ prefix: LOG_PREFIX, start: logKey(last + 1), limit: LOG_SCAN_PAGE });
      for (const stored of page.entries) {
        for (const event of decodeLogRecord(stored.value)) {
          if (concerns(event, watched)) yield event;
          if (isAborted(signal)) return;
        }
        last = revisionOfLogKey(stored.key);
      }
      if (page.entries.length === 0) await untilWakeOrAbort(wake, signal);
    }
  }

  async #assertRetained(since: number, watched: string): Promise<void> {
    const oldest = await this.metastore.scan({ prefix: LOG_PREFIX, limit: 1 });
    const current = await this.revision();
    const first = oldest.entries[0];
    const oldestRetained = first === undefined ? current + 1 : revisionOfLogKey(first.key);
    if (since + 1 < oldestRetained && since < current) {
      throw new CompactedError(
        `cannot watch ${watched} since revision ${since}: the change log keeps revisions from ${oldestRetained} (the last ${CHANGE_LOG_RETAINED})`,
      );
    }
  }

  // ---------------------------------------------------------------- mounts

  async mount(path: string, store: ObjectStore, options: { name?: string } = {}): Promise<MountInfo> {
    const mountPath = normalizeUserPath(path, 'mount');
    if (typeof store?.put !== 'function' || typeof store.get !== 'function') {
      throw new InvalidArgumentError(`cannot mount at ${mountPath}: the store is not an ObjectStore`);
    }
    if (encoder.encode(mountPath).byteLength > MOUNT_PATH_BYTES_MAX) {
      throw new InvalidArgumentError(`cannot mount at ${mountPath.slice(0, 80)}…: a mount point path is longer than ${MOUNT_PATH_BYTES_MAX} bytes`);
    }
    const name = options.name ?? (mountPath === ROOT_PATH ? 'root' : mountPath);
    await this.#ready();
    if (this.#mounts.attachedAt(mountPath) !== undefined) {
      throw new BusyError(`cannot mount at ${mountPath}: an ObjectStore is already mounted there`);
    }
    if (mountPath === ROOT_PATH) {
      this.#mounts.attach(ROOT_PATH, { name, store });
      return { path: mountPath, name };
    }
    await this.#mutate(`mount at ${mountPath}`, async (mutation) => {
      const existing = await mutation.get(mountPath);
      if (existing?.type === 'MOUNT') {
        // Recorded before (e.g. before a restart): attach the store again, nothing to write.
        this.#mounts.attach(mountPath, { name, store });
        return;
      }
      if (existing !== undefined && existing.type !== 'DIR') {
        throw new AlreadyExistsError(`cannot mount at ${mountPath}: a ${describeType(existing)} exists there`);
      }
      if (existing !== undefined && (await mutation.subtree(mountPath, 'mount at')).length > 0) {
        throw new BusyError(`cannot mount at ${mountPath}: the directory is not empty`);
      }
      await this.#ensureParents(mutation, mountPath, 'mount at');
      this.#stageDirectory(mutation, mountPath, 'MOUNT');
      mutation.record({ type: 'put', key: mountKey(mountPath), value: encodeJson({ name }) });
      mutation.onCommit(() => this.#mounts.attach(mountPath, { name, store }));
    });
    return { path: mountPath, name };
  }

  async unmount(path: string): Promise<void> {
    const mountPath = normalizeUserPath(path, 'unmount');
    await this.#ready();
    if (mountPath === ROOT_PATH) {
      await this.#lock.run(async () => {
        if (this.#mounts.attachedAt(ROOT_PATH) === undefined) throw new NotFoundError('cannot unmount /: nothing is mounted there');
        const any = await this.metastore.scan({ prefix: descendantsPrefix(ROOT_PATH), limit: 1 });
        if (any.entries.length > 0) throw new BusyError('cannot unmount /: entries exist below it');
        this.#mounts.forget(ROOT_PATH);
      });
      return;
    }
    await this.#mutate(`unmount ${mountPath}`, async (mutation) => {
      const entry = await mutation.get(mountPath);
      if (entry?.type !== 'MOUNT') throw new NotFoundError(`cannot unmount ${mountPath}: it is not a mount point`);
      if ((await mutation.subtree(mountPath, 'unmount')).length > 0) {
        throw new BusyError(`cannot unmount ${mountPath}: entries exist below it`);
      }
      mutation.remove(mountPath);
      mutation.record({ type: 'delete', key: mountKey(mountPath) });
      mutation.event({ type: 'unmount', path: mountPath });
      mutation.onCommit(() => this.#mounts.forget(mountPath));
    });
  }

  listMounts(): MountInfo[] {
    return this.#mounts.list();
  }

  /** Ends every watch; later calls throw ClosedError. The stores stay open: their owner closes them. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#commits.notify();
  }

  // ---------------------------------------------------------------- internals

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('this NexusFS is closed');
  }

  /** Loads the recorded mount points once (they are few; the tree itself is never loaded). */
  #ready(): Promise<void> {
    this.#assertOpen();
    this.#mountsLoaded ??= (async () => {
      let cursor: string | undefined;
      do {
        const page = await this.metastore.scan({ prefix: MOUNT_PREFIX, cursor });
        for (const stored of page.entries) this.#mounts.record(mountPathOfKey(stored.key));
        cursor = page.cursor;
      } while (cursor !== undefined);
    })();
    return this.#mountsLoaded;
  }

  async #readEntry(path: string): Promise<StoredEntry | undefined> {
    this.#assertOpen();
    if (path === ROOT_PATH) return ROOT_ENTRY;
    const stored = await this.metastore.get(entryKey(path));
    return stored === undefined ? undefined : decodeEntry(stored.value, path);
  }

  #metadata(path: string, entry: StoredEntry): FileMetadata {
    return {
      path,
      type: entry.type,
      sizeBytes: entry.sizeBytes,
      contentId: entry.contentId,
      version: entry.version,
      createdAtMs: entry.createdAtMs,
      modifiedAtMs: entry.modifiedAtMs,
      mimeType: entry.mimeType,
      owner: entry.owner,
      zoneId: this.zoneId,
      targetZone: entry.targetZone,
    };
  }

  /**
   * Runs `use` with the blob of a file. If the blob vanished (the file was overwritten and its old
   * blob reclaimed between the metadata read and the blob read), reads the metadata again; the same
   * blob missing twice means the ObjectStore lost it: ECORRUPT, never ENOENT for a file that exists.
   */
  async #withBlob<T>(path: string, operation: string, use: (store: ObjectStore, entry: StoredEntry) => Promise<T>): Promise<T> {
    await this.#ready();
    let missingContentId: string | undefined;
    for (;;) {
      const entry = await this.#readEntry(path);
      if (entry === undefined) throw new NotFoundError(`cannot ${operation} ${path}: no such file`);
      if (entry.type !== 'REG') throw new IsDirectoryError(`cannot ${operation} ${path}: it is a ${describeType(entry)}`);
      const mount = this.#mounts.resolve(path);
      try {
        return await use(mount.store, entry);
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        if (missingContentId === entry.contentId) {
          throw new CorruptionError(`cannot ${operation} ${path}: its content ${entry.contentId} is missing from the ObjectStore at ${mount.mountPath}`);
        }
        missingContentId = entry.contentId!;
      }
    }
  }

  async #mutate<T>(operation: string, build: (mutation: Mutation) => Promise<T>): Promise<T> {
    await this.#ready();
    return this.#lock.run(async () => {
      for (let attempt = 1; ; attempt++) {
        this.#assertOpen();
        const mutation = await Mutation.begin(this.metastore, this.#clock.nowMs(), this.#knownRevision);
        const result = await build(mutation);
        if (mutation.isEmpty) return result;
        let unreferenced: { mountPath: string; contentId: string }[];
        try {
          const outcome = await mutation.commit();
          unreferenced = outcome.unreferenced;
          this.#knownRevision = outcome.committed;
        } catch (error) {
          // Whatever happened, the next attempt reads the revision afresh.
          this.#knownRevision = undefined;
          if (!(error instanceof ConflictError)) throw error;
          if (attempt >= MUTATION_ATTEMPTS_MAX) {
            throw new ConflictError(`cannot ${operation}: the zone kept changing underneath it (${attempt} attempts)`);
          }
          continue;
        }
        this.#commits.notify();
        for (const candidate of unreferenced) this.#reclaimCandidates.set(pinKey(candidate.mountPath, candidate.contentId), candidate);
        await this.#reclaimLocked();
        return result;
      }
    });
  }

  /** Stores a blob in a mount and pins it until the write that needs it has committed or failed. */
  async #storeBlob(mount: ResolvedMount, data: Uint8Array | string | ReadableStream<Uint8Array>, operation: string): Promise<StoredBlob> {
    if (data instanceof ReadableStream) {
      this.#streamUploadsInFlight++;
      try {
        const info = await mount.store.put(data);
        this.#pin(mount.mountPath, info.id);
        return { mountPath: mount.mountPath, contentId: info.id, sizeBytes: info.sizeBytes };
      } finally {
        this.#streamUploadsInFlight--;
      }
    }
    const bytes = toBytes(data, operation);
    const contentId = await contentIdOf(bytes);
    this.#pin(mount.mountPath, contentId);
    try {
      const info = await mount.store.put(bytes);
      assert(info.id === contentId, `ObjectStore returned id ${info.id} for content ${contentId}`);
    } catch (error) {
      await this.#releaseBlobs([{ mountPath: mount.mountPath, contentId, sizeBytes: bytes.byteLength }], false);
      throw error;
    }
    return { mountPath: mount.mountPath, contentId, sizeBytes: bytes.byteLength };
  }

  #pin(mountPath: string, contentId: string): void {
    const key = pinKey(mountPath, contentId);
    this.#pins.set(key, (this.#pins.get(key) ?? 0) + 1);
  }

  /**
   * Runs a write that stores (and pins) blobs, then releases `blobs()` (read when the write is over,
   * since it may have stored them one by one before failing), as committed if `write` returned.
   */
  async #releasingBlobs<T>(blobs: () => readonly StoredBlob[], write: () => Promise<T>): Promise<T> {
    let committed = false;
    try {
      const result = await write();
      committed = true;
      return result;
    } finally {
      await this.#releaseBlobs(blobs(), committed);
    }
  }

  /**
   * Unpins blobs once the write that stored them is over. Blobs of a write that did not commit may
   * be referenced by nothing: they become reclaim candidates. A committed write's blobs are
   * referenced, unless a later mutation already replaced them while they were pinned, in which case
   * that mutation left them queued; so the queue is worked through whenever it is not empty.
   */
  async #releaseBlobs(blobs: readonly StoredBlob[], committed: boolean): Promise<void> {
    for (const blob of blobs) {
      const key = pinKey(blob.mountPath, blob.contentId);
      const pins = this.#pins.get(key) ?? 0;
      assert(pins > 0, `blob ${blob.contentId} released more often than pinned`);
      if (pins === 1) this.#pins.delete(key);
      else this.#pins.set(key, pins - 1);
      if (!committed) this.#reclaimCandidates.set(key, { mountPath: blob.mountPath, contentId: blob.contentId });
    }
    if (this.#reclaimCandidates.size > 0 && !this.#closed) await this.#lock.run(() => this.#reclaimLocked());
  }

  /**
   * Deletes candidate blobs that no entry refers to and no write has pinned. While a stream upload
   * is in flight its id is unknown, so reclaiming waits for it (the candidates stay queued).
   */
  async #reclaimLocked(): Promise<void> {
    if (this.#streamUploadsInFlight > 0) return;
    for (const [key, candidate] of this.#reclaimCandidates) {
      if (this.#pins.has(key)) continue;
      this.#reclaimCandidates.delete(key);
      if ((await this.metastore.get(referenceKey(candidate.mountPath, candidate.contentId))) !== undefined) continue;
      const mount = this.#mounts.attachedAt(candidate.mountPath);
      if (mount !== undefined) await mount.store.delete(candidate.contentId);
    }
  }
}

// ---------------------------------------------------------------- helpers

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function isDirectoryLike(entry: StoredEntry): boolean {
  return entry.type === 'DIR' || entry.type === 'MOUNT';
}

function describeType(entry: StoredEntry): string {
  return { REG: 'file', DIR: 'directory', MOUNT: 'mount point', LINK: 'link' }[entry.type];
}

function describeVersion(metadata: { version: number } | undefined): string {
  return metadata === undefined ? 'no file' : `version ${metadata.version}`;
}

function pinKey(mountPath: string, contentId: string): string {
  return `${mountPath}\u0000${contentId}`;
}

function checkPreconditions(path: string, existing: StoredEntry | undefined, options: WriteOptions, operation: string): void {
  if (options.ifNoneMatch === '*' && existing !== undefined) {
    throw new ConflictError(`cannot ${operation} ${path}: it exists (version ${existing.version}) and ifNoneMatch is '*'`);
  }
  if (options.ifMatch !== undefined && existing?.version !== options.ifMatch) {
    throw new ConflictError(`cannot ${operation} ${path}: expected version ${options.ifMatch}, found ${describeVersion(existing)}`);
  }
}

function validateWriteOptions(options: WriteOptions, operation: string): void {
  if (options.ifMatch !== undefined && !(Number.isSafeInteger(options.ifMatch) && options.ifMatch >= 0)) {
    throw new InvalidArgumentError(`cannot ${operation}: ifMatch must be a version (a non-negative integer)`);
  }
  if (options.ifNoneMatch !== undefined && options.ifNoneMatch !== '*') {
    throw new InvalidArgumentError(`cannot ${operation}: ifNoneMatch may only be '*'`);
  }
  if (options.mimeType !== undefined && (typeof options.mimeType !== 'string' || options.mimeType.length > 255)) {
    throw new InvalidArgumentError(`cannot ${operation}: mimeType must be a string of at most 255 characters`);
  }
}

function validateRange(options: ReadOptions, operation: string): { offset: number; length: number | undefined } | undefined {
  if (options.offset === undefined && options.length === undefined) return undefined;
  const offset = options.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidArgumentError(`cannot ${operation}: offset must be a non-negative integer`);
  if (options.length !== undefined && (!Number.isSafeInteger(options.length) || options.length < 0)) {
    throw new InvalidArgumentError(`cannot ${operation}: length must be a non-negative integer`);
  }
  return { offset, length: options.length };
}

/** A read range cut to the file: reading at or past the end gives zero bytes, as pread does. */
function cutRange(range: { offset: number; length: number | undefined }, sizeBytes: number): { offset: number; length: number } {
  const offset = Math.min(range.offset, sizeBytes);
  const length = Math.min(range.length ?? sizeBytes, sizeBytes - offset);
  return { offset, length };
}

function validateLimit(limit: number | undefined, fallback: number, maximum: number, operation: string): number {
  if (limit === undefined) return fallback;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > maximum) {
    throw new InvalidArgumentError(`cannot ${operation}: limit must be an integer from 1 to ${maximum}`);
  }
  return limit;
}

function validateCount(value: number, maximum: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > maximum) {
    throw new InvalidArgumentError(`${name} must be an integer from 0 to ${maximum}`);
  }
  return value;
}

function validateBatch(items: readonly unknown[], operation: string): void {
  if (!Array.isArray(items)) throw new InvalidArgumentError(`${operation} needs an array`);
  if (items.length > BATCH_ITEMS_MAX) throw new InvalidArgumentError(`${operation} takes at most ${BATCH_ITEMS_MAX} items`);
}

function toBytes(data: Uint8Array | string, operation: string): Uint8Array {
  if (typeof data === 'string') return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  throw new InvalidArgumentError(`cannot ${operation}: content must be a Uint8Array, a string or a ReadableStream`);
}

/** The child of `directory` on the way to its descendant `path`. */
function childOnTheWay(directory: string, path: string): string {
  const rest = path.slice(directory === ROOT_PATH ? 1 : directory.length + 1);
  return joinPath(directory, rest.slice(0, rest.indexOf('/')));
}

/** Whether a change event concerns a watcher of `watched`: inside it, or taking it away or along. */
function concerns(event: ChangeEvent, watched: string): boolean {
  if (isWithin(event.path, watched)) return true;
  if (event.fromPath !== undefined && isWithin(event.fromPath, watched)) return true;
  // A delete, unmount or move of an ancestor takes the watched path with it.
  if (event.type === 'delete' || event.type === 'unmount') return isWithin(watched, event.path);
  return event.type === 'rename' && event.fromPath !== undefined && isWithin(watched, event.fromPath);
}

async function settle<T>(path: string, run: () => Promise<T>): Promise<BatchResult<T>> {
  try {
    return { path, ok: true, value: await run() };
  } catch (error) {
    if (!(error instanceof NexusError)) throw error;
    return { path, ok: false, error: error.toJSON() };
  }
}

function settleSync<T>(path: string, run: () => T): BatchResult<T> {
  try {
    return { path, ok: true, value: run() };
  } catch (error) {
    if (!(error instanceof NexusError)) throw error;
    return { path, ok: false, error: error.toJSON() };
  }
}

async function* single<T>(item: T): AsyncGenerator<T> {
  yield item;
}
