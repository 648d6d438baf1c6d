import { ConflictError, InvalidArgumentError, IsDirectoryError } from '../../kernel/errors.ts';
import {
  type FileMetadata,
  type FileSystem,
  GLOB_RESULTS_MAX,
  GREP_RESULTS_DEFAULT,
  LIST_LIMIT_DEFAULT,
  type ReadOptions,
  type WriteOptions,
} from '../../kernel/fs/types.ts';
import { type HttpApiContext, parseWith, type RouteRegistrar } from './http-api.ts';
import { checkDeclaredLength, limitUpload, payloadTooLarge, readBodyBytes, readJsonBody } from './request-body.ts';
import {
  appendRoute,
  copyRoute,
  deleteFileRoute,
  editRoute,
  globRoute,
  grepRoute,
  headFileRoute,
  listRoute,
  mkdirRoute,
  readFileRoute,
  readManyRoute,
  renameRoute,
  revisionRoute,
  statManyRoute,
  statRoute,
  writeFileRoute,
  writeManyRoute,
} from './route-definitions.ts';
import { bytesFromWire, bytesToWire, decodeUrlPath, formatEtag, HttpStatusError, parseEtag, ROUTES } from './wire.ts';

/** A read whose metadata changed between its two stats is retried this often before ECONFLICT. */
const CONSISTENT_READ_ATTEMPTS_MAX = 3;

/**
 * curl sends this type for `-d`/`--data-binary` unless told otherwise; no file is ever meant to be
 * of it, so an upload with it records no mime type (the kernel guesses one from the name).
 */
