import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRecordStore } from '../../drivers/memory/index.ts';
import { LocalObjectStore, openFileKvStore } from '../../drivers/node-fs/index.ts';
import type { RecordStore } from '../../kernel/contracts/record-store.ts';
import {
  AccessDeniedError,
  AlreadyExistsError,
  CompactedError,
  InvalidArgumentError,
  NotFoundError,
  UnauthenticatedError,
} from '../../kernel/errors.ts';
import type { FileSystem } from '../../kernel/fs/types.ts';
import { runNexusFSSuite } from '../../test/conformance/nexus-fs-suite.ts';
import { createHttpApi } from './http-api.ts';
import type { HttpApiLimits } from './limits.ts';
import { RemoteApiKeys } from './remote-api-keys.ts';
import { RemoteNexusFS } from './remote-nexus-fs.ts';
import { remoteSuiteContext, serveFileSystem, type ServedFileSystem } from './test-support.ts';
import { listen, type ListeningServer } from './testing/node-server.ts';

/**
 * The HTTP API through a real HTTP server (@hono/node-server on 127.0.0.1, port 0) over an embedded
 * NexusFS on the KV engine and LocalObjectStore in a temp dir, with real ApiKeys: the file-API suite
 * against RemoteNexusFS over real fetch, then every route, every error status and bad input with
 * raw requests. Node and Deno.
 */

let records: RecordStore;
const directories: string[] = [];

beforeAll(async () => {
  records = await createMemoryRecordStore();
});

