import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterEach, describe, expect, it } from 'vitest';
import { createZoneSecret, formatJoinToken, parseJoinToken } from '../../drivers/transport-websocket/join-token.ts';
import { createZoneApi, nodeStatusOf, type ZoneNodeStatus } from '../../drivers/transport-websocket/zone-api-app.ts';
import { ZoneApiClient } from '../../drivers/transport-websocket/zone-api-client.ts';
import { ConflictError } from '../../kernel/errors.ts';
import { ZoneTestCluster } from '../../test/zone/zone-cluster.ts';
import { createNodeHttpExchange, type NodeHttpExchange } from './node-http-exchange.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function exchangeForTest(options: Parameters<typeof createNodeHttpExchange>[0] = {}): NodeHttpExchange {
  const http = createNodeHttpExchange(options);
  cleanups.push(() => http.close());
  return http;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Echoes method, path, headers and body back as JSON, with the status the path asks for. */
async function echoServer(): Promise<{ base: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const status = Number(/status=(\d+)/.exec(request.url ?? '')?.[1] ?? 200);
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
  });
  server.on('connection', () => connections++);
  cleanups.push(() => server.closeAllConnections());
  return { base: await listen(server), connections: () => connections };
}

describe('node:http exchange', () => {
  it('sends method, headers and body, and resolves with the status and whole body, on kept-alive connections', async () => {
    const { base, connections } = await echoServer();
    const { exchange } = exchangeForTest();
    for (let round = 0; round < 3; round++) {
      const response = await exchange({ method: 'POST', url: `${base}/zone/v1/batch`, headers: { authorization: 'Bearer t' }, body: encoder.encode(`body ${round}`) });
      expect(response.status).toBe(200);
      const echoed = JSON.parse(decoder.decode(response.body)) as { method: string; url: string; headers: Record<string, string>; body: string };
      expect(echoed).toMatchObject({ method: 'POST', url: '/zone/v1/batch', body: `body ${round}` });
      expect(echoed.headers).toMatchObject({ authorization: 'Bearer t', 'content-length': String(`body ${round}`.length) });
    }
    const get = await exchange({ method: 'GET', url: `${base}/status=404`, headers: {} });
    expect(get.status).toBe(404);
    expect(JSON.parse(decoder.decode(get.body))).toMatchObject({ method: 'GET', body: '' });
    // Sequential requests reuse one connection.
    expect(connections()).toBe(1);
  });

  it('rejects when the node cannot be reached, for a URL that is not http:, and for a response over the bound', async () => {
    const { base } = await echoServer();
    const { exchange } = exchangeForTest({ responseBytesMax: 64 });
    const closed = createServer();
    const closedBase = await listen(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(exchange({ method: 'GET', url: `${closedBase}/zone/v1/status`, headers: {} })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(exchange({ method: 'GET', url: 'https://127.0.0.1:1/zone/v1/status', headers: {} })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(exchange({ method: 'POST', url: `${base}/big`, headers: {}, body: new Uint8Array(100) })).rejects.toMatchObject({
      code: 'EINVAL',
      message: expect.stringContaining('larger than 64 bytes'),
    });
  });

  it('carries a ZoneApiClient to a real ZoneApi server: commits, reads and errors with their codes', async () => {
    const cluster = await ZoneTestCluster.start();
    cleanups.push(() => cluster.close());
    const token = formatJoinToken({ zoneId: cluster.zoneId, zoneSecret: createZoneSecret() });
    const replica = cluster.replica(1);
    const status = (): ZoneNodeStatus => ({ ...nodeStatusOf(replica.status()), ticks: 0, tickIntervalMs: 1, electionTimeoutTicks: 10, peers: [] });
    const app = createZoneApi({ replica, token: parseJoinToken(token), status });
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }) as Server;
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const client = new ZoneApiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, token, { exchange: exchangeForTest().exchange });
    const key = encoder.encode('k');
    const version = await cluster.drive(client.commit([{ type: 'put', key, value: encoder.encode('v') }], [{ key, version: null }]));
    expect(decoder.decode((await cluster.drive(client.get(key)))!.value)).toBe('v');
    await expect(cluster.drive(client.commit([{ type: 'put', key, value: encoder.encode('w') }], [{ key, version: null }]))).rejects.toThrow(ConflictError);
    expect((await client.status()).appliedIndex).toBeGreaterThanOrEqual(version);
    server.closeAllConnections();
  });
});
