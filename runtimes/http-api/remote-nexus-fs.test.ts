import { afterAll, beforeAll } from 'vitest';
import type { RecordStore } from '../../kernel/contracts/record-store.ts';
import { createMemoryRecordStore, MemoryMetastore, MemoryObjectStore } from '../../drivers/memory/index.ts';
import { runNexusFSSuite } from '../../test/conformance/nexus-fs-suite.ts';
import { inProcessFetch, remoteSuiteContext, serveFileSystem } from './test-support.ts';

/**
 * The file-API suite, unchanged, against RemoteNexusFS whose fetch hands each request to the HTTP
 * API app in the same process: proves the client and the app in every runtime (workerd and Chromium
 * included, where no server socket can be opened). The suite's mount admin is the served NexusFS
 * (mounts are not part of the HTTP API); every file call goes over HTTP.
 */

let records: RecordStore;

beforeAll(async () => {
  records = await createMemoryRecordStore();
});

afterAll(async () => {
  await records.close();
});

runNexusFSSuite('RemoteNexusFS over the HTTP API, in process', async () => {
  const served = await serveFileSystem({ metastore: new MemoryMetastore(), createObjectStore: async () => new MemoryObjectStore(), records });
  return remoteSuiteContext(served, { url: 'http://nexus.test', fetch: inProcessFetch(served.app) });
});
