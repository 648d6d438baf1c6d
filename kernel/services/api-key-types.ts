/**
 * The API key contract shared by the HTTP server, the remote client and the CLI. Keys authenticate
 * every HTTP request (`Authorization: Bearer <key>`). A key is shown once, when it is created; the
 * store keeps only its SHA-256 hash, so a leaked database does not leak usable keys.
 *
 * Roles: an admin key may also manage keys (`/api/v1/keys`); an agent key does file I/O only. The
 * first start of a server creates one admin key. Per-path permissions come later, with ReBAC.
 */
export interface ApiKeyInfo {
  /** A stable opaque id, unique for ever (a revoked key's id is never reused). */
  readonly id: string;
  /** Unique among keys that are not revoked. */
  readonly name: string;
  readonly admin: boolean;
  /** Milliseconds since the epoch. */
  readonly createdAtMs: number;
  /** Set once the key is revoked; a revoked key never authenticates again. */
  readonly revokedAtMs?: number;
}

export interface CreatedApiKey {
  readonly info: ApiKeyInfo;
  /** The secret itself: returned here once and never again. */
  readonly key: string;
}

/**
 * Key management, the same locally (a data dir's RecordStore) and remotely (the HTTP API).
 * Errors: AlreadyExistsError (EEXIST) for a name a live key has; InvalidArgumentError (EINVAL) for
 * a bad name; NotFoundError (ENOENT) when revoking a key that does not exist or is already revoked.
 */
export interface ApiKeyAdmin {
  create(options: { name: string; admin?: boolean }): Promise<CreatedApiKey>;
  /** Every key, revoked ones included, oldest first. */
  list(): Promise<ApiKeyInfo[]>;
  /** Revokes by id or by the name of a live key. */
  revoke(idOrName: string): Promise<ApiKeyInfo>;
}

/** Checks a presented key; undefined for an unknown, malformed or revoked key. */
export type ApiKeyAuthenticator = (key: string) => Promise<ApiKeyInfo | undefined>;
