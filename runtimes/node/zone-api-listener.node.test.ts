import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createZoneSecret, formatJoinToken } from '../../drivers/transport-websocket/join-token.ts';
import { ADMIN_REQUEST_BYTES_MAX, API_REQUEST_BYTES_MAX } from '../../drivers/transport-websocket/limits.ts';
import { ZONE_API_PATH } from '../../drivers/transport-websocket/zone-api-app.ts';
import { ZoneApiClient } from '../../drivers/transport-websocket/zone-api-client.ts';
import { decodeApiBody, encodeApiBody, ZONE_API_CONTENT_TYPE } from '../../drivers/transport-websocket/zone-api-codec.ts';
import { AccessDeniedError, ConflictError, InvalidArgumentError } from '../../kernel/errors.ts';
import { startZoneApiTestServer } from '../../test/zone/zone-api-server.ts';
import type { ZoneTestCluster } from '../../test/zone/zone-cluster.ts';
import { createNodeHttpExchange } from './node-http-exchange.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A zone whose node 1 serves the ZoneApi through the listener on 127.0.0.1, and a client factory on node:http. */
async function serveZone(): Promise<{ cluster: ZoneTestCluster; base: string; token: string; client: (token?: string) => ZoneApiClient }> {
  const served = await startZoneApiTestServer();
  cleanups.push(() => served.close());
  const http = createNodeHttpExchange();
  cleanups.push(() => http.close());
  const { cluster, base, token } = served;
  return { cluster, base, token, client: (override) => new ZoneApiClient(base, override ?? token, { exchange: http.exchange }) };
}

/**
 * A raw request, for what the client never sends: odd headers, chunked bodies. `chunks` sends that
 * many MiB and ends the body; `firstChunk` sends only that and leaves the body open, so an answer
 * comes only from a server that did not wait for the body.
 */
function raw(
  base: string,
  path: string,
  options: { headers: Record<string, string>; body?: Uint8Array; chunks?: number; firstChunk?: Uint8Array },
): Promise<{ status: number; json?: unknown; payload?: unknown; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(`${base}${path}`, { method: 'POST', headers: options.headers, agent: false }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => {
        const body = Buffer.concat(chunks);
        const answer = { status: incoming.statusCode ?? 0, connection: incoming.headers.connection };
        if (incoming.headers['content-type'] === ZONE_API_CONTENT_TYPE) {
          resolve({ ...answer, payload: decodeApiBody(new Uint8Array(body)) });
          return;
        }
        const text = body.toString('utf8');
        try {
          resolve({ ...answer, json: JSON.parse(text) });
        } catch {
          reject(new Error(`HTTP ${incoming.statusCode} answered ${JSON.stringify(text)} to ${path}`));
        }
      });
    });
    outgoing.on('error', reject);
    if (options.firstChunk !== undefined) {
      outgoing.write(options.firstChunk);
    } else if (options.chunks !== undefined) {
      const chunk = new Uint8Array(1024 * 1024);
      for (let count = 0; count < options.chunks; count++) outgoing.write(chunk);
      outgoing.end();
    } else {
      outgoing.end(options.body);
    }
  });
}

