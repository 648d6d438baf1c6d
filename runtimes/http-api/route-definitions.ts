import { createRoute, z } from '@hono/zod-openapi';
import { ROUTES } from './wire.ts';

/**
 * Every route of the HTTP API as data: method, path, parameters, bodies and answers, with the zod
 * schemas the server validates requests against. `createHttpApi` serves each one and generates the
 * OpenAPI document (`GET /api/v1/openapi.json`) from these same definitions, so the document cannot
 * drift from what the server accepts.
 *
 * A `{path}` parameter is a file path: its `/` separators kept as they are, each component
 * percent-encoded (`/api/v1/files/notes/to%20do.md`); the root is the empty path (`/api/v1/list/`).
 */

// ---- shared schemas

const FileMetadata = z
  .object({
    path: z.string().openapi({ example: '/notes/todo.md' }),
    type: z.enum(['REG', 'DIR', 'MOUNT', 'LINK']),
    sizeBytes: z.number().int(),
    contentId: z.string().nullable().openapi({ description: 'SHA-256 of the content in lowercase hex; null for a directory' }),
    version: z.number().int().openapi({ description: 'Increases on every change of this path; the ETag is "<version>"' }),
    createdAtMs: z.number().int().openapi({ description: 'Milliseconds since the epoch' }),
    modifiedAtMs: z.number().int().openapi({ description: 'Milliseconds since the epoch' }),
    mimeType: z.string().nullable(),
    owner: z.string().nullable(),
    zoneId: z.string(),
    targetZone: z.string().nullable(),
  })
  .openapi('FileMetadata');

const ErrorAnswer = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'ENOENT', description: 'A stable code: the kernel error codes, or EINTERNAL' }),
      message: z.string().openapi({ example: 'cannot stat /missing: no such file or directory' }),
    }),
  })
  .openapi('Error');

const ApiKeyInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    admin: z.boolean(),
    createdAtMs: z.number().int(),
    revokedAtMs: z.number().int().optional(),
  })
  .openapi('ApiKeyInfo');

const GrepMatch = z
  .object({
    path: z.string(),
    lineNumber: z.number().int().openapi({ description: '1-based' }),
    line: z.string(),
    before: z.array(z.string()),
    after: z.array(z.string()),
  })
  .openapi('GrepMatch');

const ChangeEvent = z
  .object({
    revision: z.number().int(),
    type: z.enum(['write', 'mkdir', 'delete', 'rename', 'mount', 'unmount']),
    path: z.string(),
    fromPath: z.string().optional(),
    metadata: FileMetadata.optional(),
    timestampMs: z.number().int(),
  })
  .openapi('ChangeEvent');

const BatchError = z.object({ code: z.string(), message: z.string() });

/** A query value that must be a non-negative integer; the kernel checks its range. */
const IntegerText = z
  .string()
  .regex(/^\d{1,16}$/, 'must be a non-negative integer')
  .transform(Number);

const BooleanText = z.enum(['true', 'false']).transform((value) => value === 'true');

const PathParameter = z.object({
  path: z.string().openapi({
    param: { name: 'path', in: 'path' },
    description: 'A file path, its / kept, each component percent-encoded; empty for the root',
    example: 'notes/todo.md',
  }),
});

const IfMatchHeader = z.string().openapi({ description: 'Only if the file is at this version: an ETag "<version>"', example: '"3"' });

const JSON_TYPE = 'application/json';

function json<S extends z.ZodType>(schema: S, description: string) {
  return { content: { [JSON_TYPE]: { schema } }, description };
}

function jsonBody<S extends z.ZodType>(schema: S) {
  return { content: { [JSON_TYPE]: { schema } }, required: true };
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid argument (EINVAL): a bad path, parameter or body',
  401: 'No API key, or an unknown or revoked one (EAUTH)',
  403: 'Not allowed (EACCES): a reserved path, or a key route with an agent key',
  404: 'No such file or directory (ENOENT)',
  409: 'EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, EBUSY or EXDEV',
  410: 'The change log no longer holds that revision (ECOMPACTED)',
  412: 'A precondition failed: If-Match or If-None-Match (ECONFLICT)',
  413: 'The body is larger than the server accepts',
  416: 'The Range cannot be served',
  503: 'Too many watch streams, or the file system is closing',
};

