import type { ObjectStore } from '../../kernel/contracts/object-store.ts';
import type { Metastore } from '../../kernel/contracts/metastore.ts';
import { NexusFS } from '../../kernel/fs/nexus-fs.ts';
import { ApiKeys } from '../../kernel/services/api-keys.ts';
import type { RecordStore } from '../../kernel/contracts/record-store.ts';
import type { NexusFSSuiteContext } from '../../test/conformance/nexus-fs-suite.ts';
import { createHttpApi } from './http-api.ts';
import type { HttpApiLimits } from './limits.ts';
import { RemoteNexusFS } from './remote-nexus-fs.ts';

/** An embedded NexusFS served by the HTTP API, with real API keys, for tests in every runtime. */
export interface ServedFileSystem {
  readonly nexusFS: NexusFS;
  readonly rootObjectStore: ObjectStore;
  /** A fresh ObjectStore, closed with the rest. */
  createObjectStore(): Promise<ObjectStore>;
  readonly apiKeys: ApiKeys;
  readonly app: ReturnType<typeof createHttpApi>;
  /** A live admin key and a live agent key. */
  readonly adminKey: string;
  readonly agentKey: string;
  /** Errors the app reported as unexpected (500s); tests expect none unless they provoke one. */
  readonly unexpectedErrors: unknown[];
  close(): Promise<void>;
}

export interface ServeOptions {
  readonly metastore: Metastore;
  /** Makes the root ObjectStore, and each one the suite's mount tests mount. */
  readonly createObjectStore: () => Promise<ObjectStore>;
  readonly records: RecordStore;
  readonly limits?: Partial<HttpApiLimits>;
}

export async function serveFileSystem(options: ServeOptions): Promise<ServedFileSystem> {
  const nexusFS = new NexusFS({ metastore: options.metastore });
  const rootObjectStore = await options.createObjectStore();
  const objectStores = [rootObjectStore];
  await nexusFS.mount('/', rootObjectStore);
  const apiKeys = await ApiKeys.open(options.records);
  const admin = await apiKeys.create({ name: `admin-${crypto.randomUUID()}`, admin: true });
  const agent = await apiKeys.create({ name: `agent-${crypto.randomUUID()}` });
  const unexpectedErrors: unknown[] = [];
  const app = createHttpApi({
    fs: nexusFS,
    authenticate: apiKeys.authenticate,
    keys: apiKeys,
    onUnexpectedError: (error) => unexpectedErrors.push(error),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
  });
  return {
    nexusFS,
    rootObjectStore,
    async createObjectStore() {
      const store = await options.createObjectStore();
      objectStores.push(store);
      return store;
    },
    apiKeys,
    app,
    adminKey: admin.key,
    agentKey: agent.key,
    unexpectedErrors,
    async close() {
      await nexusFS.close();
      for (const store of objectStores) await store.close();
      await options.metastore.close();
    },
  };
}

/** A fetch that hands each request to the app in this process, as a Worker's runtime would. */
export function inProcessFetch(app: { fetch: (request: Request) => Response | Promise<Response> }): typeof fetch {
  return async (input, init) => app.fetch(new Request(input, init));
}

/**
 * The file-API suite's context for a RemoteNexusFS over `served`. File calls go over HTTP; the
 * mount admin is the served NexusFS itself (mounts are an admin call, not part of the HTTP API), and
 * `rootObjectStore` is the served one, so the suite's blob and mount tests check what the remote
 * calls did on the server.
 */
export function remoteSuiteContext(served: ServedFileSystem, remote: { url: string; fetch?: typeof fetch }, stop: () => Promise<void> = async () => {}): NexusFSSuiteContext {
  const fs = new RemoteNexusFS({ url: remote.url, token: served.agentKey, ...(remote.fetch === undefined ? {} : { fetch: remote.fetch }) });
  const { nexusFS } = served;
  return {
    fs,
    admin: {
      mount: (path, store, mountOptions) => nexusFS.mount(path, store, mountOptions),
      unmount: (path) => nexusFS.unmount(path),
      listMounts: () => nexusFS.listMounts(),
      createObjectStore: () => served.createObjectStore(),
    },
    rootObjectStore: served.rootObjectStore,
    async close() {
      await stop();
      await served.close();
      if (served.unexpectedErrors.length > 0) throw new Error(`the HTTP API reported unexpected errors: ${served.unexpectedErrors.map(String).join('; ')}`);
    },
  };
}