describe('zone ZoneApi listener on node:http', () => {
  it('answers the POST routes through the core: SC writes, linearizable reads, conflicts, and the rest through hono', async () => {
    const { cluster, client } = await serveZone();
    const key = encoder.encode('k');
    const version = await cluster.drive(client().commit([{ type: 'put', key, value: encoder.encode('v') }], [{ key, version: null }]));
    const entry = await cluster.drive(client().get(key));
    expect(entry).toMatchObject({ version });
    expect(decoder.decode(entry!.value)).toBe('v');
    await expect(cluster.drive(client().commit([{ type: 'put', key, value: encoder.encode('w') }], [{ key, version: null }]))).rejects.toThrow(ConflictError);
    const page = await cluster.drive(client().scan({ prefix: encoder.encode('') }));
    expect(page.entries.map((one) => decoder.decode(one.key))).toEqual(['k']);
    // GET /status is not a POST route: the hono app answers it.
    expect((await client().status()).appliedIndex).toBeGreaterThanOrEqual(version);
  });

  it('refuses bad tokens with EACCES, malformed bodies and bodies over the limit with EINVAL, and unknown routes with 404', async () => {
    const { cluster, base, token, client } = await serveZone();
    const wrong = formatJoinToken({ zoneId: cluster.zoneId, zoneSecret: createZoneSecret() });
    await expect(client(wrong).commit([{ type: 'put', key: encoder.encode('x'), value: encoder.encode('y') }])).rejects.toThrow(AccessDeniedError);
    await expect(client('garbage').get(encoder.encode('x'))).rejects.toThrow(AccessDeniedError);
    const headers = { authorization: `Bearer ${token}`, 'content-type': ZONE_API_CONTENT_TYPE };
    const malformed = await raw(base, `${ZONE_API_PATH}/batch`, { headers, body: new Uint8Array([0x92, 0x01]) });
    expect(malformed).toMatchObject({ status: 400, json: { error: { code: 'EINVAL', message: expect.stringContaining('MessagePack') } } });
    const declared = await raw(base, `${ZONE_API_PATH}/get`, { headers: { ...headers, 'content-length': String(API_REQUEST_BYTES_MAX + 1) } });
    expect(declared).toMatchObject({ status: 400, json: { error: { code: 'EINVAL', message: expect.stringContaining(`at most ${API_REQUEST_BYTES_MAX} bytes`) } } });
    const streamed = await raw(base, `${ZONE_API_PATH}/get`, { headers, chunks: API_REQUEST_BYTES_MAX / (1024 * 1024) + 1 });
    expect(streamed).toMatchObject({ status: 400, json: { error: { code: 'EINVAL', message: expect.stringContaining(`at most ${API_REQUEST_BYTES_MAX} bytes`) } } });
    const unknown = await raw(base, `${ZONE_API_PATH}/no-such-route`, { headers, body: new Uint8Array(0) });
    expect(unknown).toMatchObject({ status: 404, json: { error: { code: 'ENOENT' } } });
    await expect(client().commit([{ type: 'put', key: new Uint8Array(0), value: encoder.encode('v') }])).rejects.toThrow(InvalidArgumentError);
  });

  // Each request below leaves its body unsent or open: a server that waited for the body before
  // checking the token would never answer, and the test would fail on its timeout.
  it('refuses a missing or wrong token with 401 EACCES from the headers, before reading a body it is never sent', async () => {
    const { cluster, base, token, client } = await serveZone();
    const wrong = formatJoinToken({ zoneId: cluster.zoneId, zoneSecret: createZoneSecret() });
    const large = { 'content-type': ZONE_API_CONTENT_TYPE, 'content-length': String(32 * 1024 * 1024) };
    const refused = { status: 401, json: { error: { code: 'EACCES' } }, connection: 'close' };
    // First, while no header has been admitted yet: a missing header must not match "none admitted".
    expect(await raw(base, `${ZONE_API_PATH}/batch`, { headers: large })).toMatchObject(refused);
    expect(await raw(base, `${ZONE_API_PATH}/batch`, { headers: { ...large, authorization: `Bearer ${wrong}` } })).toMatchObject(refused);
    expect(await raw(base, `${ZONE_API_PATH}/get`, { headers: { ...large, authorization: 'Bearer garbage' } })).toMatchObject(refused);
    const chunked = { 'content-type': ZONE_API_CONTENT_TYPE, 'transfer-encoding': 'chunked' };
    const firstChunk = new Uint8Array(64 * 1024);
    expect(await raw(base, `${ZONE_API_PATH}/batch`, { headers: chunked, firstChunk })).toMatchObject(refused);
    expect(await raw(base, `${ZONE_API_PATH}/join`, { headers: { ...chunked, authorization: `Bearer ${wrong}` }, firstChunk })).toMatchObject(refused);
    // And after the right token was admitted (and cached), the wrong one and none are still refused.
    await cluster.drive(client().get(encoder.encode('x')));
    expect(await raw(base, `${ZONE_API_PATH}/get`, { headers: { ...large, authorization: `Bearer ${wrong}` } })).toMatchObject(refused);
    expect(await raw(base, `${ZONE_API_PATH}/get`, { headers: chunked, firstChunk })).toMatchObject(refused);
    expect(await raw(base, `${ZONE_API_PATH}/get`, { headers: { ...chunked, authorization: `Bearer ${token}x` }, firstChunk })).toMatchObject(refused);
  }, 10_000);

  it('limits the admin calls, whose credential is in the body, to ADMIN_REQUEST_BYTES_MAX: 400 EINVAL declared or streamed', async () => {
    const { base } = await serveZone();
    const headers = { 'content-type': ZONE_API_CONTENT_TYPE };
    const tooLarge = { status: 400, json: { error: { code: 'EINVAL', message: expect.stringContaining(`at most ${ADMIN_REQUEST_BYTES_MAX} bytes`) } } };
    for (const route of ['remove-node', 'admin-challenge']) {
      const declared = await raw(base, `${ZONE_API_PATH}/${route}`, { headers: { ...headers, 'content-length': String(ADMIN_REQUEST_BYTES_MAX + 1) } });
      expect(declared).toMatchObject({ ...tooLarge, connection: 'close' });
      // One MiB, more than the limit: refused once past it, with the body still open.
      const streamed = await raw(base, `${ZONE_API_PATH}/${route}`, { headers: { ...headers, 'transfer-encoding': 'chunked' }, firstChunk: new Uint8Array(1024 * 1024) });
      expect(streamed).toMatchObject({ ...tooLarge, connection: 'close' });
    }
    // A challenge within the limit is answered, without a token.
    const challenge = await raw(base, `${ZONE_API_PATH}/admin-challenge`, { headers, body: encodeApiBody({}) });
    expect(challenge).toMatchObject({ status: 200, payload: { challenge: expect.any(Uint8Array) } });
  }, 10_000);
});
