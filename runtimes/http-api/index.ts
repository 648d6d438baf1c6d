/**
 * `nexusfs/http-api`: the HTTP API as a runtime-neutral hono app. Serve `createHttpApi(...)` with
 * @hono/node-server, Deno.serve or as a Worker's fetch handler.
 */
export { createHttpApi, errorAnswer, type ErrorAnswer, type HttpApiOptions } from './http-api.ts';
export { HTTP_API_LIMITS_DEFAULT, resolveHttpApiLimits, type HttpApiLimits } from './limits.ts';
export { API_PATH, HTTP_STATUS_BY_CODE, ROUTES, type ErrorBody } from './wire.ts';
