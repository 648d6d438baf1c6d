import { errorFromResponseText, InvalidArgumentError, NotFoundError, PROTOCOL_ERROR_CODE, RemoteApiError } from '../../kernel/errors.ts';
import { normalizePath } from '../../kernel/fs/paths.ts';
import type {
  BatchResult,
  ChangeEvent,
  CopyOptions,
  DeleteOptions,
  Edit,
  EditResult,
  FileMetadata,
  FileSystem,
  GlobOptions,
  GrepMatch,
  GrepOptions,
  ListOptions,
  ListPage,
  MkdirOptions,
  ReadOptions,
  RenameOptions,
  WatchOptions,
  WriteManyItem,
  WriteOptions,
} from '../../kernel/fs/types.ts';
import { ApiConnection, type RemoteOptions } from './api-connection.ts';
import { ServerSentEventReader } from './server-sent-events.ts';
import {
  bytesFromWire,
  bytesToWire,
  encodeUrlPath,
  formatEtag,
  readBatchResults,
  readChangeEvent,
  readEditResult,
  readGrepMatches,
  readListPage,
  readMetadata,
  readMetadataList,
  readPaths,
  readRevision,
  ROUTES,
  WATCH_EVENT,
} from './wire.ts';

/** A watch stream line longer than this is refused: a change event is two paths and metadata. */
const WATCH_LINE_CHARACTERS_MAX = 1024 * 1024;

const encoder = new TextEncoder();

export type RemoteNexusFSOptions = RemoteOptions;

/**
 * The file API of a nexusfs server, over its HTTP API, with `fetch` only: the same in Node, Deno,
 * Workers and browsers. It behaves as the embedded NexusFS does, errors included: the server's
 * error codes come back as the kernel's error classes (ENOENT as NotFoundError, ...); a 401 is
 * UnauthenticatedError (EAUTH). Network failures are fetch's own errors.
 *
 * Paths that travel in URLs are normalised here first (URL parsers would resolve `..` themselves),
 * with the kernel's own rules and errors; the server checks every path again. Streams go both ways
 * unbuffered: `write` sends a ReadableStream as a streamed request body, `readStream` returns the
 * response body.
 */
export class RemoteNexusFS implements FileSystem {
  readonly #connection: ApiConnection;

  constructor(options: RemoteNexusFSOptions) {
    this.#connection = new ApiConnection(options);
  }

  async read(path: string, options: ReadOptions = {}): Promise<Uint8Array> {
    const response = await this.#connection.send({ method: 'GET', path: fileUrl(ROUTES.files, path, 'read'), query: rangeQuery(options) });
    return new Uint8Array(await response.arrayBuffer());
  }

  async readStream(path: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const response = await this.#connection.send({ method: 'GET', path: fileUrl(ROUTES.files, path, 'read'), query: rangeQuery(options) });
    return response.body ?? new ReadableStream({ start: (controller) => controller.close() });
  }

