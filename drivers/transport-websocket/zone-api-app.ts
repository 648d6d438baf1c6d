import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AccessDeniedError, AlreadyExistsError, InvalidArgumentError, isErrorCode, NexusError, NotFoundError, type ErrorCode } from '../../kernel/errors.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import type { ZoneMemberStatus, ZoneReplicaApi, ZoneStatus } from '../../kernel/zone/types.ts';
import { encodeBase64url } from '../../kernel/contracts/base64url.ts';
import { isSamePublicKey } from '../../kernel/zone/member-record.ts';
import { assertPeerAddress } from '../../kernel/zone/zone-id.ts';
import { AdminGate, readAdminRequest } from './admin-request.ts';
import { isSameSecret, parseJoinToken, type JoinToken } from './join-token.ts';
import { ADMIN_REQUEST_BYTES_MAX, API_REQUEST_BYTES_MAX } from './limits.ts';
import {
  decodeApiBody,
  encodeApiBody,
  entryPayload,
  joinResponsePayload,
  readJoinRequest,
  type JoinRequest,
  readBatchRequest,
  readKeyRequest,
  readScanRequest,
  readWriteToken,
  scanPagePayload,
  writeTokenPayload,
  ZONE_API_CONTENT_TYPE,
} from './zone-api-codec.ts';
import { readPositive } from './wire-values.ts';

/** Path prefix of every ZoneApi route. */
export const ZONE_API_PATH = '/zone/v1';

/** The route that issues admin challenges (admin-request.ts). */
export const ADMIN_CHALLENGE_ROUTE = 'admin-challenge';

/** The one GET route, `GET /zone/v1/status`. */
const STATUS_ROUTE = 'status';

/** A member in ZoneNodeStatus: its public key (if recorded) in base64url, as JSON has no bytes. */
export type ZoneNodeMemberStatus = Omit<ZoneMemberStatus, 'publicKey'> & { readonly publicKey?: string };

/** What `GET /zone/v1/status` answers: the replica's status plus the node process's own view. */
export interface ZoneNodeStatus extends Omit<ZoneStatus, 'members'> {
  readonly members: readonly ZoneNodeMemberStatus[];
  /** Ticks this node has counted since it started: the unit of every Raft timeout. */
  readonly ticks: number;
  readonly tickIntervalMs: number;
  /** The base election timeout; each election waits a random timeout in [this, 2 x this) ticks. */
  readonly electionTimeoutTicks: number;
  /** This node's connections to its peers. */
  readonly peers: readonly { nodeId: NodeId; connected: boolean; queuedFrames: number; droppedFrames: number }[];
}

export interface ZoneApiOptions {
  readonly replica: ZoneReplicaApi;
  /** The zone's token: every request but the admin calls must carry it as `Authorization: Bearer <token>`. */
  readonly token: JoinToken;
  readonly status: () => ZoneNodeStatus;
  /** The clock admin challenges are issued and expire by (admin-request.ts): Date.now by default. */
  readonly now?: () => number;
}

/** HTTP status for each error code; codes not listed are 500. */
const HTTP_STATUS_BY_CODE: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  ENOENT: 404,
  EEXIST: 409,
  EINVAL: 400,
  EACCES: 401,
  ECONFLICT: 409,
  EBUSY: 503,
  ECLOSED: 503,
  ECOMPACTED: 410,
};

/** What `zoneApiError` makes of an error: the HTTP status and the JSON body to answer with. */
export interface ZoneApiErrorAnswer {
  readonly status: ContentfulStatusCode;
  readonly json: { readonly error: { readonly code: string; readonly message: string } };
}

/**
 * The ZoneApi's POST routes without HTTP: each takes the request's `Authorization` header and
 * MessagePack body and gives the MessagePack answer, or throws (see `zoneApiError`). The hono app
 * serves them; a runtime may serve them from its own HTTP server as well (runtimes/node does, to
 * skip building a web Request and Response per call).
 *
 * A server calls, in this order: `checkAuthorization` from the headers, then reads at most
 * `requestBytesMax(route)` bytes of body, then `post`. So a stranger without the token makes the
 * node read no body at all, and one calling a route whose credential is inside its body (the
 * admin calls) makes it read at most ADMIN_REQUEST_BYTES_MAX.
 */
