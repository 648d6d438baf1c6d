import { afterEach, describe, expect, it } from 'vitest';
import { ZoneTestCluster } from '../../test/zone/zone-cluster.ts';
import { createZoneSecret, formatJoinToken, parseJoinToken } from './join-token.ts';
import { API_REQUEST_BYTES_MAX } from './limits.ts';
import { createZoneApi, ZONE_API_PATH, nodeStatusOf, type ZoneNodeStatus } from './zone-api-app.ts';
import { encodeApiBody, ZONE_API_CONTENT_TYPE } from './zone-api-codec.ts';

/**
 * The ZoneApi's body limit, both ways a body can come: with a declared length (checked from the
 * header, without reading the body) and streamed without one (counted as it is read). Node and
 * Deno only: browsers and Workers drop a Content-Length header set on a Request by script.
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

async function expectTooLarge(response: Response): Promise<void> {
  expect(response.status).toBe(400);
  const { error } = (await response.json()) as { error: { code: string; message: string } };
  expect(error.code).toBe('EINVAL');
  expect(error.message).toContain(`at most ${API_REQUEST_BYTES_MAX} bytes`);
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
});