  async write(path: string, data: Uint8Array | string | ReadableStream<Uint8Array>, options: WriteOptions = {}): Promise<FileMetadata> {
    const url = fileUrl(ROUTES.files, path, 'write');
    const body = data instanceof ReadableStream ? data : bytesOf(data, `write ${path}`);
    const headers: Record<string, string> = { ...ifMatchHeader(options.ifMatch) };
    if (options.ifNoneMatch !== undefined) headers['if-none-match'] = String(options.ifNoneMatch);
    if (options.mimeType !== undefined) headers['content-type'] = String(options.mimeType);
    return readMetadata(await this.#connection.json({ method: 'PUT', path: url, headers, body }));
  }

  async append(path: string, data: Uint8Array | string, options: Pick<WriteOptions, 'ifMatch'> = {}): Promise<FileMetadata> {
    const url = fileUrl(ROUTES.append, path, 'append to');
    const body = bytesOf(data, `append to ${path}`);
    return readMetadata(await this.#connection.json({ method: 'POST', path: url, headers: ifMatchHeader(options.ifMatch), body }));
  }

  async stat(path: string): Promise<FileMetadata> {
    return readMetadata(await this.#connection.json({ method: 'GET', path: fileUrl(ROUTES.stat, path, 'stat') }));
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.stat(path);
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }

  async list(path: string, options: ListOptions = {}): Promise<ListPage> {
    const query = { recursive: options.recursive, limit: options.limit, cursor: options.cursor };
    return readListPage(await this.#connection.json({ method: 'GET', path: fileUrl(ROUTES.list, path, 'list'), query }));
  }

  async mkdir(path: string, options: MkdirOptions = {}): Promise<FileMetadata> {
    const query = { parents: options.parents, existOk: options.existOk };
    return readMetadata(await this.#connection.json({ method: 'POST', path: fileUrl(ROUTES.mkdir, path, 'mkdir'), query }));
  }

  async delete(path: string, options: DeleteOptions = {}): Promise<void> {
    const url = fileUrl(ROUTES.files, path, 'delete');
    const response = await this.#connection.send({ method: 'DELETE', path: url, query: { recursive: options.recursive }, headers: ifMatchHeader(options.ifMatch) });
    await response.body?.cancel();
  }

  async rename(from: string, to: string, options: RenameOptions = {}): Promise<FileMetadata> {
    return readMetadata(await this.#connection.json({ method: 'POST', path: ROUTES.rename, json: { from, to, ...options } }));
  }

  async copy(from: string, to: string, options: CopyOptions = {}): Promise<FileMetadata> {
    return readMetadata(await this.#connection.json({ method: 'POST', path: ROUTES.copy, json: { from, to, ...options } }));
  }

  async glob(pattern: string, options: GlobOptions = {}): Promise<string[]> {
    const query = { pattern, path: options.path, limit: options.limit };
    return readPaths(await this.#connection.json({ method: 'GET', path: ROUTES.glob, query }));
  }

  async grep(pattern: string, options: GrepOptions = {}): Promise<GrepMatch[]> {
    return readGrepMatches(await this.#connection.json({ method: 'POST', path: ROUTES.grep, json: { pattern, ...options } }));
  }

  async edit(path: string, edits: readonly Edit[], options: Pick<WriteOptions, 'ifMatch'> = {}): Promise<EditResult> {
    const url = fileUrl(ROUTES.edit, path, 'edit');
    return readEditResult(await this.#connection.json({ method: 'POST', path: url, json: { edits, ...options } }));
  }

  async *watch(path: string, options: WatchOptions = {}): AsyncGenerator<ChangeEvent> {
    const { signal } = options;
    const url = fileUrl(ROUTES.watch, path, 'watch');
    if (isAborted(signal)) return;
    let response: Response;
    try {
      response = await this.#connection.send({ method: 'GET', path: url, query: { since: options.since }, signal, headers: { accept: 'text/event-stream' } });
    } catch (error) {
      if (isAborted(signal)) return;
      throw error;
    }
    if (response.body === null) throw new RemoteApiError(PROTOCOL_ERROR_CODE, 'the watch answer has no body', response.status);
    const events = new ServerSentEventReader(response.body, WATCH_LINE_CHARACTERS_MAX);
    try {
      for (;;) {
        const message = await events.next(signal);
        if (message === undefined || isAborted(signal)) return;
        if (message.event === WATCH_EVENT.change) yield readChangeEvent(parseJson(message.data));
        else if (message.event === WATCH_EVENT.error) throw errorFromResponseText(200, message.data);
      }
    } catch (error) {
      if (isAborted(signal)) return; // an abort may surface as fetch's AbortError
      throw error;
    } finally {
      await events.close();
    }
  }

  async readMany(paths: readonly string[]): Promise<BatchResult<Uint8Array>[]> {
    if (!Array.isArray(paths)) throw new InvalidArgumentError('readMany needs an array');
    const answer = await this.#connection.json({ method: 'POST', path: ROUTES.readMany, json: { paths } });
    return readBatchResults(answer, (value) => {
      const bytes = bytesFromWire(value);
      if (bytes === undefined) throw new RemoteApiError(PROTOCOL_ERROR_CODE, 'a batch read answer holds bytes that are not base64url', 200);
      return bytes;
    });
  }

  async writeMany(files: readonly WriteManyItem[]): Promise<FileMetadata[]> {
    if (!Array.isArray(files)) throw new InvalidArgumentError('writeMany needs an array');
    const items = files.map((file: WriteManyItem) => {
      const item = { path: file?.path, data: bytesToWire(bytesOf(file?.data, `writeMany ${String(file?.path)}`)) };
      return file?.options === undefined ? item : { ...item, options: file.options };
    });
    return readMetadataList(await this.#connection.json({ method: 'POST', path: ROUTES.writeMany, json: { files: items } }));
  }

  async statMany(paths: readonly string[]): Promise<BatchResult<FileMetadata>[]> {
    if (!Array.isArray(paths)) throw new InvalidArgumentError('statMany needs an array');
    return readBatchResults(await this.#connection.json({ method: 'POST', path: ROUTES.statMany, json: { paths } }), readMetadata);
  }

  async revision(): Promise<number> {
    return readRevision(await this.#connection.json({ method: 'GET', path: ROUTES.revision }));
  }
}

/** A route with a file path: normalised by the kernel's rules (EINVAL as the kernel gives it), then encoded. */
function fileUrl(route: string, path: string, operation: string): string {
  return route + encodeUrlPath(normalizePath(path, operation));
}

function rangeQuery(options: ReadOptions): Record<string, number | undefined> {
  return { offset: options.offset, length: options.length };
}

function ifMatchHeader(ifMatch: number | undefined): Record<string, string> {
  return ifMatch === undefined ? {} : { 'if-match': formatEtag(ifMatch) };
}

/** Bytes to send: strings as UTF-8, as the kernel stores them; anything else is EINVAL, as in the kernel. */
function bytesOf(data: unknown, operation: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') return encoder.encode(data);
  throw new InvalidArgumentError(`cannot ${operation}: data must be a Uint8Array or a string`);
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RemoteApiError(PROTOCOL_ERROR_CODE, `a watch event is not JSON: ${text.slice(0, 80)}`, 200);
  }
}