afterAll(async () => {
  await records.close();
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

async function serveOnDisk(limits?: Partial<HttpApiLimits>): Promise<{ served: ServedFileSystem; server: ListeningServer }> {
  const directory = await mkdtemp(join(tmpdir(), 'nexus-http-api-'));
  directories.push(directory);
  let storeIndex = 0;
  const served = await serveFileSystem({
    metastore: await openFileKvStore(join(directory, 'metastore.kv')),
    createObjectStore: async () => new LocalObjectStore({ directory: join(directory, `blobs-${storeIndex++}`) }),
    records,
    ...(limits === undefined ? {} : { limits }),
  });
  return { served, server: await listen(served.app) };
}

runNexusFSSuite('RemoteNexusFS through a real HTTP server, on the KV engine and local disk', async () => {
  const { served, server } = await serveOnDisk();
  return remoteSuiteContext(served, { url: server.url }, () => server.close());
});

interface Setup {
  served: ServedFileSystem;
  server: ListeningServer;
  /** A raw request with the agent key unless `headers.authorization` says otherwise. */
  request(path: string, init?: RequestInit & { headers?: Record<string, string> }): Promise<Response>;
  remote: RemoteNexusFS;
}

let current: Setup | undefined;

afterEach(async () => {
  const setup = current;
  current = undefined;
  if (setup === undefined) return;
  await setup.server.close();
  await setup.served.close();
  expect(setup.served.unexpectedErrors, 'unexpected errors reported by the app').toEqual([]);
});

async function setUp(limits?: Partial<HttpApiLimits>): Promise<Setup> {
  const { served, server } = await serveOnDisk(limits);
  const request = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> =>
    fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${served.agentKey}`, ...init.headers } });
  current = { served, server, request, remote: new RemoteNexusFS({ url: server.url, token: served.agentKey }) };
  return current;
}

async function expectError(response: Response, status: number, code: string, messagePart?: string): Promise<{ code: string; message: string }> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const { error } = JSON.parse(text) as { error: { code: string; message: string } };
  expect(error.code).toBe(code);
  expect(error.message.length).toBeGreaterThan(0);
  if (messagePart !== undefined) expect(error.message).toContain(messagePart);
  return error;
}

/** A request written byte for byte on a socket, so no client normalises its path first. */
async function rawRequest(port: number, requestLine: string, key: string): Promise<{ status: number; body: string }> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(`${requestLine}\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n\r\n`);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const text = Buffer.concat(chunks).toString('utf8');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
  return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

const json = (value: unknown): RequestInit & { headers: Record<string, string> } => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(value),
});

describe('HTTP API routes through a real server', () => {
  it('PUT, GET, HEAD and DELETE a file, with ETag, Content-Type and Last-Modified', async () => {
    const { request } = await setUp();
    const put = await request('/api/v1/files/notes/to%20do.md', { method: 'PUT', body: '- [ ] ship\n', headers: { 'content-type': 'text/markdown' } });
    expect(put.status).toBe(200);
    const metadata = (await put.json()) as { path: string; version: number; sizeBytes: number; mimeType: string };
    expect(metadata).toMatchObject({ path: '/notes/to do.md', sizeBytes: 11, mimeType: 'text/markdown' });
    expect(put.headers.get('etag')).toBe(`"${metadata.version}"`);

    const get = await request('/api/v1/files/notes/to%20do.md');
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('- [ ] ship\n');
    expect(get.headers.get('etag')).toBe(`"${metadata.version}"`);
    expect(get.headers.get('content-type')).toBe('text/markdown');
    expect(get.headers.get('content-length')).toBe('11');
    expect(get.headers.get('accept-ranges')).toBe('bytes');
    expect(Date.parse(get.headers.get('last-modified')!)).toBeGreaterThan(0);

    const head = await request('/api/v1/files/notes/to%20do.md', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('11');
    expect(await head.text()).toBe('');

    expect((await request('/api/v1/files/notes/to%20do.md', { method: 'DELETE' })).status).toBe(204);
    await expectError(await request('/api/v1/files/notes/to%20do.md'), 404, 'ENOENT');
    expect((await request('/api/v1/files/notes/to%20do.md', { method: 'HEAD' })).status).toBe(404);
  });

  it('PUT records no mime type for curl\'s default form type, so the kernel guesses from the name', async () => {
    const { request } = await setUp();
    const put = await request('/api/v1/files/page.html', { method: 'PUT', body: '<p>', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(((await put.json()) as { mimeType: string }).mimeType).toBe('text/html');
  });

  it('serves one byte range with 206 and Content-Range, and offset/length with kernel semantics', async () => {
    const { request } = await setUp();
    await request('/api/v1/files/digits', { method: 'PUT', body: '0123456789' });
    const cases: [string, string, string][] = [
      ['bytes=2-4', '234', 'bytes 2-4/10'],
      ['bytes=7-', '789', 'bytes 7-9/10'],
      ['bytes=-3', '789', 'bytes 7-9/10'],
      ['bytes=8-100', '89', 'bytes 8-9/10'],
      ['bytes=-50', '0123456789', 'bytes 0-9/10'],
    ];
    for (const [range, body, contentRange] of cases) {
      const response = await request('/api/v1/files/digits', { headers: { range } });
      expect(response.status, range).toBe(206);
      expect(response.headers.get('content-range'), range).toBe(contentRange);
      expect(await response.text(), range).toBe(body);
    }
    const offsetRead = await request('/api/v1/files/digits?offset=8&length=100');
    expect(offsetRead.status).toBe(200);
    expect(await offsetRead.text()).toBe('89');
    const pastTheEnd = await request('/api/v1/files/digits?offset=20');
    expect(pastTheEnd.status).toBe(200);
    expect(await pastTheEnd.text()).toBe('');
  });

  it('answers a bad Range with 416 and Content-Range bytes */size', async () => {
    const { request } = await setUp();
    await request('/api/v1/files/digits', { method: 'PUT', body: '0123456789' });
    for (const range of ['bytes=10-', 'bytes=5-2', 'bytes=-0', 'bytes=0-1,4-5', 'lines=1-2', 'bytes=x-y']) {
      const response = await request('/api/v1/files/digits', { headers: { range } });
      expect(response.headers.get('content-range'), range).toBe('bytes */10');
      await expectError(response, 416, 'EINVAL', 'cannot serve Range');
    }
    await expectError(await request('/api/v1/files/digits?offset=1', { headers: { range: 'bytes=0-1' } }), 400, 'EINVAL', 'not both');
  });

  it('If-Match and If-None-Match: * answer 412 ECONFLICT when they fail, and a malformed If-Match 400', async () => {
    const { request } = await setUp();
    const first = (await (await request('/api/v1/files/f', { method: 'PUT', body: 'one' })).json()) as { version: number };
    await expectError(await request('/api/v1/files/f', { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } }), 412, 'ECONFLICT');
    await expectError(await request('/api/v1/files/f', { method: 'PUT', body: 'x', headers: { 'if-match': `"${first.version + 1}"` } }), 412, 'ECONFLICT');
    const second = await request('/api/v1/files/f', { method: 'PUT', body: 'two', headers: { 'if-match': `"${first.version}"` } });
    expect(second.status).toBe(200);
    await expectError(await request('/api/v1/files/f', { method: 'DELETE', headers: { 'if-match': `"${first.version}"` } }), 412, 'ECONFLICT');
    await expectError(await request('/api/v1/files/f', { method: 'PUT', body: 'x', headers: { 'if-match': 'W/"1"' } }), 400, 'EINVAL', 'If-Match');
    await expectError(await request('/api/v1/files/f', { method: 'PUT', body: 'x', headers: { 'if-none-match': '"1"' } }), 400, 'EINVAL', 'If-None-Match');
    expect((await request('/api/v1/files/new', { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } })).status).toBe(200);
  });

  it('stat, list with recursive, limit and cursor, and mkdir with parents and existOk', async () => {
    const { request } = await setUp();
    await expectError(await request('/api/v1/mkdir/a/b/c', { method: 'POST' }), 404, 'ENOENT');
    expect((await request('/api/v1/mkdir/a/b/c?parents=true', { method: 'POST' })).status).toBe(200);
    await expectError(await request('/api/v1/mkdir/a/b/c', { method: 'POST' }), 409, 'EEXIST');
    expect((await request('/api/v1/mkdir/a/b/c?existOk=true', { method: 'POST' })).status).toBe(200);
    for (const name of ['x', 'y', 'z']) await request(`/api/v1/files/a/${name}`, { method: 'PUT', body: name });
    const stat = (await (await request('/api/v1/stat/a/b')).json()) as { type: string };
    expect(stat.type).toBe('DIR');
    const paths: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const query = new URLSearchParams({ recursive: 'true', limit: '2', ...(cursor === undefined ? {} : { cursor }) });
      const answer = (await (await request(`/api/v1/list/a?${query}`)).json()) as { entries: { path: string }[]; cursor?: string };
      paths.push(...answer.entries.map((entry) => entry.path));
      cursor = answer.cursor;
      if (cursor === undefined) break;
    }
    expect(paths).toEqual(['/a/b', '/a/b/c', '/a/x', '/a/y', '/a/z']);
    const root = (await (await request('/api/v1/list/')).json()) as { entries: { path: string }[] };
    expect(root.entries.map((entry) => entry.path)).toEqual(['/a']);
    await expectError(await request('/api/v1/list/a/x'), 409, 'ENOTDIR');
    await expectError(await request('/api/v1/list/a?limit=ten'), 400, 'EINVAL', 'limit');
    await expectError(await request('/api/v1/list/a?limit=10001'), 400, 'EINVAL', 'limit');
    await expectError(await request('/api/v1/list/a?recursive=yes'), 400, 'EINVAL', 'recursive');
    await expectError(await request('/api/v1/list/a?colour=blue'), 400, 'EINVAL', 'colour');
  });

  it('append, edit, rename and copy', async () => {
    const { request } = await setUp();
    await request('/api/v1/append/log', { method: 'POST', body: 'one\n' });
    const appended = (await (await request('/api/v1/append/log', { method: 'POST', body: 'two\n' })).json()) as { version: number };
    const edited = await request('/api/v1/edit/log', json({ edits: [{ search: 'two', replace: 'TWO' }], ifMatch: appended.version }));
    expect(edited.status).toBe(200);
    expect(((await edited.json()) as { replacements: number[] }).replacements).toEqual([1]);
    await expectError(await request('/api/v1/edit/log', json({ edits: [{ search: 'absent', replace: 'x' }] })), 400, 'EINVAL');
    await expectError(await request('/api/v1/edit/log', json({ edits: [{ search: 'one', replace: 'x' }], ifMatch: appended.version })), 412, 'ECONFLICT');
    expect((await request('/api/v1/rename', json({ from: '/log', to: '/logs/main' }))).status).toBe(200);
    expect((await request('/api/v1/copy', json({ from: '/logs/main', to: '/logs/copy' }))).status).toBe(200);
    expect(await (await request('/api/v1/files/logs/copy')).text()).toBe('one\nTWO\n');
    await expectError(await request('/api/v1/copy', json({ from: '/logs/main', to: '/logs/copy' })), 409, 'EEXIST');
    await expectError(await request('/api/v1/rename', json({ from: '/missing', to: '/x' })), 404, 'ENOENT');
    await expectError(await request('/api/v1/files/logs', { method: 'DELETE' }), 409, 'ENOTEMPTY');
    await expectError(await request('/api/v1/files/logs'), 409, 'EISDIR');
    expect((await request('/api/v1/files/logs?recursive=true', { method: 'DELETE' })).status).toBe(204);
  });

  it('glob, grep and revision', async () => {
    const { request } = await setUp();
    await request('/api/v1/files/docs/a.md', { method: 'PUT', body: 'alpha\nbeta\n' });
    await request('/api/v1/files/docs/b.txt', { method: 'PUT', body: 'beta\n' });
    const glob = (await (await request(`/api/v1/glob?${new URLSearchParams({ pattern: '**/*.md' })}`)).json()) as { paths: string[] };
    expect(glob.paths).toEqual(['/docs/a.md']);
    const grep = (await (await request('/api/v1/grep', json({ pattern: 'beta', path: '/docs', contextLines: 1 }))).json()) as {
      matches: { path: string; lineNumber: number; before: string[] }[];
    };
    expect(grep.matches.map((match) => [match.path, match.lineNumber, match.before])).toEqual([
      ['/docs/a.md', 2, ['alpha']],
      ['/docs/b.txt', 1, []],
    ]);
    await expectError(await request('/api/v1/grep', json({ pattern: '(' })), 400, 'EINVAL');
    await expectError(await request('/api/v1/glob'), 400, 'EINVAL', 'pattern');
    const { revision } = (await (await request('/api/v1/revision')).json()) as { revision: number };
    expect(revision).toBeGreaterThanOrEqual(2);
  });

  it('batch read, stat and write', async () => {
    const { request } = await setUp();
    const written = await request('/api/v1/batch/write', json({ files: [{ path: '/a', data: 'aGk' }, { path: '/b', data: '' }] }));
    expect(written.status).toBe(200);
    const read = (await (await request('/api/v1/batch/read', json({ paths: ['/a', '/missing'] }))).json()) as { results: unknown[] };
    expect(read.results).toEqual([
      { path: '/a', ok: true, value: 'aGk' },
      { path: '/missing', ok: false, error: { code: 'ENOENT', message: expect.any(String) } },
    ]);
    const stat = (await (await request('/api/v1/batch/stat', json({ paths: ['/b'] }))).json()) as { results: { value: { sizeBytes: number } }[] };
    expect(stat.results[0]!.value.sizeBytes).toBe(0);
    await expectError(await request('/api/v1/batch/write', json({ files: [{ path: '/c', data: 'not base64!' }] })), 400, 'EINVAL', 'base64url');
  });

  it('watch streams replayed and live changes as server-sent events', async () => {
    const { request, remote } = await setUp();
    await remote.write('/w/one', '1');
    const response = await request('/api/v1/watch/w?since=0');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const readUntil = async (part: string): Promise<void> => {
      for (let reads = 0; reads < 100 && !text.includes(part); reads++) text += (await reader.read()).value ?? '';
    };
    await readUntil('"/w/one"');
    await remote.write('/w/two', '2');
    await readUntil('"/w/two"');
    await reader.cancel();
    const events = text.split('\n\n').filter((block) => block.startsWith('event: change'));
    expect(events.map((block) => JSON.parse(block.split('\n').find((line) => line.startsWith('data: '))!.slice(6)).path)).toEqual([
      '/w',
      '/w/one',
      '/w/two',
    ]);
    expect(events[1]).toMatch(/\nid: \d+\n/);
    await expectError(await request('/api/v1/watch/w?since=-1'), 400, 'EINVAL', 'since');
  });

  it('delivers an error after the stream started as an error event, which RemoteNexusFS throws as its class', async () => {
    const { served } = await setUp();
    // The kernel keeps CHANGE_LOG_RETAINED revisions, too many to compact in a test: a file system
    // whose watch fails the way a compacted one does stands in for it.
    const compacted = new Proxy(served.nexusFS as FileSystem, {
      get: (target, property, receiver) =>
        property === 'watch'
          ? async function* () {
              throw new CompactedError('cannot watch / since revision 1: the change log keeps revisions from 9');
            }
          : Reflect.get(target, property, receiver),
    });
    const app = createHttpApi({ fs: compacted, authenticate: served.apiKeys.authenticate, keys: served.apiKeys });
    const server = await listen(app);
    try {
      const response = await fetch(`${server.url}/api/v1/watch/?since=1`, { headers: { authorization: `Bearer ${served.agentKey}` } });
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('event: error\ndata: {"error":{"code":"ECOMPACTED","message":"cannot watch / since revision 1');
      const remote = new RemoteNexusFS({ url: server.url, token: served.agentKey });
      const watching = (async () => {
        for await (const event of remote.watch('/', { since: 1 })) throw new Error(`unexpected event ${JSON.stringify(event)}`);
      })();
      await expect(watching).rejects.toThrow(CompactedError);
    } finally {
      await server.close();
    }
  });

  it('keeps an idle watch stream alive with heartbeat comments', async () => {
    const { request } = await setUp({ watchHeartbeatMs: 10 });
    const response = await request('/api/v1/watch/idle');
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    for (let reads = 0; reads < 100 && !text.includes(': heartbeat'); reads++) text += (await reader.read()).value ?? '';
    await reader.cancel();
    expect(text).toMatch(/^: watching "\/idle" after revision \d+\n\n/);
    expect(text).toContain(': heartbeat\n\n');
    expect(text).not.toContain('event:');
  });

  it('refuses a watch of a reserved or bad path with its status before the stream starts', async () => {
    const { request } = await setUp();
    await expectError(await request('/api/v1/watch/__sys__'), 403, 'EACCES', '/__sys__');
    await expectError(await request(`/api/v1/watch/${'n'.repeat(256)}`), 400, 'EINVAL', '255 bytes');
  });

  it('refuses a watch beyond watchStreamsMax with 503 EBUSY, and frees the slot when the client leaves', async () => {
    const { request } = await setUp({ watchStreamsMax: 1 });
    const first = new AbortController();
    const open = await request('/api/v1/watch/', { signal: first.signal });
    expect(open.status).toBe(200);
    await expectError(await request('/api/v1/watch/'), 503, 'EBUSY', 'at most 1 watch');
    first.abort();
    await open.body?.cancel().catch(() => {});
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      const again = await request('/api/v1/watch/');
      status = again.status;
      await again.body?.cancel();
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(200);
  });
});

describe('HTTP API authentication and keys through a real server', () => {
  it('answers no key, a malformed header, an unknown key and a revoked key with 401 EAUTH', async () => {
    const { request, served } = await setUp();
    const revoked = await served.apiKeys.create({ name: 'soon-revoked' });
    expect((await request('/api/v1/revision', { headers: { authorization: `Bearer ${revoked.key}` } })).status).toBe(200);
    await served.apiKeys.revoke('soon-revoked');
    const cases: [Record<string, string>, string][] = [
      [{ authorization: '' }, 'Bearer <key>'],
      [{ authorization: `Basic ${served.agentKey}` }, 'Bearer <key>'],
      [{ authorization: 'Bearer nxk_unknown' }, 'unknown or revoked'],
      [{ authorization: `Bearer ${revoked.key}` }, 'unknown or revoked'],
    ];
    for (const [headers, message] of cases) {
      await expectError(await request('/api/v1/revision', { headers }), 401, 'EAUTH', message);
      await expectError(await request('/api/v1/files/x', { method: 'PUT', body: 'x', headers }), 401, 'EAUTH', message);
    }
    const unauthenticated = await fetch(`${current!.server.url}/api/v1/stat/`);
    await expectError(unauthenticated, 401, 'EAUTH', 'needs an API key');
    const remote = new RemoteNexusFS({ url: current!.server.url, token: revoked.key });
    await expect(remote.stat('/')).rejects.toThrow(UnauthenticatedError);
    // Refused before its body is read, a streamed upload still ends in the server's answer.
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(new Uint8Array(64 * 1024)),
    });
    await expect(remote.write('/refused', body)).rejects.toThrow(UnauthenticatedError);
    expect(await served.nexusFS.exists('/refused')).toBe(false);
  });

  it('manages keys with an admin key, remotely as locally, and refuses an agent key with 403', async () => {
    const { served, server, request } = await setUp();
    const admin = new RemoteApiKeys({ url: server.url, token: served.adminKey });
    const created = await admin.create({ name: 'agent-7' });
    expect(created.info).toMatchObject({ name: 'agent-7', admin: false });
    expect((await served.apiKeys.authenticate(created.key))?.id).toBe(created.info.id);
    expect((await admin.list()).map((info) => info.name)).toContain('agent-7');
    await expect(admin.create({ name: 'agent-7' })).rejects.toThrow(AlreadyExistsError);
    await expect(admin.create({ name: 'bad name!' })).rejects.toThrow(InvalidArgumentError);
    const revoked = await admin.revoke('agent-7');
    expect(revoked.revokedAtMs).toBeGreaterThan(0);
    await expect(admin.revoke('agent-7')).rejects.toThrow(NotFoundError);
    await expect(admin.revoke('')).rejects.toThrow(InvalidArgumentError);

    const agent = new RemoteApiKeys({ url: server.url, token: served.agentKey });
    await expect(agent.list()).rejects.toThrow(AccessDeniedError);
    await expect(agent.create({ name: 'x' })).rejects.toThrow(AccessDeniedError);
    await expectError(await request('/api/v1/keys/anything', { method: 'DELETE' }), 403, 'EACCES', 'admin key');
  });
});

describe('HTTP API bad input through a real server', () => {
  it('keeps raw and percent-encoded traversal inside the API, and refuses encoded slashes, NUL and invalid UTF-8', async () => {
    const { served, server, request } = await setUp();
    await request('/api/v1/files/secret', { method: 'PUT', body: 'top' });
    const key = served.agentKey;
    // The HTTP layer resolves dot segments before routing: a traversal never leaves /api/v1/files
    // with a path the kernel would take as climbing above /; it lands on another route or none.
    for (const target of ['/api/v1/files/../../../../etc/passwd', '/api/v1/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/api/v1/files/a/%2E%2E/%2E%2E/%2E%2E/etc/passwd']) {
      const answer = await rawRequest(server.port, `GET ${target} HTTP/1.1`, key);
      expect(answer.status, target).toBe(404);
      expect(JSON.parse(answer.body), target).toMatchObject({ error: { code: 'ENOENT' } });
      expect(answer.body).not.toContain('root:');
    }
    // Within the tree, dot segments resolve as the kernel resolves them.
    const inside = await rawRequest(server.port, 'GET /api/v1/files/a/b/%2e%2e/%2e%2e/secret HTTP/1.1', key);
    expect(inside).toMatchObject({ status: 200, body: 'top' });
    const refused: [string, string][] = [
      ['/api/v1/files/a%2Fb', 'encoded /'],
      ['/api/v1/files/..%2F..%2Fsecret', 'encoded /'],
      ['/api/v1/files/..%2fsecret', 'encoded /'],
      ['/api/v1/files/a%00b', 'NUL'],
      ['/api/v1/files/%C3%28', 'invalid UTF-8'],
      ['/api/v1/files/%E0%A4%A', 'malformed'],
      ['/api/v1/files/%01', 'control characters'],
    ];
    for (const [target, message] of refused) {
      const answer = await rawRequest(server.port, `GET ${target} HTTP/1.1`, key);
      expect(answer.status, target).toBe(400);
      expect(JSON.parse(answer.body).error.code, target).toBe('EINVAL');
      expect(JSON.parse(answer.body).error.message, target).toContain(message);
    }
    await expectError(await request('/api/v1/files/__sys__/x'), 403, 'EACCES', '/__sys__');
    await expectError(await request(`/api/v1/files/${'a'.repeat(256)}`), 400, 'EINVAL', '255 bytes');
    await expectError(await request(`/api/v1/files/${'%C3%A9'.repeat(2048)}`), 400, 'EINVAL', '4095 bytes');
  });

  it('refuses malformed JSON, a wrong shape, unknown fields and deep nesting with 400 EINVAL', async () => {
    const { request } = await setUp();
    const post = (body: string): Promise<Response> => request('/api/v1/rename', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await expectError(await post('{"from": "/a", "to": '), 400, 'EINVAL', 'not well-formed JSON');
    await expectError(await post(''), 400, 'EINVAL', 'needs a JSON request body');
    await expectError(await post('{"from": 1, "to": "/b"}'), 400, 'EINVAL', 'from');
    await expectError(await post('{"from": "/a", "to": "/b", "force": true}'), 400, 'EINVAL', 'force');
    await expectError(await post('[1, 2]'), 400, 'EINVAL', 'invalid rename request');
    await expectError(await post(`${'['.repeat(100)}${']'.repeat(100)}`), 400, 'EINVAL', 'nested deeper than 16');
    const invalidUtf8 = new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]);
    await expectError(await request('/api/v1/rename', { method: 'POST', body: invalidUtf8 }), 400, 'EINVAL', 'not valid UTF-8');
  });

  it('answers a known path with the wrong method 405 with Allow, and an unknown route 404', async () => {
    const { request } = await setUp();
    const wrong = await request('/api/v1/files/x', { method: 'PATCH' });
    expect(wrong.headers.get('allow')).toBe('HEAD, GET, PUT, DELETE');
    await expectError(wrong, 405, 'EINVAL', 'PATCH is not allowed');
    const getRename = await request('/api/v1/rename');
    expect(getRename.headers.get('allow')).toBe('POST');
    await expectError(getRename, 405, 'EINVAL');
    await expectError(await request('/api/v1/nothing-here'), 404, 'ENOENT', 'no route GET /api/v1/nothing-here');
  });

  it('refuses bodies over their limits with 413: declared, streamed, JSON and uploads', async () => {
    const { request, served } = await setUp({ requestBodyBytesMax: 1024, uploadBytesMax: 64 * 1024 });
    await expectError(await request('/api/v1/rename', json({ from: '/a', to: `/${'b'.repeat(2000)}` })), 413, 'EINVAL', 'at most 1024 bytes');
    await expectError(await request('/api/v1/append/a', { method: 'POST', body: new Uint8Array(1025) }), 413, 'EINVAL', 'at most 1024 bytes');
    await expectError(await request('/api/v1/files/big', { method: 'PUT', body: new Uint8Array(64 * 1024 + 1) }), 413, 'EINVAL', 'at most 65536 bytes');
    // A streamed upload has no Content-Length: it is cut off as it passes the limit.
    let sentChunks = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sentChunks++ === 20) controller.close();
        else controller.enqueue(new Uint8Array(8 * 1024));
      },
    });
    const streamed = await request('/api/v1/files/big', { method: 'PUT', body: stream, duplex: 'half' } as RequestInit & { headers?: Record<string, string> });
    await expectError(streamed, 413, 'EINVAL', 'at most 65536 bytes');
    expect(await served.nexusFS.exists('/big')).toBe(false);
    expect((await request('/api/v1/files/fits', { method: 'PUT', body: new Uint8Array(64 * 1024) })).status).toBe(200);
  });

  it('holds glob, grep, list and batches to the limits a server lowers, capping requests that give none', async () => {
    const { request } = await setUp({ globResultsMax: 2, grepResultsMax: 2, listLimitMax: 2, batchItemsMax: 2 });
    for (const name of ['a', 'b', 'c']) await request(`/api/v1/files/${name}.txt`, { method: 'PUT', body: 'match\n' });
    const globbed = (await (await request('/api/v1/glob?pattern=*.txt')).json()) as { paths: string[] };
    expect(globbed.paths).toEqual(['/a.txt', '/b.txt']);
    await expectError(await request('/api/v1/glob?pattern=*.txt&limit=3'), 400, 'EINVAL', 'glob limit is at most 2');
    const grepped = (await (await request('/api/v1/grep', json({ pattern: 'match' }))).json()) as { matches: unknown[] };
    expect(grepped.matches).toHaveLength(2);
    await expectError(await request('/api/v1/grep', json({ pattern: 'match', maxResults: 3 })), 400, 'EINVAL', 'grep maxResults is at most 2');
    const listed = (await (await request('/api/v1/list/')).json()) as { entries: unknown[]; cursor?: string };
    expect(listed.entries).toHaveLength(2);
    expect(listed.cursor).toBeDefined();
    await expectError(await request('/api/v1/batch/stat', json({ paths: ['/a.txt', '/b.txt', '/c.txt'] })), 400, 'EINVAL', 'at most 2 items');
  });

  it('refuses request headers over headerBytesMax with 431', async () => {
    const { request } = await setUp({ headerBytesMax: 1024 });
    await expectError(await request('/api/v1/revision', { headers: { 'x-padding': 'p'.repeat(1100) } }), 431, 'EINVAL', 'at most 1024 bytes');
  });

  it('answers an unexpected failure with 500 EINTERNAL, without its message or stack', async () => {
    const { served } = await setUp();
    const reported: unknown[] = [];
    const failing = new Proxy(served.nexusFS as FileSystem, {
      get: (target, property, receiver) =>
        property === 'stat' ? async () => { throw new TypeError('secret internal detail at /srv/host/path'); } : Reflect.get(target, property, receiver),
    });
    const app = createHttpApi({ fs: failing, authenticate: served.apiKeys.authenticate, keys: served.apiKeys, onUnexpectedError: (error) => reported.push(error) });
    const server = await listen(app);
    try {
      const response = await fetch(`${server.url}/api/v1/stat/x`, { headers: { authorization: `Bearer ${served.agentKey}` } });
      const error = await expectError(response, 500, 'EINTERNAL');
      expect(error.message).not.toContain('secret');
      expect(error.message).not.toContain('at ');
      expect(reported).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('serves the OpenAPI document without a key, listing every route', async () => {
    const { server } = await setUp();
    const response = await fetch(`${server.url}/api/v1/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document.openapi).toBe('3.1.0');
    const routes = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
    expect(routes.sort()).toEqual(
      [
        'GET /api/v1/files/{path}',
        'HEAD /api/v1/files/{path}',
        'PUT /api/v1/files/{path}',
        'DELETE /api/v1/files/{path}',
        'POST /api/v1/append/{path}',
        'GET /api/v1/stat/{path}',
        'GET /api/v1/list/{path}',
        'POST /api/v1/mkdir/{path}',
        'POST /api/v1/edit/{path}',
        'POST /api/v1/rename',
        'POST /api/v1/copy',
        'GET /api/v1/glob',
        'POST /api/v1/grep',
        'GET /api/v1/watch/{path}',
        'GET /api/v1/revision',
        'POST /api/v1/batch/read',
        'POST /api/v1/batch/stat',
        'POST /api/v1/batch/write',
        'GET /api/v1/keys',
        'POST /api/v1/keys',
        'DELETE /api/v1/keys/{idOrName}',
      ].sort(),
    );
    expect(JSON.stringify(document.paths['/api/v1/list/{path}'])).toContain('"cursor"');
  });
});
