import { describe, expect } from 'vitest';
import type { BatchResult } from '../../../kernel/fs/types.ts';
import { type SuiteHarness, expectError, listPaths, test, text } from './harness.ts';

function outcomes<T>(results: readonly BatchResult<T>[]): (string | T)[] {
  return results.map((result) => (result.ok ? result.value : result.error.code));
}

export function describeBatch(harness: SuiteHarness): void {
  describe('readMany and statMany', () => {
    test(harness, 'readMany returns one result per path, in order, with failures in place', async ({ fs }) => {
      await fs.write('/a', 'A');
      await fs.write('/dir/b', 'B');
      const results = await fs.readMany(['/dir/b', '/missing', '/a', '/dir', 'relative', '/a']);
      expect(results.map((result) => result.path)).toEqual(['/dir/b', '/missing', '/a', '/dir', 'relative', '/a']);
      expect(outcomes(results).map((outcome) => (outcome instanceof Uint8Array ? text(outcome) : outcome))).toEqual([
        'B',
        'ENOENT',
        'A',
        'EISDIR',
        'EINVAL',
        'A',
      ]);
      for (const result of results) {
        if (!result.ok) expect(result.error.message.length).toBeGreaterThan(0);
      }
    });

    test(harness, 'statMany returns one result per path, in order, with failures in place', async ({ fs }) => {
      const written = await fs.write('/a', 'A');
      await fs.mkdir('/dir');
      const results = await fs.statMany(['/missing', '/dir', '/a', '/__sys__']);
      expect(results.map((result) => result.path)).toEqual(['/missing', '/dir', '/a', '/__sys__']);
      const [missing, directory, file, reserved] = results;
      expect(missing?.ok === false && missing.error.code).toBe('ENOENT');
      expect(directory?.ok === true && directory.value.type).toBe('DIR');
      expect(file?.ok === true && file.value).toEqual(written);
      expect(reserved?.ok === false && reserved.error.code).toBe('EACCES');
    });

    test(harness, 'empty batches give empty results', async ({ fs }) => {
      expect(await fs.readMany([])).toEqual([]);
      expect(await fs.statMany([])).toEqual([]);
    });
  });

  describe('writeMany', () => {
    test(harness, 'writes every file and returns their metadata in order', async ({ fs }) => {
      const results = await fs.writeMany([
        { path: '/x/one', data: 'one' },
        { path: '/x/y/two', data: new TextEncoder().encode('two') },
        { path: '/three', data: 'three', options: { mimeType: 'text/plain' } },
      ]);
      expect(results.map((metadata) => metadata.path)).toEqual(['/x/one', '/x/y/two', '/three']);
      expect(results.map((metadata) => metadata.type)).toEqual(['REG', 'REG', 'REG']);
      expect(results[2]!.mimeType).toBe('text/plain');
      expect(text(await fs.read('/x/y/two'))).toBe('two');
      for (const metadata of results) expect(await fs.stat(metadata.path)).toEqual(metadata);
      expect((await fs.stat('/x/y')).type).toBe('DIR');
    });

    test(harness, 'honours ifMatch and ifNoneMatch per item', async ({ fs }) => {
      const existing = await fs.write('/existing', 'old');
      await fs.writeMany([
        { path: '/existing', data: 'new', options: { ifMatch: existing.version } },
        { path: '/fresh', data: 'fresh', options: { ifNoneMatch: '*' } },
      ]);
      expect(text(await fs.read('/existing'))).toBe('new');
      expect(text(await fs.read('/fresh'))).toBe('fresh');
    });

    const failingItems = [
      ['an ifNoneMatch conflict', { path: '/existing', data: 'clobber', options: { ifNoneMatch: '*' as const } }, 'ECONFLICT'],
      ['an ifMatch conflict', { path: '/existing', data: 'clobber', options: { ifMatch: 987_654_321 } }, 'ECONFLICT'],
      ['a bad path', { path: '/bad\u0000path', data: 'x' }, 'EINVAL'],
      ['a reserved path', { path: '/__sys__/x', data: 'x' }, 'EACCES'],
      ['a directory path', { path: '/dir', data: 'x' }, 'EISDIR'],
      ['a path below a file', { path: '/existing/child', data: 'x' }, ['ENOTDIR', 'EEXIST']],
    ] as const;

    for (const [label, failingItem, codes] of failingItems) {
      test(harness, `writes nothing when one item fails with ${label}`, async ({ fs }) => {
        await fs.write('/existing', 'kept');
        await fs.mkdir('/dir');
        const revision = await fs.revision();
        await expectError(
          fs.writeMany([
            { path: '/new/first', data: 'first' },
            { path: '/existing-sibling', data: 'second' },
            failingItem,
            { path: '/new/last', data: 'last' },
          ]),
          codes,
        );
        expect(await fs.revision()).toBe(revision);
        expect(await listPaths(fs, '/', { recursive: true })).toEqual(['/dir', '/existing']);
        expect(text(await fs.read('/existing'))).toBe('kept');
      });
    }
  });
}
