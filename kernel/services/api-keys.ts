import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { sql, type Kysely, type Transaction } from 'kysely';
import { encodeBase64url } from '../contracts/base64url.ts';
import { type Clock, systemClock } from '../contracts/cache-store.ts';
import type { RecordStore, RecordStoreMigration } from '../contracts/record-store.ts';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from '../errors.ts';
import type { ApiKeyAdmin, ApiKeyAuthenticator, ApiKeyInfo, CreatedApiKey } from './api-key-types.ts';

/**
 * API keys kept in a RecordStore (the contract is in api-key-types.ts).
 *
 * A key is `nxk_` followed by 256 random bits in base64url: the prefix lets secret scanners and
 * people recognise a leaked key. The table keeps only the SHA-256 of the whole key, so reading the
 * database never yields a usable key; `authenticate` hashes what it is given and looks the hash up
 * (a unique index), so no stored secret is ever compared byte by byte.
 *
 * Ids are `key_` and 128 random bits in hex, never reused. A name is unique among live keys only
 * (a partial unique index, and a check in the same transaction as the insert, for a clear message),
 * so a revoked key's name can be given to its replacement.
 */

export const API_KEY_PREFIX = 'nxk_';
export const API_KEY_SECRET_BYTES = 32;
export const API_KEY_ID_PREFIX = 'key_';
export const API_KEY_ID_RANDOM_BYTES = 16;
export const API_KEY_NAME_LENGTH_MAX = 64;

/** Letters, digits, `.`, `_` and `-`, starting with a letter or digit: safe in URLs, shells and logs. */
const API_KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** 32 bytes are 43 base64url characters without padding. */
const API_KEY_PATTERN = /^nxk_[A-Za-z0-9_-]{43}$/;
const API_KEY_ID_PATTERN = /^key_[0-9a-f]{32}$/;

const API_KEYS_TABLE = 'nexus_api_keys';

/** The table's migrations, in order; their names are part of every data dir, never change them. */
export const API_KEYS_MIGRATIONS: readonly RecordStoreMigration[] = [
  {
    name: 'api-keys/001-create',
    async up(db) {
      await db.schema
        .createTable(API_KEYS_TABLE)
        .addColumn('id', 'text', (column) => column.primaryKey())
        // The order of creation, for `list`: two keys can share a millisecond.
        .addColumn('sequence', 'integer', (column) => column.notNull().unique())
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('admin', 'integer', (column) => column.notNull())
        .addColumn('key_hash', 'text', (column) => column.notNull().unique())
        .addColumn('created_at_ms', 'bigint', (column) => column.notNull())
        .addColumn('revoked_at_ms', 'bigint')
        .execute();
      await db.schema
        .createIndex(`${API_KEYS_TABLE}_live_name`)
        .on(API_KEYS_TABLE)
        .column('name')
        .unique()
        .where(sql.ref('revoked_at_ms'), 'is', null)
        .execute();
    },
  },
];

interface ApiKeyRow {
  id: string;
  sequence: number;
  name: string;
  admin: number;
  key_hash: string;
  created_at_ms: number;
  revoked_at_ms: number | null;
}

export interface ApiKeysOptions {
  /** Where creation and revocation times come from; `systemClock` when absent. */
  clock?: Clock;
}

export class ApiKeys implements ApiKeyAdmin {
  readonly #records: RecordStore;
  readonly #clock: Clock;

  private constructor(records: RecordStore, clock: Clock) {
    this.#records = records;
    this.#clock = clock;
  }

  /** Applies the table's migrations (a no-op once applied) and returns the service over `records`. */
  static async open(records: RecordStore, options: ApiKeysOptions = {}): Promise<ApiKeys> {
    await records.migrate(API_KEYS_MIGRATIONS);
    return new ApiKeys(records, options.clock ?? systemClock);
  }

  async create(options: { name: string; admin?: boolean }): Promise<CreatedApiKey> {
    const name = validateName(options.name);
    const admin = options.admin ?? false;
    if (typeof admin !== 'boolean') throw new InvalidArgumentError(`cannot create key ${name}: admin must be a boolean`);
    const key = API_KEY_PREFIX + encodeBase64url(randomBytes(API_KEY_SECRET_BYTES));
    const row: ApiKeyRow = {
      id: API_KEY_ID_PREFIX + bytesToHex(randomBytes(API_KEY_ID_RANDOM_BYTES)),
      sequence: 0,
      name,
      admin: admin ? 1 : 0,
      key_hash: hashKey(key),
      created_at_ms: this.#clock.nowMs(),
      revoked_at_ms: null,
    };
    await this.#records.run((db) => db.transaction().execute((transaction) => insertKey(transaction, row)));
    return { info: infoOfRow(row), key };
  }

