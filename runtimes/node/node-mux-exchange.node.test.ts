import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { packValue } from '../../drivers/transport-websocket/frame-codec.ts';
import { createZoneSecret, formatJoinToken, parseJoinToken } from '../../drivers/transport-websocket/join-token.ts';
import type { ZoneApiCore } from '../../drivers/transport-websocket/zone-api-app.ts';
import { ZoneApiClient } from '../../drivers/transport-websocket/zone-api-client.ts';
import { decodeApiBody, encodeApiBody, writeTokenPayload } from '../../drivers/transport-websocket/zone-api-codec.ts';
import {
  decodeMuxAnswers,
  encodeMuxCalls,
  ZONE_API_MUX_PATH,
  ZONE_API_MUX_PENDING_CALLS_MAX,
  ZONE_API_MUX_VERSION,
} from '../../drivers/transport-websocket/zone-api-mux.ts';
import { AccessDeniedError, ClosedError, ConflictError } from '../../kernel/errors.ts';
import { startZoneApiTestServer } from '../../test/zone/zone-api-server.ts';
import { createNodeMuxExchange } from './node-mux-exchange.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A zone whose node 1 serves the ZoneApi as a zone node does, and a client factory on the mux exchange. */
async function serveZone(): Promise<{ base: string; token: string; upgraded: Duplex[]; core: ZoneApiCore; client: (token?: string) => ZoneApiClient }> {
  const served = await startZoneApiTestServer();
  cleanups.push(() => served.close());
  const mux = createNodeMuxExchange();
  cleanups.push(() => mux.close());
  const { base, token, upgraded, core } = served;
  return { base, token, upgraded, core, client: (override) => new ZoneApiClient(base, override ?? token, { exchange: mux.exchange }) };
}