export interface ZoneApiCore {
  /** True for the routes `post` answers: batch, wait, get, scan, join, admin-challenge, remove-node. */
  hasPostRoute(route: string): boolean;
  /** False for the POST routes the token does not admit to, which need none: the admin calls and their challenge. */
  takesToken(route: string): boolean;
  /**
   * Checks what of the call's credential its `Authorization` header holds, before its body is read:
   * the token, for a route that takes it (any route but the admin calls and their challenge, whose
   * credential, if any, is in the body). Throws AccessDeniedError. A header admitted once is not
   * decoded again while it stays the last one admitted (a client sends the same one every call).
   */
  checkAuthorization(route: string, authorization: string | undefined): void;
  /** The largest body a call to `route` may have: API_REQUEST_BYTES_MAX, or ADMIN_REQUEST_BYTES_MAX for a route that takes no token. */
  requestBytesMax(route: string): number;
  /**
   * Checks the call's credential (the token as `checkAuthorization` does, or for an admin call its
   * signature), decodes the body, runs the call. Throws AccessDeniedError, InvalidArgumentError, or
   * the replica's errors. It does not check the body's size: the caller read it within `requestBytesMax`.
   */
  post(route: string, authorization: string | undefined, body: Uint8Array): Promise<Uint8Array>;
}

export function createZoneApiCore(options: ZoneApiOptions): ZoneApiCore {
  const { replica } = options;
  const join = serialized(async ({ address, publicKey }: JoinRequest) => {
    assertPeerAddress(address);
    const { members, removedNodeIds } = replica.status();
    const existing = members.find((member) => member.address === address);
    // A retried join is the same node: the same address and the same key. Another key would take
    // over that node id (the token admits to the zone, not to a node id).
    if (existing !== undefined && !isSamePublicKey(existing.publicKey, publicKey)) {
      throw new AlreadyExistsError(`node ${existing.nodeId} at ${address} is a member of zone ${replica.zoneId} with another public key: it cannot join again with a different key`);
    }
    // Above every member's id and every removed node's: an id is never given twice (a removed node
    // applying its own removal must not take a newcomer under its id for itself, nor the reverse).
    const nodeId = existing?.nodeId ?? Math.max(0, ...members.map((member) => member.nodeId), ...removedNodeIds) + 1;
    // As a learner, promoted by the leader once caught up: the node starts only after this answer,
    // so waiting here for its promotion would wait for nothing. A retry re-adds a learner (idempotent).
    if (existing === undefined || existing.role !== 'voter') await replica.addMember({ nodeId, address, publicKey }, { waitForPromotion: false });
    const after = replica.status().members.map(({ nodeId: id, address: memberAddress, publicKey: key }) => ({ nodeId: id, address: memberAddress, ...(key === undefined ? {} : { publicKey: key }) }));
    return { zoneId: replica.zoneId, nodeId, members: after };
  });
  const routes = new Map<string, (body: Record<string, unknown>) => Promise<unknown>>([
    [
      'batch',
      async (body) => {
        const request = readBatchRequest(body);
        if (request.consistency === 'strong') return { version: await replica.commit(request.operations, request.preconditions) };
        return { token: writeTokenPayload(await replica.write(request.operations, request.preconditions)) };
      },
    ],
    ['wait', async (body) => ({ version: await replica.waitFor(readWriteToken(body.token)) })],
    [
      'get',
      async (body) => {
        const key = readKeyRequest(body);
        await replica.readBarrier();
        return { entry: entryPayload(await replica.metastore.get(key)) };
      },
    ],
    [
      'scan',
      async (body) => {
        const scan = readScanRequest(body);
        await replica.readBarrier();
        return scanPagePayload(await replica.metastore.scan(scan));
      },
    ],
    ['join', async (body) => joinResponsePayload(await join(readJoinRequest(body)))],
  ]);
  // Admin calls: each needs a voting member's signature over its body and a challenge from this
  // node (admin-request.ts), not the token, which is handed to whoever is to add a node.
  const adminRoutes = new Map<string, (body: Record<string, unknown>) => Promise<unknown>>([
    [
      'remove-node',
      async (body) => {
        await replica.removeMember(readPositive(body.nodeId, 'node id'));
        return {};
      },
    ],
  ]);
  const adminGate = new AdminGate({ zoneId: replica.zoneId, ...(options.now === undefined ? {} : { now: options.now }) });
  const runAdmin = async (route: string, answer: (body: Record<string, unknown>) => Promise<unknown>, body: Uint8Array): Promise<Uint8Array> => {
    const request = readAdminRequest(route, decodeApiBody(body));
    await adminGate.admit(route, request, replica.status().members);
    return encodeApiBody(await answer(decodeApiBody(request.request)));
  };
  const takesToken = (route: string): boolean => !adminRoutes.has(route) && route !== ADMIN_CHALLENGE_ROUTE;
  // The header last admitted: a client sends the same one with every call, and a check decodes it.
  // Undefined until one is: a call without the header must not match it.
  let admitted: string | undefined;
  const checkAuthorization = (route: string, authorization: string | undefined): void => {
    if (!takesToken(route) || (authorization !== undefined && authorization === admitted)) return;
    checkToken(authorization, options.token);
    admitted = authorization;
  };
  return {
    hasPostRoute: (route) => routes.has(route) || adminRoutes.has(route) || route === ADMIN_CHALLENGE_ROUTE,
    takesToken,
    checkAuthorization,
    requestBytesMax: (route) => (takesToken(route) ? API_REQUEST_BYTES_MAX : ADMIN_REQUEST_BYTES_MAX),
    post: async (route, authorization, body) => {
      const admin = adminRoutes.get(route);
      if (admin !== undefined) return await runAdmin(route, admin, body);
      // A challenge admits to nothing by itself, and issuing one keeps no state: no credential.
      if (route === ADMIN_CHALLENGE_ROUTE) return encodeApiBody({ challenge: await adminGate.issueChallenge() });
      checkAuthorization(route, authorization);
      const answer = routes.get(route);
      if (answer === undefined) throw new NotFoundError(`no ZoneApi route POST ${ZONE_API_PATH}/${route}`);
      return encodeApiBody(await answer(decodeApiBody(body)));
    },
  };
}

