import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRecordStore, MemoryMetastore, MemoryObjectStore } from '../../drivers/memory/index.ts';
import type { RecordStore } from '../../kernel/contracts/record-store.ts';
import { AccessDeniedError, InvalidArgumentError, PROTOCOL_ERROR_CODE, RemoteApiError, UnauthenticatedError } from '../../kernel/errors.ts';
import { createHttpApi } from './http-api.ts';
import { HTTP_API_LIMITS_DEFAULT, resolveHttpApiLimits } from './limits.ts';
import { RemoteApiKeys } from './remote-api-keys.ts';
import { RemoteNexusFS } from './remote-nexus-fs.ts';
import { inProcessFetch, serveFileSystem, type ServedFileSystem } from './test-support.ts';

/**
 * The app itself in every runtime (workerd and Chromium included): the OpenAPI document is
 * generated there too, authentication, methods, ranges and the key routes answer as they do
 * behind a real server (http-api.node.test.ts has the full set of routes and statuses).
 */

let records: RecordStore;
let served: ServedFileSystem | undefined;

beforeAll(async () => {
  records = await createMemoryRecordStore();
});

afterAll(async () => {
  await records.close();
});

afterEach(async () => {
  await served?.close();
  expect(served?.unexpectedErrors ?? []).toEqual([]);
  served = undefined;
});

async function setUp(): Promise<ServedFileSystem> {
  served = await serveFileSystem({ metastore: new MemoryMetastore(), createObjectStore: async () => new MemoryObjectStore(), records });
  return served;
}

describe('HTTP API app in process', () => {
  it('generates the OpenAPI document without a key', async () => {
    const { app } = await setUp();
    const response = await app.request('/api/v1/openapi.json');
    expect(response.status).toBe(200);
    const document = (await response.json()) as { paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(Object.keys(document.paths)).toContain('/api/v1/files/{path}');
    expect(Object.keys(document.components.schemas)).toEqual(expect.arrayContaining(['FileMetadata', 'Error', 'ApiKeyInfo']));
  });

  it('answers 401 without a key, 405 for a wrong method and 206 for a range', async () => {
    const { app, agentKey } = await setUp();
    const unauthenticated = await app.request('/api/v1/stat/');
    expect(unauthenticated.status).toBe(401);
    expect(await unauthenticated.json()).toMatchObject({ error: { code: 'EAUTH' } });
    const authorization = { authorization: `Bearer ${agentKey}` };
    const wrongMethod = await app.request('/api/v1/glob', { method: 'POST', headers: authorization });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
    await app.request('/api/v1/files/digits', { method: 'PUT', headers: authorization, body: new TextEncoder().encode('0123456789') });
    const ranged = await app.request('/api/v1/files/digits', { headers: { ...authorization, range: 'bytes=3-5' } });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe('345');
  });

  it('manages keys through RemoteApiKeys, admin keys only', async () => {
    const { app, adminKey, agentKey } = await setUp();
    const fetch = inProcessFetch(app);
    const admin = new RemoteApiKeys({ url: 'http://nexus.test', token: adminKey, fetch });
    const created = await admin.create({ name: 'worker-agent' });
    const asNewAgent = new RemoteNexusFS({ url: 'http://nexus.test', token: created.key, fetch });
    expect((await asNewAgent.write('/hello', 'hi')).sizeBytes).toBe(2);
    await admin.revoke(created.info.id);
    await expect(asNewAgent.stat('/hello')).rejects.toThrow(UnauthenticatedError);
    await expect(new RemoteApiKeys({ url: 'http://nexus.test', token: agentKey, fetch }).list()).rejects.toThrow(AccessDeniedError);
  });

  it('takes partial limits, keeps defaults for undefined ones, and refuses a limit that is not a positive integer', async () => {
    const { nexusFS, apiKeys } = await setUp();
    expect(resolveHttpApiLimits({ uploadBytesMax: 10, jsonDepthMax: undefined })).toEqual({ ...HTTP_API_LIMITS_DEFAULT, uploadBytesMax: 10 });
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => createHttpApi({ fs: nexusFS, authenticate: apiKeys.authenticate, keys: apiKeys, limits: { requestBodyBytesMax: bad } })).toThrow(InvalidArgumentError);
    }
  });

  it('turns a 2xx answer that is not JSON (a proxy page) into RemoteApiError EPROTO, not a SyntaxError', async () => {
    const fetch = async () => new Response('<html>proxy login</html>', { status: 200, headers: { 'content-type': 'text/html' } });
    const error = await new RemoteApiKeys({ url: 'http://nexus.test', token: 'nxk_unused', fetch }).list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RemoteApiError);
    expect(error).toMatchObject({ code: PROTOCOL_ERROR_CODE, status: 200 });
  });
});
