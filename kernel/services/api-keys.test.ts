import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteRecordStore, loadSqliteWasm } from '../../drivers/sqlite/index.ts';
import type { Clock } from '../contracts/cache-store.ts';
import type { RecordStore } from '../contracts/record-store.ts';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from '../errors.ts';
import { API_KEY_NAME_LENGTH_MAX, ApiKeys } from './api-keys.ts';

/** A clock the test moves by hand, so times are exact. */
class ManualClock implements Clock {
  now = 1_700_000_000_000;
  nowMs(): number {
    return this.now;
  }
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

describe('ApiKeys on the in-memory SQLite RecordStore', () => {
  let records: RecordStore;
  let clock: ManualClock;
  let keys: ApiKeys;

  beforeEach(async () => {
    records = await createSqliteRecordStore({ wasm: await loadSqliteWasm() });
    clock = new ManualClock();
    keys = await ApiKeys.open(records, { clock });
  });

  afterEach(async () => {
    await records.close();
  });

  it('creates a prefixed 256-bit key that authenticates as the key it created', async () => {
    const created = await keys.create({ name: 'agent-1' });
    expect(created.key).toMatch(/^nxk_[A-Za-z0-9_-]{43}$/);
    expect(created.info).toEqual({ id: created.info.id, name: 'agent-1', admin: false, createdAtMs: clock.now });
    expect(created.info.id).toMatch(/^key_[0-9a-f]{32}$/);
    expect(await keys.authenticate(created.key)).toEqual(created.info);
  });

  it('marks admin keys, and agent keys by default', async () => {
    const admin = await keys.create({ name: 'root', admin: true });
    const agent = await keys.create({ name: 'agent' });
    expect((await keys.authenticate(admin.key))?.admin).toBe(true);
    expect((await keys.authenticate(agent.key))?.admin).toBe(false);
  });

  it('gives every key its own secret and id', async () => {
    const created = [];
    for (let index = 0; index < 20; index += 1) created.push(await keys.create({ name: `agent-${index}` }));
    expect(new Set(created.map((entry) => entry.key)).size).toBe(20);
    expect(new Set(created.map((entry) => entry.info.id)).size).toBe(20);
  });

  it('stores only the SHA-256 of a key, never the key itself', async () => {
    const created = await keys.create({ name: 'agent-1' });
    const rows = await records.db.selectFrom('nexus_api_keys').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.key_hash).toBe(await sha256Hex(created.key));
    const secret = created.key.slice('nxk_'.length);
    for (const value of Object.values(rows[0]!)) expect(String(value)).not.toContain(secret);
  });

  it('authenticates nothing for a malformed, unknown or empty key', async () => {
    const created = await keys.create({ name: 'agent-1' });
    const unknown = `nxk_${'A'.repeat(43)}`;
    const wrongPrefix = `xxx_${created.key.slice(4)}`;
    for (const presented of ['', 'nxk_', unknown, wrongPrefix, `${created.key}x`, created.key.slice(0, -1), ` ${created.key}`]) {
      expect(await keys.authenticate(presented), presented).toBeUndefined();
    }
  });

  it('lists every key oldest first, revoked ones included', async () => {
    // The same millisecond for all three: the order must come from creation, not from the clock.
    const first = await keys.create({ name: 'b-first' });
    const second = await keys.create({ name: 'a-second', admin: true });
    const third = await keys.create({ name: 'c-third' });
    clock.now += 5;
    await keys.revoke(second.info.id);
    expect(await keys.list()).toEqual([first.info, { ...second.info, revokedAtMs: clock.now }, third.info]);
  });

  it('revokes by id and by name; a revoked key never authenticates again', async () => {
    const byId = await keys.create({ name: 'by-id' });
    const byName = await keys.create({ name: 'by-name' });
    clock.now += 1000;
    expect(await keys.revoke(byId.info.id)).toEqual({ ...byId.info, revokedAtMs: clock.now });
    expect(await keys.revoke('by-name')).toEqual({ ...byName.info, revokedAtMs: clock.now });
    expect(await keys.authenticate(byId.key)).toBeUndefined();
    expect(await keys.authenticate(byName.key)).toBeUndefined();
  });

  it('refuses to revoke an unknown or already revoked key with ENOENT', async () => {
    const created = await keys.create({ name: 'agent-1' });
    await expect(keys.revoke('nobody')).rejects.toBeInstanceOf(NotFoundError);
    await expect(keys.revoke(`key_${'0'.repeat(32)}`)).rejects.toBeInstanceOf(NotFoundError);
    await keys.revoke('agent-1');
    await expect(keys.revoke('agent-1')).rejects.toThrow(/no live key/);
    await expect(keys.revoke(created.info.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(keys.revoke('')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('refuses a second live key with the same name, and frees the name once revoked', async () => {
    const first = await keys.create({ name: 'agent-1' });
    await expect(keys.create({ name: 'agent-1' })).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(keys.create({ name: 'agent-1', admin: true })).rejects.toThrow(/live key has that name/);
    await keys.revoke('agent-1');
    const second = await keys.create({ name: 'agent-1' });
    expect(second.info.id).not.toBe(first.info.id);
    expect(await keys.authenticate(second.key)).toEqual(second.info);
    expect(await keys.authenticate(first.key)).toBeUndefined();
    // Revoking by name reaches the live key, not the revoked one.
    expect((await keys.revoke('agent-1')).id).toBe(second.info.id);
  });

  it('refuses bad names with EINVAL and creates nothing', async () => {
    const badNames: unknown[] = [
      '',
      'x'.repeat(API_KEY_NAME_LENGTH_MAX + 1),
      'has space',
      'slash/name',
      '-leading-dash',
      '.hidden',
      'nul\0name',
      'é',
      `key_${'a'.repeat(32)}`,
      42,
      undefined,
    ];
    for (const name of badNames) {
      await expect(keys.create({ name: name as string }), String(name)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(keys.create({ name: 'ok', admin: 'yes' as unknown as boolean })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await keys.list()).toEqual([]);
    // The longest name and every allowed character are fine.
    await keys.create({ name: 'x'.repeat(API_KEY_NAME_LENGTH_MAX) });
    await keys.create({ name: 'Agent_1.prod-2' });
    expect(await keys.list()).toHaveLength(2);
  });

  it('opens again on the same store without migrating twice, and keeps its keys', async () => {
    const created = await keys.create({ name: 'agent-1' });
    const reopened = await ApiKeys.open(records, { clock });
    expect(await reopened.authenticate(created.key)).toEqual(created.info);
    expect(await reopened.list()).toEqual([created.info]);
    const migrations = await records.db.selectFrom('nexus_migrations').select('name').execute();
    expect(migrations.map((row) => row.name)).toEqual(['api-keys/001-create']);
  });
});