const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/** The file routes: files, stat, list, mkdir, append, edit, rename, copy, glob, grep, revision, batches. */
export function registerFileRoutes(registrar: RouteRegistrar): void {
  const { fs, limits } = registrar;
  const pathOf = (context: HttpApiContext, prefix: string): string =>
    decodeUrlPath(new URL(context.req.url).pathname.slice(prefix.length), limits.pathBytesMax);
  const jsonOf = (context: HttpApiContext): Promise<unknown> =>
    readJsonBody(context.req.raw, { bytesMax: limits.requestBodyBytesMax, depthMax: limits.jsonDepthMax });

  // HEAD before GET: hono would otherwise answer a HEAD with the GET route, reading the bytes.
  registrar.serve(headFileRoute, async (context) => {
    const metadata = await fs.stat(pathOf(context, ROUTES.files));
    if (metadata.type !== 'REG') throw new IsDirectoryError(`cannot read ${metadata.path}: it is a directory`);
    return new Response(null, { status: 200, headers: fileHeaders(metadata, metadata.sizeBytes) });
  });

  registrar.serve(readFileRoute, async (context) => {
    const path = pathOf(context, ROUTES.files);
    const query = parseWith(readFileRoute.request.query, context.req.query(), 'query');
    const rangeHeader = context.req.header('range');
    if (rangeHeader !== undefined && (query.offset !== undefined || query.length !== undefined)) {
      throw new InvalidArgumentError('give either a Range header or offset/length, not both');
    }
    const read = await consistentRead(fs, path, (sizeBytes) => {
      if (rangeHeader !== undefined) return parseRange(rangeHeader, sizeBytes);
      if (query.offset === undefined && query.length === undefined) return undefined;
      return { offset: query.offset, length: query.length };
    });
    const { metadata, stream, range } = read;
    if (rangeHeader === undefined) {
      const lengthBytes = range === undefined ? metadata.sizeBytes : cutLength(range, metadata.sizeBytes);
      return new Response(stream, { status: 200, headers: fileHeaders(metadata, lengthBytes) });
    }
    const offset = range!.offset!;
    const length = range!.length!;
    const headers = fileHeaders(metadata, length);
    headers.set('content-range', `bytes ${offset}-${offset + length - 1}/${metadata.sizeBytes}`);
    return new Response(stream, { status: 206, headers });
  });

  registrar.serve(writeFileRoute, async (context) => {
    const path = pathOf(context, ROUTES.files);
    const options = writeOptionsOf(context);
    const contentType = context.req.header('content-type');
    if (contentType !== undefined && !contentType.toLowerCase().startsWith(FORM_CONTENT_TYPE)) options.mimeType = contentType;
    checkDeclaredLength(context.req.raw, limits.uploadBytesMax, 'an uploaded file');
    const body = context.req.raw.body;
    if (body === null) return metadataAnswer(context, await fs.write(path, new Uint8Array(0), options));
    const upload = limitUpload(body, limits.uploadBytesMax);
    try {
      return metadataAnswer(context, await fs.write(path, upload.stream, options));
    } catch (error) {
      if (upload.exceeded()) throw payloadTooLarge(limits.uploadBytesMax, 'an uploaded file');
      throw error;
    }
  });

  registrar.serve(deleteFileRoute, async (context) => {
    const path = pathOf(context, ROUTES.files);
    const query = parseWith(deleteFileRoute.request.query, context.req.query(), 'query');
    await fs.delete(path, { ...query, ...ifMatchOf(context) });
    return new Response(null, { status: 204 });
  });

  registrar.serve(appendRoute, async (context) => {
    const path = pathOf(context, ROUTES.append);
    const bytes = await readBodyBytes(context.req.raw, limits.requestBodyBytesMax, 'an appended body');
    return metadataAnswer(context, await fs.append(path, bytes, ifMatchOf(context)));
  });

  registrar.serve(statRoute, async (context) => metadataAnswer(context, await fs.stat(pathOf(context, ROUTES.stat))));

  registrar.serve(listRoute, async (context) => {
    const path = pathOf(context, ROUTES.list);
    const query = parseWith(listRoute.request.query, context.req.query(), 'query');
    const limit = boundedLimit(query.limit, { max: limits.listLimitMax, kernelDefault: LIST_LIMIT_DEFAULT, what: 'list limit' });
    return context.json(await fs.list(path, { ...query, limit }));
  });

  registrar.serve(mkdirRoute, async (context) => {
    const path = pathOf(context, ROUTES.mkdir);
    const query = parseWith(mkdirRoute.request.query, context.req.query(), 'query');
    return metadataAnswer(context, await fs.mkdir(path, query));
  });

  registrar.serve(editRoute, async (context) => {
    const path = pathOf(context, ROUTES.edit);
    const body = parseWith(editRoute.request.body.content['application/json'].schema, await jsonOf(context), 'edit request');
    const result = await fs.edit(path, body.edits, body.ifMatch === undefined ? {} : { ifMatch: body.ifMatch });
    context.header('etag', formatEtag(result.metadata.version));
    return context.json(result);
  });

  registrar.serve(renameRoute, async (context) => {
    const { from, to, ...options } = parseWith(renameRoute.request.body.content['application/json'].schema, await jsonOf(context), 'rename request');
    return metadataAnswer(context, await fs.rename(from, to, options));
  });

  registrar.serve(copyRoute, async (context) => {
    const { from, to, ...options } = parseWith(copyRoute.request.body.content['application/json'].schema, await jsonOf(context), 'copy request');
    return metadataAnswer(context, await fs.copy(from, to, options));
  });

  registrar.serve(globRoute, async (context) => {
    const { pattern, ...query } = parseWith(globRoute.request.query, context.req.query(), 'query');
    const limit = boundedLimit(query.limit, { max: limits.globResultsMax, kernelDefault: GLOB_RESULTS_MAX, what: 'glob limit' });
    return context.json({ paths: await fs.glob(pattern, { ...query, limit }) });
  });

  registrar.serve(grepRoute, async (context) => {
    const { pattern, ...options } = parseWith(grepRoute.request.body.content['application/json'].schema, await jsonOf(context), 'grep request');
    const maxResults = boundedLimit(options.maxResults, { max: limits.grepResultsMax, kernelDefault: GREP_RESULTS_DEFAULT, what: 'grep maxResults' });
    return context.json({ matches: await fs.grep(pattern, { ...options, maxResults }) });
  });

  registrar.serve(revisionRoute, async (context) => context.json({ revision: await fs.revision() }));

  registrar.serve(readManyRoute, async (context) => {
    const { paths } = parseWith(readManyRoute.request.body.content['application/json'].schema, await jsonOf(context), 'batch read request');
    checkBatch(paths.length, limits.batchItemsMax);
    const results = await fs.readMany(paths);
    return context.json({ results: results.map((result) => (result.ok ? { ...result, value: bytesToWire(result.value) } : result)) });
  });

  registrar.serve(statManyRoute, async (context) => {
    const { paths } = parseWith(statManyRoute.request.body.content['application/json'].schema, await jsonOf(context), 'batch stat request');
    checkBatch(paths.length, limits.batchItemsMax);
    return context.json({ results: await fs.statMany(paths) });
  });

  registrar.serve(writeManyRoute, async (context) => {
    const { files } = parseWith(writeManyRoute.request.body.content['application/json'].schema, await jsonOf(context), 'batch write request');
    checkBatch(files.length, limits.batchItemsMax);
    const items = files.map((file, index) => {
      const data = bytesFromWire(file.data);
      if (data === undefined) throw new InvalidArgumentError(`invalid batch write request: files.${index}.data is not base64url`);
      return file.options === undefined ? { path: file.path, data } : { path: file.path, data, options: file.options };
    });
    return context.json({ entries: await fs.writeMany(items) });
  });
}

function metadataAnswer(context: HttpApiContext, metadata: FileMetadata): Response {
  context.header('etag', formatEtag(metadata.version));
  return context.json(metadata);
}

