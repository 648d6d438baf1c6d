import * as SQLite from '@journeyapps/wa-sqlite';
import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, CorruptionError } from '../../kernel/errors.ts';
import { translateSqliteError } from './sqlite-errors.ts';

describe('translateSqliteError', () => {
  const sql = 'insert into items (id) values (?)';

  it('turns a duplicate key into EEXIST', () => {
    const error = new SQLite.SQLiteError('UNIQUE constraint failed: items.id', SQLite.SQLITE_CONSTRAINT_PRIMARYKEY);
    expect(translateSqliteError(error, sql)).toBeInstanceOf(AlreadyExistsError);
  });

  it('turns a damaged or foreign file into ECORRUPT, whatever its extended code', () => {
    for (const code of [SQLite.SQLITE_CORRUPT, SQLite.SQLITE_CORRUPT | (1 << 8), SQLite.SQLITE_NOTADB]) {
      const translated = translateSqliteError(new SQLite.SQLiteError('database disk image is malformed', code), sql);
      expect(translated).toBeInstanceOf(CorruptionError);
      expect((translated as Error).message).toMatch(/^cannot run "insert into items/);
    }
  });

  it('adds what the VFS saw to a file failure, keeping its class and code', () => {
    const error = new SQLite.SQLiteError('disk I/O error', SQLite.SQLITE_IOERR_FSYNC);
    const translated = translateSqliteError(error, sql, 'cannot sync /data/records.sqlite: EIO: i/o error');
    expect(translated).toBeInstanceOf(SQLite.SQLiteError);
    expect(translated).toMatchObject({ code: SQLite.SQLITE_IOERR_FSYNC });
    expect((translated as Error).message).toBe(
      'cannot run "insert into items (id) values (?)": disk I/O error: cannot sync /data/records.sqlite: EIO: i/o error',
    );
  });

  it('returns other errors unchanged, even when the VFS saw a failure', () => {
    const syntax = new SQLite.SQLiteError('near "selec": syntax error', SQLite.SQLITE_ERROR);
    expect(translateSqliteError(syntax, sql, 'cannot read /data/records.sqlite: EIO')).toBe(syntax);
    const failure = new SQLite.SQLiteError('disk I/O error', SQLite.SQLITE_IOERR_READ);
    expect(translateSqliteError(failure, sql)).toBe(failure);
  });
});
