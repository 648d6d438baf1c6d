import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { AccessDeniedError, INTERNAL_ERROR_CODE, InvalidArgumentError, NexusError, UnauthenticatedError } from '../../kernel/errors.ts';
import type { FileSystem } from '../../kernel/fs/types.ts';
import type { ApiKeyAdmin, ApiKeyAuthenticator, ApiKeyInfo } from '../../kernel/services/api-key-types.ts';
import { registerFileRoutes } from './file-routes.ts';
import { registerKeyRoutes } from './key-routes.ts';
import { type HttpApiLimits, resolveHttpApiLimits } from './limits.ts';
import type { ApiRouteDefinition } from './route-definitions.ts';
import { registerWatchRoute } from './watch-route.ts';
import {
  API_PATH,
  type ErrorBody,
  errorBody,
  HTTP_STATUS_BY_CODE,
  HttpStatusError,
  ROUTES,
} from './wire.ts';

export interface HttpApiOptions {
  /** The file system every file route works on. */
  readonly fs: FileSystem;
  /** Resolves the key of `Authorization: Bearer <key>`; undefined refuses the request (401). */
  readonly authenticate: ApiKeyAuthenticator;
  /** The key routes' backend; only admin keys may use them. */
  readonly keys: ApiKeyAdmin;
  readonly limits?: Partial<HttpApiLimits>;
  /**
   * Told of every unexpected error (answered 500 without its details); `console.error` by default.
   * Operating errors (NexusError) are answered, not reported.
   */
  readonly onUnexpectedError?: (error: unknown) => void;
}

export type HttpApiEnvironment = { Variables: { apiKey: ApiKeyInfo } };
export type HttpApiContext = Context<HttpApiEnvironment>;

/** What route modules get to register their routes with. */
export interface RouteRegistrar {
  readonly fs: FileSystem;
  readonly keys: ApiKeyAdmin;
  readonly limits: HttpApiLimits;
  readonly onUnexpectedError: (error: unknown) => void;
  serve(route: ApiRouteDefinition, handler: (context: HttpApiContext) => Promise<Response>): void;
}

/** What an error is answered with: its status, its JSON body, and any headers it needs. */
export interface ErrorAnswer {
  readonly status: number;
  readonly body: ErrorBody;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The nexusfs HTTP API as a hono app, runtime-neutral (no Node, Deno or Workers globals): Node
 * serves it through @hono/node-server, Deno through Deno.serve, Workers as the fetch handler.
 *
 * Every route is under `/api/v1` (route-definitions.ts lists them; `GET /api/v1/openapi.json` is the
 * OpenAPI document generated from those definitions). Every route but the OpenAPI document needs
 * `Authorization: Bearer <key>`: the document only describes the API, which is public anyway, and
 * tools fetch it without credentials. The key routes need an admin key (403 for an agent key).
 *
 * Errors are JSON `{"error": {"code", "message"}}` (wire.ts), with HTTP_STATUS_BY_CODE, and 405
 * for a known path with the wrong method (with `Allow`), 413, 416, 431, and 500 EINTERNAL for
 * anything unexpected, never with a stack trace.
 */
export function createHttpApi(options: HttpApiOptions): OpenAPIHono<HttpApiEnvironment> {
  const limits = resolveHttpApiLimits(options.limits);
  const onUnexpectedError = options.onUnexpectedError ?? ((error: unknown) => console.error('nexusfs HTTP API: unexpected error', error));
  const app = new OpenAPIHono<HttpApiEnvironment>();
  const allowedMethods: { pattern: RegExp; method: string }[] = [];

  app.onError((error, context) => {
    const answer = errorAnswer(error, onUnexpectedError);
    return context.json(answer.body, answer.status as 400, answer.headers);
  });
  app.notFound((context) => {
    const path = new URL(context.req.url).pathname;
    const allowed = [...new Set(allowedMethods.filter((route) => route.pattern.test(path)).map((route) => route.method))];
    if (allowed.length === 0) {
      return context.json(errorBody('ENOENT', `no route ${context.req.method} ${path.slice(0, 200)}`), 404);
    }
    const message = `${context.req.method} is not allowed on ${path.slice(0, 200)}: use ${allowed.join(', ')}`;
    return context.json(errorBody('EINVAL', message), 405, { allow: allowed.join(', ') });
  });

  app.use(`${API_PATH}/*`, async (context, next) => {
    checkHeaderBytes(context.req.raw.headers, limits.headerBytesMax);
    if (context.req.method === 'GET' && new URL(context.req.url).pathname === ROUTES.openapi) return next();
    context.set('apiKey', await authenticateRequest(context.req.header('authorization'), options.authenticate));
    await next();
  });

  const registrar: RouteRegistrar = {
    fs: options.fs,
    keys: options.keys,
    limits,
    onUnexpectedError,
    serve(route, handler) {
      app.openAPIRegistry.registerPath(route);
      const routingPath = route.path.replace('/{path}', '/*').replace(/\{(\w+)\}/g, ':$1');
      const method = route.method.toUpperCase();
      app.on(method, routingPath, (context) => handler(context));
      allowedMethods.push({ method, pattern: patternOf(routingPath) });
    },
  };
  registerFileRoutes(registrar);
  registerWatchRoute(registrar);
  registerKeyRoutes(registrar);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'An API key (nexus keys create)' });
  let openApiDocument: unknown;
  app.get(ROUTES.openapi, (context) => {
    openApiDocument ??= app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: { title: 'nexusfs HTTP API', version: '1', description: 'The nexusfs file API over HTTP. Errors are {"error": {"code", "message"}}.' },
      security: [{ bearer: [] }],
    });
    return context.json(openApiDocument as object);
  });
  allowedMethods.push({ method: 'GET', pattern: patternOf(ROUTES.openapi) });
  return app;
}

