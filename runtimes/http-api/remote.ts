/**
 * `nexusfs/remote`: the clients of a nexusfs server's HTTP API, on `fetch` only (Node, Deno,
 * Workers, browsers).
 */
export { RemoteNexusFS, type RemoteNexusFSOptions } from './remote-nexus-fs.ts';
export { RemoteApiKeys, type RemoteApiKeysOptions } from './remote-api-keys.ts';
export { RemoteApiError } from '../../kernel/errors.ts';
