import { parseWith, requireAdmin, type RouteRegistrar } from './http-api.ts';
import { readJsonBody } from './request-body.ts';
import { createKeyRoute, listKeysRoute, revokeKeyRoute } from './route-definitions.ts';

/** The key routes, for admin keys only: list, create (the secret is answered once), revoke. */
export function registerKeyRoutes(registrar: RouteRegistrar): void {
  const { keys, limits } = registrar;

  registrar.serve(listKeysRoute, async (context) => {
    requireAdmin(context);
    return context.json({ keys: await keys.list() });
  });

  registrar.serve(createKeyRoute, async (context) => {
    requireAdmin(context);
    const body = await readJsonBody(context.req.raw, { bytesMax: limits.requestBodyBytesMax, depthMax: limits.jsonDepthMax });
    const request = parseWith(createKeyRoute.request.body.content['application/json'].schema, body, 'key request');
    return context.json(await keys.create(request), 201);
  });

  registrar.serve(revokeKeyRoute, async (context) => {
    requireAdmin(context);
    // hono decodes the parameter once (a malformed escape is left as it is, and matches no key).
    return context.json(await keys.revoke(context.req.param('idOrName') ?? ''));
  });
}