/** The status, body and headers an error is answered with; unexpected errors are reported and hidden. */
export function errorAnswer(error: unknown, onUnexpectedError: (error: unknown) => void): ErrorAnswer {
  if (error instanceof HttpStatusError) return { status: error.status, body: errorBody(error.code, error.message), headers: error.headers };
  if (error instanceof NexusError) return { status: HTTP_STATUS_BY_CODE[error.code] ?? 500, body: errorBody(error.code, error.message), headers: {} };
  if (error instanceof HTTPException) {
    // Raised by hono itself for a request it cannot take (a malformed body, a bad header).
    return { status: error.status, body: errorBody('EINVAL', error.message || `HTTP ${error.status}`), headers: {} };
  }
  onUnexpectedError(error);
  return { status: 500, body: errorBody(INTERNAL_ERROR_CODE, 'an unexpected error happened on the server; it has been logged there'), headers: {} };
}

/** Checks `value` against a route's schema; a mismatch is EINVAL naming each wrong field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 5).map((issue) => {
    const at = issue.path.length === 0 ? '' : `${issue.path.join('.')}: `;
    return `${at}${issue.message}`;
  });
  throw new InvalidArgumentError(`invalid ${what}: ${issues.join('; ')}`);
}

async function authenticateRequest(header: string | undefined, authenticate: ApiKeyAuthenticator): Promise<ApiKeyInfo> {
  if (header === undefined) throw new UnauthenticatedError('this API needs an API key: Authorization: Bearer <key>');
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (match === null) throw new UnauthenticatedError('the Authorization header must be "Bearer <key>"');
  const info = await authenticate(match[1]!);
  if (info === undefined) throw new UnauthenticatedError('the API key is unknown or revoked');
  return info;
}

/** Key routes are for admin keys only. */
export function requireAdmin(context: HttpApiContext): void {
  const apiKey = context.get('apiKey');
  if (!apiKey.admin) throw new AccessDeniedError(`key ${apiKey.name} is an agent key: managing keys needs an admin key`);
}

function checkHeaderBytes(headers: Headers, headerBytesMax: number): void {
  let totalBytes = 0;
  // Name, ": ", value and CRLF, as on the wire; header values are Latin-1, one byte a character.
  headers.forEach((value, name) => {
    totalBytes += name.length + value.length + 4;
  });
  if (totalBytes > headerBytesMax) {
    throw new HttpStatusError(431, new InvalidArgumentError(`the request headers hold at most ${headerBytesMax} bytes, these hold ${totalBytes}`));
  }
}

/** A hono routing path as a regular expression over URL paths (`*` any rest, `:name` one segment). */
function patternOf(routingPath: string): RegExp {
  const source = routingPath
    .split('/')
    .map((segment) => (segment === '*' ? '.*' : segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source.replace(/\/\.\*$/, '(?:/.*)?')}$`);
}
