import type { Kysely, Transaction } from 'kysely';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import {
  RECORD_STORE_MIGRATION_NAME_LENGTH_MAX,
  RECORD_STORE_MIGRATIONS_PER_CALL_MAX,
  RECORD_STORE_MIGRATIONS_TABLE,
  type RecordStoreMigration,
} from '../../kernel/contracts/record-store.ts';

/**
 * `RecordStore.migrate`, written once against Kysely alone, so it holds for every dialect (the
 * Postgres driver can use it as it is).
 *
 * Kysely's own Migrator is not used: it orders migrations by name rather than in the order the
 * service gives them, and it applies a whole batch in one transaction, while the contract wants
 * one transaction per migration so that those before a failing one stay applied.
 *
 * Each migration checks its record inside its own transaction, so two concurrent `migrate` calls
 * cannot both apply it: the second one finds the record (or, on Postgres, fails on its primary
 * key and rolls back).
 */
export async function applyMigrations(db: Kysely<any>, migrations: readonly RecordStoreMigration[]): Promise<void> {
  validateMigrations(migrations);
  await db.schema
    .createTable(RECORD_STORE_MIGRATIONS_TABLE)
    .ifNotExists()
    .addColumn('name', 'text', (column) => column.primaryKey())
    .addColumn('sequence', 'integer', (column) => column.notNull())
    .execute();
  for (const migration of migrations) {
    await db.transaction().execute((transaction) => applyMigration(transaction, migration));
  }
}

async function applyMigration(transaction: Transaction<any>, migration: RecordStoreMigration): Promise<void> {
  const applied = await transaction
    .selectFrom(RECORD_STORE_MIGRATIONS_TABLE)
    .select('name')
    .where('name', '=', migration.name)
    .executeTakeFirst();
  if (applied !== undefined) return;
  await migration.up(transaction);
  // `sequence` records the order of application, which a later reader cannot get from names.
  const { count } = await transaction
    .selectFrom(RECORD_STORE_MIGRATIONS_TABLE)
    .select((expression) => expression.fn.countAll<number | bigint | string>().as('count'))
    .executeTakeFirstOrThrow();
  await transaction
    .insertInto(RECORD_STORE_MIGRATIONS_TABLE)
    .values({ name: migration.name, sequence: Number(count) + 1 })
    .execute();
}

function validateMigrations(migrations: readonly RecordStoreMigration[]): void {
  if (migrations.length > RECORD_STORE_MIGRATIONS_PER_CALL_MAX) {
    throw new InvalidArgumentError(
      `cannot migrate: ${migrations.length} migrations are more than ${RECORD_STORE_MIGRATIONS_PER_CALL_MAX} in one call`,
    );
  }
  const names = new Set<string>();
  for (const { name } of migrations) {
    if (typeof name !== 'string' || name.length === 0 || name.length > RECORD_STORE_MIGRATION_NAME_LENGTH_MAX) {
      throw new InvalidArgumentError(
        `cannot migrate: the migration name ${JSON.stringify(name)} is not 1..${RECORD_STORE_MIGRATION_NAME_LENGTH_MAX} characters`,
      );
    }
    if (names.has(name)) {
      throw new InvalidArgumentError(`cannot migrate: the migration name ${JSON.stringify(name)} appears twice`);
    }
    names.add(name);
  }
}
