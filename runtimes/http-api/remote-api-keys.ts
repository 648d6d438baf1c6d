import { InvalidArgumentError } from '../../kernel/errors.ts';
import type { ApiKeyAdmin, ApiKeyInfo, CreatedApiKey } from '../../kernel/services/api-key-types.ts';
import { ApiConnection, type RemoteOptions } from './api-connection.ts';
import { readApiKeyInfo, readApiKeyList, readCreatedApiKey, ROUTES } from './wire.ts';

export type RemoteApiKeysOptions = RemoteOptions;

/**
 * Key management on a nexusfs server, over its HTTP API (`/api/v1/keys`), with the same contract
 * as the local ApiKeys service (ApiKeyAdmin). The token must be an admin key: an agent key gets
 * AccessDeniedError (EACCES, HTTP 403).
 */
export class RemoteApiKeys implements ApiKeyAdmin {
  readonly #connection: ApiConnection;

  constructor(options: RemoteApiKeysOptions) {
    this.#connection = new ApiConnection(options);
  }

  async create(options: { name: string; admin?: boolean }): Promise<CreatedApiKey> {
    return readCreatedApiKey(await this.#connection.json({ method: 'POST', path: ROUTES.keys, json: { name: options.name, admin: options.admin } }));
  }

  async list(): Promise<ApiKeyInfo[]> {
    return readApiKeyList(await this.#connection.json({ method: 'GET', path: ROUTES.keys }));
  }

  async revoke(idOrName: string): Promise<ApiKeyInfo> {
    // An empty one would address the key list itself.
    if (typeof idOrName !== 'string' || idOrName.length === 0) throw new InvalidArgumentError('cannot revoke a key: expected its id or name');
    return readApiKeyInfo(await this.#connection.json({ method: 'DELETE', path: `${ROUTES.keys}/${encodeURIComponent(idOrName)}` }));
  }
}