  async list(): Promise<ApiKeyInfo[]> {
    const rows = await this.#records.run((db) => db.selectFrom(API_KEYS_TABLE).selectAll().orderBy('sequence').execute());
    return rows.map((row) => infoOfRow(row as ApiKeyRow));
  }

  async revoke(idOrName: string): Promise<ApiKeyInfo> {
    if (typeof idOrName !== 'string' || idOrName.length === 0) {
      throw new InvalidArgumentError('cannot revoke a key: expected its id or name');
    }
    const revokedAtMs = this.#clock.nowMs();
    return await this.#records.run((db) =>
      db.transaction().execute(async (transaction) => {
        const row = await findLiveKey(transaction, idOrName);
        if (row === undefined) throw new NotFoundError(`cannot revoke key ${idOrName}: no live key has that id or name`);
        await transaction.updateTable(API_KEYS_TABLE).set({ revoked_at_ms: revokedAtMs }).where('id', '=', row.id).execute();
        return infoOfRow({ ...row, revoked_at_ms: revokedAtMs });
      }),
    );
  }

  /** The key's info when it is live; undefined for a malformed, unknown or revoked key. */
  readonly authenticate: ApiKeyAuthenticator = async (key) => {
    // A malformed key cannot match: refuse it before hashing, so junk costs no database call.
    if (typeof key !== 'string' || !API_KEY_PATTERN.test(key)) return undefined;
    const keyHash = hashKey(key);
    const row = await this.#records.run((db) =>
      db.selectFrom(API_KEYS_TABLE).selectAll().where('key_hash', '=', keyHash).where('revoked_at_ms', 'is', null).executeTakeFirst(),
    );
    return row === undefined ? undefined : infoOfRow(row as ApiKeyRow);
  };
}

async function insertKey(transaction: Transaction<any>, row: ApiKeyRow): Promise<void> {
  const live = await transaction
    .selectFrom(API_KEYS_TABLE)
    .select('id')
    .where('name', '=', row.name)
    .where('revoked_at_ms', 'is', null)
    .executeTakeFirst();
  if (live !== undefined) throw new AlreadyExistsError(`cannot create key ${row.name}: a live key has that name (revoke it first)`);
  const { last } = await transaction
    .selectFrom(API_KEYS_TABLE)
    .select((expression) => expression.fn.max<number | bigint | null>('sequence').as('last'))
    .executeTakeFirstOrThrow();
  await transaction.insertInto(API_KEYS_TABLE).values({ ...row, sequence: Number(last ?? 0) + 1 }).execute();
}

/** By id first; a name only ever names a live key, and names cannot look like ids. */
async function findLiveKey(db: Kysely<any>, idOrName: string): Promise<ApiKeyRow | undefined> {
  const column = API_KEY_ID_PATTERN.test(idOrName) ? 'id' : 'name';
  const row = await db
    .selectFrom(API_KEYS_TABLE)
    .selectAll()
    .where(column, '=', idOrName)
    .where('revoked_at_ms', 'is', null)
    .executeTakeFirst();
  return row as ApiKeyRow | undefined;
}

function validateName(name: unknown): string {
  if (typeof name !== 'string') throw new InvalidArgumentError('cannot create a key: its name must be a string');
  if (name.length === 0 || name.length > API_KEY_NAME_LENGTH_MAX) {
    throw new InvalidArgumentError(
      `cannot create key ${JSON.stringify(name.slice(0, API_KEY_NAME_LENGTH_MAX))}: a name has 1 to ${API_KEY_NAME_LENGTH_MAX} characters, not ${name.length}`,
    );
  }
  if (!API_KEY_NAME_PATTERN.test(name)) {
    throw new InvalidArgumentError(
      `cannot create key ${JSON.stringify(name)}: a name is letters, digits, '.', '_' and '-', starting with a letter or digit`,
    );
  }
  if (API_KEY_ID_PATTERN.test(name)) {
    throw new InvalidArgumentError(`cannot create key ${name}: a name must not look like a key id (${API_KEY_ID_PREFIX}...)`);
  }
  return name;
}

function infoOfRow(row: ApiKeyRow): ApiKeyInfo {
  const info = { id: row.id, name: row.name, admin: Number(row.admin) === 1, createdAtMs: Number(row.created_at_ms) };
  return row.revoked_at_ms === null ? info : { ...info, revokedAtMs: Number(row.revoked_at_ms) };
}

/**
 * In JS rather than WebCrypto, as content ids are for small inputs (CONTENT_ID_SYNC_BYTES_MAX): a
 * key is 47 bytes, and every authenticated request hashes one.
 */
function hashKey(key: string): string {
  return bytesToHex(sha256(utf8ToBytes(key)));
}

function randomBytes(count: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(count));
}
