import { afterEach, describe, expect, it } from 'vitest';
import { ZoneTestCluster } from '../../test/zone/zone-cluster.ts';
import { createZoneSecret, formatJoinToken, parseJoinToken } from './join-token.ts';
import { ADMIN_REQUEST_BYTES_MAX, API_REQUEST_BYTES_MAX } from './limits.ts';
import { createZoneApi, ZONE_API_PATH, nodeStatusOf, type ZoneNodeStatus } from './zone-api-app.ts';
import { encodeApiBody, ZONE_API_CONTENT_TYPE } from './zone-api-codec.ts';

/**
 * The ZoneApi's body limit, both ways a body can come: with a declared length (checked from the
 * header, without reading the body) and streamed without one (counted as it is read); and the
 * token, checked before either. Node and Deno only: browsers and Workers drop a Content-Length
 * header set on a Request by script.
 */

let cluster: ZoneTestCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function setUp(): Promise<{ app: ReturnType<typeof createZoneApi>; token: string }> {
  cluster = await ZoneTestCluster.start();
  const replica = cluster.replica(1);
  const token = formatJoinToken({ zoneId: cluster.zoneId, zoneSecret: createZoneSecret() });
  const status = (): ZoneNodeStatus => ({ ...nodeStatusOf(replica.status()), ticks: 0, tickIntervalMs: 1, electionTimeoutTicks: 10, peers: [] });
  return { app: createZoneApi({ replica, token: parseJoinToken(token), status }), token };
}

async function expectTooLarge(response: Response, sizeBytesMax = API_REQUEST_BYTES_MAX): Promise<void> {
  expect(response.status).toBe(400);
  const { error } = (await response.json()) as { error: { code: string; message: string } };
  expect(error.code).toBe('EINVAL');
  expect(error.message).toContain(`at most ${sizeBytesMax} bytes`);
}

/** A body that sends `first` (if any) and then never another byte nor its end: only a server that does not wait for it answers. */
function openBody(first?: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (first !== undefined) controller.enqueue(first);
    },
    pull: () => new Promise<void>(() => {}),
  });
}

/** A streamed body of `sizeBytes` zero bytes, in chunks of a MiB at most. */
function streamedBody(sizeBytes: number): ReadableStream<Uint8Array> {
  const chunkBytes = 1024 * 1024;
  let sentBytes = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sentBytes >= sizeBytes) controller.close();
      else controller.enqueue(new Uint8Array(Math.min(chunkBytes, sizeBytes - sentBytes)));
      sentBytes += chunkBytes;
    },
  });
}

describe('ZoneApi body limit', () => {
  it('refuses a declared length over the limit with 400 EINVAL before reading the body', async () => {
    const { app, token } = await setUp();
    const body = encodeApiBody({ key: new Uint8Array([1]) });
    const response = await app.request(`${ZONE_API_PATH}/get`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': ZONE_API_CONTENT_TYPE, 'content-length': String(API_REQUEST_BYTES_MAX + 1) },
      body: body as Uint8Array<ArrayBuffer>,
    });
    await expectTooLarge(response);
  });

  it('refuses a malformed declared length with 400 EINVAL', async () => {
    const { app, token } = await setUp();
    const response = await app.request(`${ZONE_API_PATH}/get`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': ZONE_API_CONTENT_TYPE, 'content-length': '12abc' },
      body: new Uint8Array(1),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'EINVAL', message: 'invalid Content-Length header "12abc"' } });
  });

  it('refuses a streamed body once it passes the limit with 400 EINVAL', async () => {
    const { app, token } = await setUp();
    const chunkBytes = 1024 * 1024;
    let sentBytes = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sentBytes > API_REQUEST_BYTES_MAX) controller.close();
        else controller.enqueue(new Uint8Array(chunkBytes));
        sentBytes += chunkBytes;
      },
    });
    const response = await app.request(`${ZONE_API_PATH}/get`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': ZONE_API_CONTENT_TYPE },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    await expectTooLarge(response);
  });

  // The bodies below never end: a regression that read the body before checking the token would
  // hang, and fail on the test's timeout.
  it('refuses a missing or wrong token with 401 EACCES before reading a large declared or streamed body', async () => {
    const { app, token } = await setUp();
    const wrong = formatJoinToken({ zoneId: cluster!.zoneId, zoneSecret: createZoneSecret() });
    const declared = { 'content-type': ZONE_API_CONTENT_TYPE, 'content-length': String(32 * 1024 * 1024) };
    const chunked = { 'content-type': ZONE_API_CONTENT_TYPE, 'transfer-encoding': 'chunked' };
    const cases = [
      { route: 'batch', headers: declared, body: openBody() },
      { route: 'get', headers: { ...declared, authorization: `Bearer ${wrong}` }, body: openBody() },
      { route: 'join', headers: chunked, body: openBody(new Uint8Array(64 * 1024)) },
      { route: 'batch', headers: { ...chunked, authorization: `Bearer ${wrong}` }, body: openBody(new Uint8Array(64 * 1024)) },
      { route: 'get', headers: { ...declared, authorization: `Bearer ${token.slice(0, -1)}` }, body: openBody() },
    ];
    for (const { route, headers, body } of cases) {
      const response = await app.request(`${ZONE_API_PATH}/${route}`, { method: 'POST', headers, body, duplex: 'half' } as RequestInit);
      expect(response.status, route).toBe(401);
      expect(await response.json()).toMatchObject({ error: { code: 'EACCES' } });
    }
  }, 10_000);

  it('limits the admin calls, whose credential is in the body, to ADMIN_REQUEST_BYTES_MAX: 400 EINVAL declared or streamed', async () => {
    const { app } = await setUp();
    for (const route of ['remove-node', 'admin-challenge']) {
      const declared = await app.request(`${ZONE_API_PATH}/${route}`, {
        method: 'POST',
        headers: { 'content-type': ZONE_API_CONTENT_TYPE, 'content-length': String(ADMIN_REQUEST_BYTES_MAX + 1) },
        body: openBody(),
        duplex: 'half',
      } as RequestInit);
      await expectTooLarge(declared, ADMIN_REQUEST_BYTES_MAX);
      const streamed = await app.request(`${ZONE_API_PATH}/${route}`, {
        method: 'POST',
        headers: { 'content-type': ZONE_API_CONTENT_TYPE },
        body: streamedBody(ADMIN_REQUEST_BYTES_MAX + 1),
        duplex: 'half',
      } as RequestInit);
      await expectTooLarge(streamed, ADMIN_REQUEST_BYTES_MAX);
    }
    // Within the limit, a challenge is answered without a token.
    const challenge = await app.request(`${ZONE_API_PATH}/admin-challenge`, { method: 'POST', headers: { 'content-type': ZONE_API_CONTENT_TYPE }, body: encodeApiBody({}) as Uint8Array<ArrayBuffer> });
    expect(challenge.status).toBe(200);
  }, 10_000);
});