/** A raw socket on the mux path with `authorization`; resolves once open, or with the refused upgrade's status and body. */
function rawSocket(base: string, authorization: string | undefined): Promise<{ socket?: WebSocket; refused?: { status: number; body: string } }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${base.replace('http:', 'ws:')}${ZONE_API_MUX_PATH}`, { headers: authorization === undefined ? {} : { authorization } });
    cleanups.push(() => socket.terminate());
    socket.on('open', () => resolve({ socket }));
    socket.on('unexpected-response', (request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        request.destroy();
        resolve({ refused: { status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') } });
      });
    });
    socket.on('error', reject);
  });
}

function nextMessage(socket: WebSocket): Promise<Uint8Array> {
  return new Promise((resolve) => socket.once('message', (data: Buffer) => resolve(new Uint8Array(data))));
}

function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

describe('ZoneApi mux channel (node:http server, ws client)', () => {
  it('answers the data calls as the POST routes do: versions, reads, scans, EC tokens and the same error classes', async () => {
    const { client } = await serveZone();
    const api = client();
    const key = encoder.encode('alpha');
    const version = await api.commit([{ type: 'put', key, value: encoder.encode('one') }]);
    expect(version).toBeGreaterThan(0);
    expect(decoder.decode((await api.get(key))!.value)).toBe('one');
    const token = await api.write([{ type: 'put', key: encoder.encode('beta'), value: encoder.encode('two') }]);
    expect(await api.waitFor(token)).toBeGreaterThan(version);
    const page = await api.scan({ limit: 10 });
    expect(page.entries.map((entry) => decoder.decode(entry.key))).toEqual(['alpha', 'beta']);
    // A failed precondition is a ConflictError here as over HTTP (the answer carries the node's JSON error).
    const stale = api.commit([{ type: 'put', key, value: encoder.encode('two') }], [{ key, version: version - 1 }]);
    await expect(stale).rejects.toBeInstanceOf(ConflictError);
    await expect(stale).rejects.toMatchObject({ code: 'ECONFLICT' });
    // Status is a GET: it goes through node:http, beside the channel.
    expect((await api.status()).leader).toBe(1);
  });

  it('carries many concurrent calls on one channel, each answered with its own result', async () => {
    const { client, upgraded } = await serveZone();
    const api = client();
    const versions = await Promise.all(
      Array.from({ length: 300 }, (_, index) => api.commit([{ type: 'put', key: encoder.encode(`key-${index}`), value: encoder.encode(`value-${index}`) }])),
    );
    expect(new Set(versions).size).toBe(300);
    const values = await Promise.all(Array.from({ length: 300 }, (_, index) => api.get(encoder.encode(`key-${index}`))));
    expect(values.map((entry) => decoder.decode(entry!.value))).toEqual(Array.from({ length: 300 }, (_, index) => `value-${index}`));
    // 600 calls, one upgrade: every call went on the one channel.
    expect(upgraded).toHaveLength(1);
  });

  it('refuses the upgrade without the token or with a wrong one (401 EACCES, no socket), and the client reports AccessDeniedError', async () => {
    const { base, client } = await serveZone();
    const missing = await rawSocket(base, undefined);
    expect(missing.refused?.status).toBe(401);
    expect(JSON.parse(missing.refused!.body)).toMatchObject({ error: { code: 'EACCES' } });
    const wrongToken = formatJoinToken({ zoneId: 'other', zoneSecret: createZoneSecret() });
    const wrong = await rawSocket(base, `Bearer ${wrongToken}`);
    expect(wrong.refused?.status).toBe(401);
    await expect(client(wrongToken).get(encoder.encode('alpha'))).rejects.toBeInstanceOf(AccessDeniedError);
  });

  it('answers an admin route 400 EINVAL (its credential is in its body) and an unknown route 404, on a channel that stays open', async () => {
    const { base, token } = await serveZone();
    const { socket } = await rawSocket(base, `Bearer ${token}`);
    socket!.send(
      encodeMuxCalls([
        { id: 7, route: 'remove-node', body: encodeApiBody({}) },
        { id: 8, route: 'no-such-route', body: encodeApiBody({}) },
        { id: 9, route: 'get', body: encodeApiBody({ key: encoder.encode('absent') }) },
      ]),
    );
    const answers = [];
    while (answers.length < 3) answers.push(...decodeMuxAnswers(await nextMessage(socket!)));
    const byId = new Map(answers.map((answer) => [answer.id, answer]));
    expect(byId.get(7)!.status).toBe(400);
    expect(JSON.parse(decoder.decode(byId.get(7)!.body))).toMatchObject({ error: { code: 'EINVAL', message: expect.stringContaining('not served on the mux channel') } });
    expect(byId.get(8)!.status).toBe(404);
    expect(JSON.parse(decoder.decode(byId.get(8)!.body))).toMatchObject({ error: { code: 'ENOENT' } });
    expect(byId.get(9)!.status).toBe(200);
    expect(decodeApiBody(byId.get(9)!.body)).toEqual({ entry: null });
  });

  it('answers 503 EBUSY to calls beyond ZONE_API_MUX_PENDING_CALLS_MAX under way on one channel', async () => {
    const { base, token } = await serveZone();
    const { socket } = await rawSocket(base, `Bearer ${token}`);
    const zoneId = parseJoinToken(token).zoneId;
    // Waits for an index far ahead: each stays under way.
    const wait = (id: number) => ({ id, route: 'wait', body: encodeApiBody({ token: writeTokenPayload({ zoneId, index: 1_000_000 + id, term: 1 }) }) });
    socket!.send(encodeMuxCalls(Array.from({ length: ZONE_API_MUX_PENDING_CALLS_MAX }, (_, id) => wait(id))));
    socket!.send(encodeMuxCalls([wait(ZONE_API_MUX_PENDING_CALLS_MAX)]));
    const [answer, ...others] = decodeMuxAnswers(await nextMessage(socket!));
    expect(others).toEqual([]);
    expect(answer!.id).toBe(ZONE_API_MUX_PENDING_CALLS_MAX);
    expect(answer!.status).toBe(503);
    expect(JSON.parse(decoder.decode(answer!.body))).toMatchObject({ error: { code: 'EBUSY', message: expect.stringContaining(`at most ${ZONE_API_MUX_PENDING_CALLS_MAX} calls`) } });
  });

  it('closes a channel that sends a malformed message, another version or text, with 4007 and the reason', async () => {
    const { base, token } = await serveZone();
    const cases: [Uint8Array | string, RegExp][] = [
      [Uint8Array.of(0x92, 0x01), /not well-formed MessagePack/],
      [packValue([ZONE_API_MUX_VERSION + 1, []]), new RegExp(`version ${ZONE_API_MUX_VERSION + 1}`)],
      [packValue([ZONE_API_MUX_VERSION, [[1, 'get']]]), /mux call/],
      ['{"route":"get"}', /binary messages/],
    ];
    for (const [message, reason] of cases) {
      const { socket } = await rawSocket(base, `Bearer ${token}`);
      const whenClosed = closed(socket!);
      socket!.send(message);
      const { code, reason: text } = await whenClosed;
      expect(code).toBe(4007);
      expect(text).toMatch(reason);
    }
  });

  it('rejects the calls a closed channel leaves unanswered with ClosedError, and opens a new channel for the next call', async () => {
    const { client, token, upgraded } = await serveZone();
    const api = client();
    await api.commit([{ type: 'put', key: encoder.encode('first'), value: encoder.encode('1') }]);
    expect(upgraded).toHaveLength(1);
    // A wait for an index far ahead stays unanswered until the channel is cut under it.
    const underWay = api.waitFor({ zoneId: parseJoinToken(token).zoneId, index: 1_000_000, term: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    upgraded[0]!.destroy();
    await expect(underWay).rejects.toBeInstanceOf(ClosedError);
    await expect(underWay).rejects.toMatchObject({ code: 'ECLOSED', message: expect.stringContaining('mux channel') });
    expect(decoder.decode((await api.get(encoder.encode('first')))!.value)).toBe('1');
    expect(upgraded).toHaveLength(2);
  });
});