function fileHeaders(metadata: FileMetadata, lengthBytes: number): Headers {
  return new Headers({
    'content-type': metadata.mimeType ?? 'application/octet-stream',
    'content-length': String(lengthBytes),
    etag: formatEtag(metadata.version),
    'last-modified': new Date(metadata.modifiedAtMs).toUTCString(),
    'accept-ranges': 'bytes',
    // Files are agents' data, never pages of this origin: no sniffing, no scripts.
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
  });
}

function ifMatchOf(context: HttpApiContext): { ifMatch?: number } {
  const header = context.req.header('if-match');
  return header === undefined ? {} : { ifMatch: parseEtag(header, 'If-Match') };
}

function writeOptionsOf(context: HttpApiContext): WriteOptions {
  const options: WriteOptions = ifMatchOf(context);
  const ifNoneMatch = context.req.header('if-none-match');
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw new InvalidArgumentError(`If-None-Match may only be *, got ${JSON.stringify(ifNoneMatch.slice(0, 80))}`);
    options.ifNoneMatch = '*';
  }
  return options;
}

/** A requested result limit within the server's `max`; without one, the kernel's default capped to it. */
function boundedLimit(requested: number | undefined, bounds: { max: number; kernelDefault: number; what: string }): number | undefined {
  if (requested === undefined) return bounds.kernelDefault > bounds.max ? bounds.max : undefined;
  if (requested > bounds.max) throw new InvalidArgumentError(`${bounds.what} is at most ${bounds.max} on this server, got ${requested}`);
  return requested;
}

function checkBatch(itemCount: number, itemsMax: number): void {
  if (itemCount > itemsMax) throw new InvalidArgumentError(`a batch holds at most ${itemsMax} items on this server, got ${itemCount}`);
}

interface ConsistentRead {
  readonly metadata: FileMetadata;
  readonly stream: ReadableStream<Uint8Array>;
  readonly range: ReadOptions | undefined;
}

/**
 * Opens a file's stream together with metadata that describes those very bytes: stat, open, stat
 * again, and retry when the file changed in between (its headers, ETag and Content-Length would
 * otherwise describe another version than the bytes sent).
 */
async function consistentRead(fs: FileSystem, path: string, rangeOf: (sizeBytes: number) => ReadOptions | undefined): Promise<ConsistentRead> {
  for (let attempt = 1; attempt <= CONSISTENT_READ_ATTEMPTS_MAX; attempt++) {
    const before = await fs.stat(path);
    const range = before.type === 'REG' ? rangeOf(before.sizeBytes) : undefined;
    const stream = await fs.readStream(path, range); // EISDIR and bad offsets come from the kernel
    const after = await fs.stat(path).catch(() => undefined);
    if (after !== undefined && after.version === before.version && after.contentId === before.contentId) {
      return { metadata: before, stream, range };
    }
    await stream.cancel().catch(() => {});
  }
  throw new ConflictError(`cannot read ${path}: it kept changing while the read started (${CONSISTENT_READ_ATTEMPTS_MAX} attempts)`);
}

/** How many bytes a kernel read range gives of a file of `sizeBytes` (reads past the end give none). */
function cutLength(range: ReadOptions, sizeBytes: number): number {
  const offset = Math.min(range.offset ?? 0, sizeBytes);
  return Math.min(range.length ?? sizeBytes, sizeBytes - offset);
}

/**
 * One range of `Range: bytes=first-last`, `bytes=first-` or `bytes=-suffix`, as offset and length
 * within the file. Anything else, several ranges, or a range the file cannot serve is 416 with
 * `Content-Range: bytes *\/size`.
 */
export function parseRange(header: string, sizeBytes: number): { offset: number; length: number } {
  const refuse = (why: string): HttpStatusError =>
    new HttpStatusError(416, new InvalidArgumentError(`cannot serve Range ${JSON.stringify(header.slice(0, 80))}: ${why}`), {
      'content-range': `bytes */${sizeBytes}`,
    });
  const match = /^\s*bytes\s*=\s*(\d{0,16})\s*-\s*(\d{0,16})\s*$/i.exec(header);
  if (match === null) throw refuse(header.includes(',') ? 'only one range is served' : 'expected bytes=first-last, bytes=first- or bytes=-suffix');
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '') {
    const suffix = Number(last);
    if (last === '' || suffix === 0) throw refuse('an empty suffix range');
    if (sizeBytes === 0) throw refuse('the file is empty');
    const offset = Math.max(0, sizeBytes - suffix);
    return { offset, length: sizeBytes - offset };
  }
  const offset = Number(first);
  if (offset >= sizeBytes) throw refuse(`it starts at or past the end of the file (${sizeBytes} bytes)`);
  const end = last === '' ? sizeBytes - 1 : Math.min(Number(last), sizeBytes - 1);
  if (end < offset) throw refuse('its last byte is before its first');
  return { offset, length: end - offset + 1 };
}