/**
 * The ZoneApi of one node, as a hono app (runtime-neutral: Node serves it through
 * @hono/node-server, Deno through Deno.serve). Who may call what:
 *
 * - the zone's token (`Authorization: Bearer <token>`) admits to the data calls (batch, wait, get,
 *   scan), to `join`, and to `status`: whoever holds it may join a node, which as a member would
 *   see the membership anyway, and status shows nothing secret (addresses and public keys);
 * - an admin call (`remove-node`) needs no token but a request signed by a voting member's node key
 *   over a fresh challenge from this node (admin-request.ts says why): a token holder that is not
 *   a member, a stranger, a replayed request and a removed member's key get 401 EACCES, and the
 *   zone does not change;
 * - `admin-challenge` needs nothing: a challenge admits to nothing by itself.
 *
 * - `POST /zone/v1/batch` {consistency, operations, preconditions}: SC answers {version} after a
 *   majority commit; EC answers {token} once the leader's log holds it (leader only).
 * - `POST /zone/v1/wait` {token}: {version} once that EC write applied here.
 * - `POST /zone/v1/get` {key}, `POST /zone/v1/scan` {range}: linearizable reads (a read barrier
 *   through the leader, then the local state).
 * - `POST /zone/v1/join` {address, publicKey}: adds a node as a learner, which the leader promotes
 *   to voter once it has caught up, and answers {zoneId, nodeId, members} with each member's key
 *   (again for a retried join of the same address and key; EEXIST for that address with another key).
 * - `POST /zone/v1/admin-challenge` {}: {challenge}, good once at this node for
 *   ADMIN_CHALLENGE_LIFETIME_MS.
 * - `POST /zone/v1/remove-node` {zoneId, signer, challenge, signature, request}, the request being
 *   {nodeId}: removes a member (an admin call).
 * - `GET /zone/v1/status`: ZoneNodeStatus as JSON.
 *
 * Bodies are MessagePack (zone-api-codec.ts). Errors are JSON, `{"error":{"code","message"}}`,
 * with the status of HTTP_STATUS_BY_CODE (401 EACCES for a missing or wrong credential).
 *
 * `core`: the ZoneApiCore the app answers through; a runtime that also serves the POST routes
 * from its own server passes the one it uses there, so that a node has one admin gate (a
 * challenge is good at the core that issued it) and one admitted-token cache.
 */