/** The error answers a route may give, besides 400, 401 and 500, which every route may give. */
function errors(...statuses: number[]) {
  const answers: Record<number, ReturnType<typeof json>> = {};
  for (const status of [400, 401, ...statuses]) answers[status] = json(ErrorAnswer, ERROR_DESCRIPTIONS[status]!);
  answers[500] = json(ErrorAnswer, 'An unexpected error (EINTERNAL) or corrupt data (ECORRUPT); never a stack trace');
  return answers;
}

const tags = (tag: string) => ({ tags: [tag] });

// ---- files

export const readFileRoute = createRoute({
  method: 'get',
  path: `${ROUTES.files}/{path}`,
  ...tags('files'),
  summary: 'Read a file, streamed; Range and ETag supported',
  request: {
    params: PathParameter,
    query: z.strictObject({
      offset: IntegerText.optional().openapi({ description: 'Read from this byte (kernel semantics: past the end gives no bytes)' }),
      length: IntegerText.optional().openapi({ description: 'Read at most this many bytes' }),
    }),
    headers: z.object({ range: z.string().optional().openapi({ example: 'bytes=0-99', description: 'One byte range' }) }),
  },
  responses: {
    200: { description: 'The bytes', content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
    206: { description: 'The requested range', content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
    ...errors(403, 404, 409, 416),
  },
});

export const headFileRoute = createRoute({
  method: 'head',
  path: `${ROUTES.files}/{path}`,
  ...tags('files'),
  summary: "A file's headers (Content-Length, ETag, Content-Type, Last-Modified) without its bytes",
  request: { params: PathParameter },
  responses: { 200: { description: 'The headers of a GET' }, 404: { description: 'No such file' }, 409: { description: 'A directory' } },
});

export const writeFileRoute = createRoute({
  method: 'put',
  path: `${ROUTES.files}/{path}`,
  ...tags('files'),
  summary: 'Create or replace a file from the raw, streamed body; missing parents are created',
  request: {
    params: PathParameter,
    headers: z.object({
      'if-match': IfMatchHeader.optional(),
      'if-none-match': z.literal('*').optional().openapi({ description: 'Only if the file does not exist' }),
      'content-type': z.string().optional().openapi({ description: 'Recorded as the mime type (else guessed from the name)' }),
    }),
    body: { content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
  },
  responses: { 200: json(FileMetadata, 'The new metadata'), ...errors(403, 409, 412, 413) },
});

export const deleteFileRoute = createRoute({
  method: 'delete',
  path: `${ROUTES.files}/{path}`,
  ...tags('files'),
  summary: 'Remove a file or an empty directory; a whole tree with recursive=true',
  request: {
    params: PathParameter,
    query: z.strictObject({ recursive: BooleanText.optional() }),
    headers: z.object({ 'if-match': IfMatchHeader.optional() }),
  },
  responses: { 204: { description: 'Removed' }, ...errors(403, 404, 409, 412) },
});

export const appendRoute = createRoute({
  method: 'post',
  path: `${ROUTES.append}/{path}`,
  ...tags('files'),
  summary: 'Append the raw body to a file, creating it when absent',
  request: {
    params: PathParameter,
    headers: z.object({ 'if-match': IfMatchHeader.optional() }),
    body: { content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
  },
  responses: { 200: json(FileMetadata, 'The new metadata'), ...errors(403, 409, 412, 413) },
});

export const statRoute = createRoute({
  method: 'get',
  path: `${ROUTES.stat}/{path}`,
  ...tags('files'),
  summary: "A path's metadata",
  request: { params: PathParameter },
  responses: { 200: json(FileMetadata, 'The metadata'), ...errors(403, 404) },
});

export const listRoute = createRoute({
  method: 'get',
  path: `${ROUTES.list}/{path}`,
  ...tags('files'),
  summary: 'Entries below a directory, in path order, a page at a time',
  request: {
    params: PathParameter,
    query: z.strictObject({
      recursive: BooleanText.optional(),
      limit: IntegerText.optional(),
      cursor: z.string().max(16 * 1024).optional().openapi({ description: 'The cursor of the previous page' }),
    }),
  },
  responses: {
    200: json(z.object({ entries: z.array(FileMetadata), cursor: z.string().optional() }).openapi('ListPage'), 'One page; a cursor when more follow'),
    ...errors(403, 404, 409),
  },
});

export const mkdirRoute = createRoute({
  method: 'post',
  path: `${ROUTES.mkdir}/{path}`,
  ...tags('files'),
  summary: 'Create a directory',
  request: { params: PathParameter, query: z.strictObject({ parents: BooleanText.optional(), existOk: BooleanText.optional() }) },
  responses: { 200: json(FileMetadata, 'The directory'), ...errors(403, 404, 409) },
});

const EditSchema = z.strictObject({ search: z.string(), replace: z.string(), replaceAll: z.boolean().optional() });

export const editRoute = createRoute({
  method: 'post',
  path: `${ROUTES.edit}/{path}`,
  ...tags('files'),
  summary: 'Apply search/replace edits to a text file, atomically',
  request: {
    params: PathParameter,
    body: jsonBody(z.strictObject({ edits: z.array(EditSchema), ifMatch: z.number().int().optional() })),
  },
  responses: {
    200: json(z.object({ metadata: FileMetadata, replacements: z.array(z.number().int()) }), 'The new metadata and the count each edit replaced'),
    ...errors(403, 404, 409, 412, 413),
  },
});

const FromTo = { from: z.string(), to: z.string() };

export const renameRoute = createRoute({
  method: 'post',
  path: `${ROUTES.rename}`,
  ...tags('files'),
  summary: 'Move a file or a directory (metadata only)',
  request: { body: jsonBody(z.strictObject({ ...FromTo, overwrite: z.boolean().optional(), ifMatch: z.number().int().optional() })) },
  responses: { 200: json(FileMetadata, 'The moved entry'), ...errors(403, 404, 409, 412, 413) },
});

export const copyRoute = createRoute({
  method: 'post',
  path: `${ROUTES.copy}`,
  ...tags('files'),
  summary: 'Copy a file, or a directory with recursive',
  request: { body: jsonBody(z.strictObject({ ...FromTo, overwrite: z.boolean().optional(), recursive: z.boolean().optional() })) },
  responses: { 200: json(FileMetadata, 'The copy'), ...errors(403, 404, 409, 413) },
});

// ---- search

export const globRoute = createRoute({
  method: 'get',
  path: `${ROUTES.glob}`,
  ...tags('search'),
  summary: 'Paths matching a glob, in path order',
  request: {
    query: z.strictObject({
      pattern: z.string().min(1).max(4096).openapi({ example: '**/*.md' }),
      path: z.string().optional().openapi({ description: 'Only below this directory' }),
      limit: IntegerText.optional(),
    }),
  },
  responses: { 200: json(z.object({ paths: z.array(z.string()) }), 'The matching paths'), ...errors(403) },
});

export const grepRoute = createRoute({
  method: 'post',
  path: `${ROUTES.grep}`,
  ...tags('search'),
  summary: 'Lines matching a regular expression below a path',
  request: {
    body: jsonBody(
      z.strictObject({
        pattern: z.string().max(4096),
        path: z.string().optional(),
        glob: z.string().optional(),
        ignoreCase: z.boolean().optional(),
        maxResults: z.number().int().optional(),
        contextLines: z.number().int().optional(),
      }),
    ),
  },
  responses: { 200: json(z.object({ matches: z.array(GrepMatch) }), 'The matches'), ...errors(403, 404, 413) },
});

// ---- watch and revision

export const watchRoute = createRoute({
  method: 'get',
  path: `${ROUTES.watch}/{path}`,
  ...tags('watch'),
  summary: 'Change events for a path and below, as server-sent events',
  description:
    'Each change is an event `change` whose data is a ChangeEvent and whose id is its revision. ' +
    'First the events after `since` (from the change log), then live ones. Without `since`, changes ' +
    'from the request on. An error after the stream started (ECOMPACTED) is an event `error` whose ' +
    'data is an Error, and the stream ends.',
  request: { params: PathParameter, query: z.strictObject({ since: IntegerText.optional() }) },
  responses: {
    200: { description: 'An endless event stream', content: { 'text/event-stream': { schema: ChangeEvent } } },
    ...errors(403, 503),
  },
});

export const revisionRoute = createRoute({
  method: 'get',
  path: `${ROUTES.revision}`,
  ...tags('watch'),
  summary: 'The current zone revision',
  responses: { 200: json(z.object({ revision: z.number().int() }), 'The revision'), ...errors() },
});

// ---- batches

const PathList = z.strictObject({ paths: z.array(z.string()) });
const BatchResults = (value: z.ZodType) =>
  z.object({
    results: z.array(
      z.union([
        z.object({ path: z.string(), ok: z.literal(true), value }),
        z.object({ path: z.string(), ok: z.literal(false), error: BatchError }),
      ]),
    ),
  });

export const readManyRoute = createRoute({
  method: 'post',
  path: `${ROUTES.readMany}`,
  ...tags('batch'),
  summary: 'Read many files; each result on its own',
  request: { body: jsonBody(PathList) },
  responses: { 200: json(BatchResults(z.string().openapi({ description: 'The bytes, base64url' })), 'One result per path'), ...errors(413) },
});

export const statManyRoute = createRoute({
  method: 'post',
  path: `${ROUTES.statMany}`,
  ...tags('batch'),
  summary: 'Stat many paths; each result on its own',
  request: { body: jsonBody(PathList) },
  responses: { 200: json(BatchResults(FileMetadata), 'One result per path'), ...errors(413) },
});

export const writeManyRoute = createRoute({
  method: 'post',
  path: `${ROUTES.writeMany}`,
  ...tags('batch'),
  summary: 'Write many files in one atomic batch: all or none',
  request: {
    body: jsonBody(
      z.strictObject({
        files: z.array(
          z.strictObject({
            path: z.string(),
            data: z.string().openapi({ description: 'The bytes, base64url' }),
            options: z
              .strictObject({ ifMatch: z.number().int().optional(), ifNoneMatch: z.literal('*').optional(), mimeType: z.string().optional() })
              .optional(),
          }),
        ),
      }),
    ),
  },
  responses: { 200: json(z.object({ entries: z.array(FileMetadata) }), 'The metadata of each file, in order'), ...errors(403, 409, 412, 413) },
});

// ---- keys (admin keys only)

export const listKeysRoute = createRoute({
  method: 'get',
  path: `${ROUTES.keys}`,
  ...tags('keys'),
  summary: 'Every API key, revoked ones included, oldest first (admin)',
  responses: { 200: json(z.object({ keys: z.array(ApiKeyInfo) }), 'The keys'), ...errors(403) },
});

export const createKeyRoute = createRoute({
  method: 'post',
  path: `${ROUTES.keys}`,
  ...tags('keys'),
  summary: 'Create an API key; the secret is in this answer only (admin)',
  request: { body: jsonBody(z.strictObject({ name: z.string(), admin: z.boolean().optional() })) },
  responses: { 201: json(z.object({ info: ApiKeyInfo, key: z.string() }).openapi('CreatedApiKey'), 'The key'), ...errors(403, 409, 413) },
});

export const revokeKeyRoute = createRoute({
  method: 'delete',
  path: `${ROUTES.keys}/{idOrName}`,
  ...tags('keys'),
  summary: 'Revoke a key by id or by the name of a live key (admin)',
  request: { params: z.object({ idOrName: z.string().openapi({ param: { name: 'idOrName', in: 'path' } }) }) },
  responses: { 200: json(ApiKeyInfo, 'The revoked key'), ...errors(403, 404) },
});

export type ApiRouteDefinition = ReturnType<typeof createRoute>;
