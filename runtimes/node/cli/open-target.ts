import { RemoteApiKeys } from '../../http-api/remote-api-keys.ts';
import { RemoteNexusFS } from '../../http-api/remote-nexus-fs.ts';
import { openDataDir } from '../data-dir.ts';
import type { Target, TargetLocation } from './command-support.ts';
import { httpFetch } from './http-fetch.ts';

/**
 * The real targets: a data dir opened in this process (which holds it until the command ends), or
 * a server through the HTTP API's clients.
 */
export async function openTarget(location: TargetLocation): Promise<Target> {
  if (location.kind === 'local') {
    const dataDir = await openDataDir({ dir: location.dir });
    return { fs: dataDir.fs, keys: dataDir.apiKeys, close: () => dataDir.close() };
  }
  const options = { url: location.url, token: location.token, fetch: fetchNaming(location.url) };
  return { fs: new RemoteNexusFS(options), keys: new RemoteApiKeys(options), close: async () => {} };
}

/** An error that says which server could not be reached, with the OS's code (ECONNREFUSED, ...). */
class ServerUnreachableError extends Error {
  readonly code: string;

  constructor(url: string, cause: unknown) {
    const reason = cause instanceof Error && cause.cause instanceof Error ? cause.cause : cause;
    const code = (reason as { code?: unknown } | undefined)?.code;
    super(`cannot reach the nexus server at ${url}: ${reason instanceof Error ? reason.message : String(reason)}`);
    this.name = 'ServerUnreachableError';
    this.code = typeof code === 'string' ? code : 'ECONNREFUSED';
  }
}

/** fetch (on node:http, see http-fetch.ts), with a failure to connect reported as a ServerUnreachableError (fetch says only "fetch failed"). */
function fetchNaming(url: string): typeof fetch {
  return async (input, init) => {
    try {
      return await httpFetch(input, init);
    } catch (error) {
      // An abort (watch ends on Ctrl-C) is the caller's own doing, not a failure to connect.
      if (init?.signal?.aborted === true || !(error instanceof TypeError)) throw error;
      throw new ServerUnreachableError(url, error);
    }
  };
}