export function createZoneApi(options: ZoneApiOptions, core: ZoneApiCore = createZoneApiCore(options)): Hono {
  const app = new Hono();
  app.onError((error, context) => {
    const { status, json } = zoneApiError(error);
    return context.json(json, status);
  });
  // The credential in the headers, then the body's size, both before the body is read (the core
  // checks the token again in `post`). Only a POST may be an admin call: any other request under
  // the path is checked as the status route is, with the token.
  const routeOf = (context: Context): string => (context.req.method === 'POST' ? context.req.path.slice(ZONE_API_PATH.length + 1) : STATUS_ROUTE);
  app.use(`${ZONE_API_PATH}/*`, async (context, next) => {
    core.checkAuthorization(routeOf(context), context.req.header('authorization'));
    await next();
  });
  app.use(`${ZONE_API_PATH}/*`, async (context, next) => {
    // A body of declared length is checked from its header alone: hono's bodyLimit reads
    // `request.body`, which makes @hono/node-server build a full web Request and stream per
    // call, a fifth of a busy leader's time. The HTTP parser never reads past the declared length.
    const sizeBytesMax = core.requestBytesMax(routeOf(context));
    const contentLength = context.req.header('content-length');
    if (contentLength === undefined || context.req.header('transfer-encoding') !== undefined) {
      return bodyLimit({ maxSize: sizeBytesMax, onError: () => { throw bodyTooLarge(sizeBytesMax); } })(context, next);
    }
    checkContentLength(contentLength, sizeBytesMax);
    await next();
  });
  app.post(`${ZONE_API_PATH}/:route`, async (context) => {
    const route = context.req.param('route');
    if (!core.hasPostRoute(route)) throw new NotFoundError(`no ZoneApi route POST ${ZONE_API_PATH}/${route}`);
    const answer = await core.post(route, context.req.header('authorization'), new Uint8Array(await context.req.arrayBuffer()));
    return new Response(answer as Uint8Array<ArrayBuffer>, { status: 200, headers: { 'content-type': ZONE_API_CONTENT_TYPE } });
  });
  app.get(`${ZONE_API_PATH}/${STATUS_ROUTE}`, (context) => context.json(options.status()));
  return app;
}

/** The replica's status with each member's public key in base64url (the part of ZoneNodeStatus the replica knows). */
export function nodeStatusOf(status: ZoneStatus): Omit<ZoneNodeStatus, 'ticks' | 'tickIntervalMs' | 'electionTimeoutTicks' | 'peers'> {
  const members = status.members.map(({ publicKey, ...member }) => (publicKey === undefined ? member : { ...member, publicKey: encodeBase64url(publicKey) }));
  return { ...status, members };
}

/** Refuses a Content-Length that is malformed or over `sizeBytesMax` (the route's `requestBytesMax`) with InvalidArgumentError. */
export function checkContentLength(contentLength: string, sizeBytesMax: number): void {
  if (!/^\d+$/.test(contentLength)) throw new InvalidArgumentError(`invalid Content-Length header ${JSON.stringify(contentLength)}`);
  if (Number(contentLength) > sizeBytesMax) throw bodyTooLarge(sizeBytesMax);
}

/** The status and JSON body of an error: its code's status, or 500 EINTERNAL for what is not a NexusError. */
export function zoneApiError(error: unknown): ZoneApiErrorAnswer {
  if (error instanceof NexusError && isErrorCode(error.code)) {
    return { status: HTTP_STATUS_BY_CODE[error.code] ?? 500, json: { error: { code: error.code, message: error.message } } };
  }
  // A broken invariant or a bug: say so without pretending it is an operating error.
  return { status: 500, json: { error: { code: 'EINTERNAL', message: error instanceof Error ? error.message : String(error) } } };
}

/** The error for a body over `sizeBytesMax`, the route's `requestBytesMax`. */
export function bodyTooLarge(sizeBytesMax: number): InvalidArgumentError {
  return new InvalidArgumentError(`a ZoneApi request body holds at most ${sizeBytesMax} bytes`);
}

function checkToken(header: string | undefined, expected: JoinToken): void {
  const match = /^Bearer (\S+)$/.exec(header ?? '');
  if (match === null) throw new AccessDeniedError('this ZoneApi needs the zone token: Authorization: Bearer <token>');
  const presented = parseJoinToken(match[1]!);
  if (presented.zoneId !== expected.zoneId || !isSameSecret(presented.zoneSecret, expected.zoneSecret)) {
    throw new AccessDeniedError(`the token does not admit to zone ${expected.zoneId}`);
  }
}

/** One call at a time: two joins must not pick the same node id. */
function serialized<A, R>(operation: (argument: A) => Promise<R>): (argument: A) => Promise<R> {
  let tail: Promise<unknown> = Promise.resolve();
  return (argument) => {
    const result = tail.then(() => operation(argument));
    tail = result.catch(() => {});
    return result;
  };
}
