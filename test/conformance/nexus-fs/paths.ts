import { describe, expect } from 'vitest';
import type { FileSystem } from '../../../kernel/fs/types.ts';
import { NAME_BYTES_MAX, PATH_BYTES_MAX } from '../../../kernel/fs/types.ts';
import { type SuiteHarness, bytes, expectError, listPaths, test, text } from './harness.ts';

/** A normalised path of exactly `totalBytes` UTF-8 bytes, in components of at most 200 ASCII bytes. */
function pathOfBytes(totalBytes: number): string {
  let path = '';
  let letter = 0;
  while (path.length < totalBytes) {
    const remaining = totalBytes - path.length;
    // Leave no remainder of exactly 1 byte: it would be a lone "/" (an empty component).
    const componentBytes = remaining - 1 <= 200 ? remaining - 1 : Math.min(200, remaining - 3);
    path += '/' + String.fromCharCode(97 + (letter++ % 26)).repeat(componentBytes);
  }
  return path;
}

const INVALID_PATHS: readonly (readonly [label: string, path: string])[] = [
  ['the empty path', ''],
  ['a relative path', 'a/b'],
  ['a relative single name', 'a'],
  ['a relative path starting with .', './a'],
  ['/.. (climbs above the root)', '/..'],
  ['/a/../.. (climbs above the root)', '/a/../..'],
  ['/a/b/../../../c (climbs above the root)', '/a/b/../../../c'],
  ['NUL', '/a\u0000b'],
  ['NUL at the end', '/a\u0000'],
  ['U+0001', '/a\u0001b'],
  ['a tab', '/a\tb'],
  ['a line feed', '/a\nb'],
  ['a carriage return', '/a\rb'],
  ['ESC', '/a\u001bb'],
  ['U+001F', '/a\u001fb'],
  ['DEL (U+007F)', '/a\u007fb'],
  ['the C1 control U+0085', '/a\u0085b'],
  ['the C1 control U+009F', '/a\u009fb'],
  ['a lone high surrogate', '/\ud800'],
  ['a lone low surrogate', '/a\udc00b'],
  ['reversed surrogates', '/\udc00\ud800'],
  ['a component of NAME_BYTES_MAX + 1 ASCII bytes', '/' + 'a'.repeat(NAME_BYTES_MAX + 1)],
  ['a component of NAME_BYTES_MAX + 1 UTF-8 bytes in 128 two-byte characters', '/d/' + 'é'.repeat(128)],
  ['a path of PATH_BYTES_MAX + 1 bytes', pathOfBytes(PATH_BYTES_MAX + 1)],
];

/** Every call that takes a path, for checking that each one rejects a bad path the same way. */
function pathOperations(fs: FileSystem, path: string): readonly (readonly [string, () => Promise<unknown>])[] {
  return [
    ['read', () => fs.read(path)],
    ['readStream', () => fs.readStream(path)],
    ['write', () => fs.write(path, 'x')],
    ['append', () => fs.append(path, 'x')],
    ['stat', () => fs.stat(path)],
    ['list', () => fs.list(path)],
    ['mkdir', () => fs.mkdir(path, { parents: true })],
    ['delete', () => fs.delete(path, { recursive: true })],
    ['rename from', () => fs.rename(path, '/renamed')],
    ['rename to', () => fs.rename('/existing', path)],
    ['copy from', () => fs.copy(path, '/copied')],
    ['copy to', () => fs.copy('/existing', path)],
    ['edit', () => fs.edit(path, [{ search: 'a', replace: 'b' }])],
  ];
}

export function describePaths(harness: SuiteHarness): void {
  describe('paths', () => {
    describe('rejection with EINVAL', () => {
      for (const [label, path] of INVALID_PATHS) {
        test(harness, `rejects ${label} in every call`, async ({ fs }) => {
          await fs.write('/existing', 'content');
          const revisionBefore = await fs.revision();
          for (const [operation, call] of pathOperations(fs, path)) {
            const error = await expectError(call(), 'EINVAL').catch((failure: unknown) => {
              throw new Error(`${operation}(${JSON.stringify(path).slice(0, 80)}): ${String(failure)}`);
            });
            expect(error.code).toBe('EINVAL');
          }
          expect(await fs.revision(), 'no rejected call mutated the zone').toBe(revisionBefore);
          expect(await listPaths(fs, '/', { recursive: true })).toEqual(['/existing']);
        });
      }

      test(harness, 'rejects a bad path inside readMany, statMany and writeMany', async ({ fs }) => {
        const [readResult] = await fs.readMany(['/a\u0000b']);
        expect(readResult?.ok).toBe(false);
        if (readResult?.ok === false) expect(readResult.error.code).toBe('EINVAL');
        const [statResult] = await fs.statMany(['relative']);
        expect(statResult?.ok).toBe(false);
        if (statResult?.ok === false) expect(statResult.error.code).toBe('EINVAL');
        await expectError(fs.writeMany([{ path: '/..', data: 'x' }]), 'EINVAL');
      });

      test(harness, 'rejects a bad glob or grep path', async ({ fs }) => {
        await expectError(fs.glob('*', { path: 'relative' }), 'EINVAL');
        await expectError(fs.grep('x', { path: '/a\u0000' }), 'EINVAL');
      });
    });

    describe('limits', () => {
      test(harness, 'accepts a component of exactly NAME_BYTES_MAX bytes', async ({ fs }) => {
        const asciiName = '/' + 'a'.repeat(NAME_BYTES_MAX);
        const multiByteName = '/' + 'é'.repeat(127) + 'x'; // 127 * 2 + 1 = 255 bytes
        await fs.write(asciiName, 'ascii');
        await fs.write(multiByteName, 'multi-byte');
        expect(text(await fs.read(asciiName))).toBe('ascii');
        expect(text(await fs.read(multiByteName))).toBe('multi-byte');
        expect((await fs.stat(multiByteName)).path).toBe(multiByteName);
      });

      test(harness, 'accepts a path of exactly PATH_BYTES_MAX bytes', async ({ fs }) => {
        const path = pathOfBytes(PATH_BYTES_MAX);
        expect(bytes(path).byteLength).toBe(PATH_BYTES_MAX);
        const metadata = await fs.write(path, 'deep');
        expect(metadata.path).toBe(path);
        expect(text(await fs.read(path))).toBe('deep');
      });
    });

    describe('the reserved /__sys__ tree', () => {
      for (const path of ['/__sys__', '/__sys__/x', '/__sys__/x/y', '/a/../__sys__/x', '//__sys__/']) {
        test(harness, `denies ${JSON.stringify(path)} to read, write, list, mkdir and delete with EACCES`, async ({ fs }) => {
          await expectError(fs.read(path), 'EACCES');
          await expectError(fs.write(path, 'x'), 'EACCES');
          await expectError(fs.list(path), 'EACCES');
          await expectError(fs.mkdir(path, { parents: true, existOk: true }), 'EACCES');
          await expectError(fs.delete(path, { recursive: true }), 'EACCES');
        });
      }

      test(harness, 'denies /__sys__ to stat, append, edit, rename and copy with EACCES', async ({ fs }) => {
        await fs.write('/file', 'x');
        await expectError(fs.stat('/__sys__'), 'EACCES');
        await expectError(fs.append('/__sys__/x', 'x'), 'EACCES');
        await expectError(fs.edit('/__sys__/x', [{ search: 'a', replace: 'b' }]), 'EACCES');
        await expectError(fs.rename('/file', '/__sys__/file'), 'EACCES');
        await expectError(fs.rename('/__sys__/x', '/file2'), 'EACCES');
        await expectError(fs.copy('/file', '/__sys__/file'), 'EACCES');
        expect(text(await fs.read('/file'))).toBe('x');
      });

      test(harness, 'treats names that merely start with __sys__ as ordinary', async ({ fs }) => {
        await fs.write('/__sys__x', 'a');
        await fs.write('/a/__sys__/b', 'b');
        expect(text(await fs.read('/__sys__x'))).toBe('a');
        expect(text(await fs.read('/a/__sys__/b'))).toBe('b');
      });

      test(harness, 'never shows the reserved tree in list, glob or grep', async ({ fs }) => {
        await fs.write('/a.txt', 'needle');
        await fs.mkdir('/d');
        expect(await listPaths(fs, '/', { recursive: true })).toEqual(['/a.txt', '/d']);
        expect(await fs.glob('**')).toEqual(['/a.txt', '/d']);
        expect((await fs.grep('needle|revision|version')).map((match) => match.path)).toEqual(['/a.txt']);
      });
    });

    describe('normalisation', () => {
      test(harness, 'collapses repeated slashes and "." and drops a trailing slash', async ({ fs }) => {
        const metadata = await fs.write('/a//b/./c/', 'content');
        expect(metadata.path).toBe('/a/b/c');
        expect(text(await fs.read('/a/b/c'))).toBe('content');
        expect((await fs.stat('//a/b//c')).path).toBe('/a/b/c');
        expect((await fs.stat('/./a/./b/c/.')).path).toBe('/a/b/c');
      });

      test(harness, 'resolves ".." lexically, even through names that do not exist', async ({ fs }) => {
        await fs.write('/a/b/c', 'content');
        expect(text(await fs.read('/a/x/../b/c'))).toBe('content');
        expect((await fs.stat('/a/x/../b/c')).path).toBe('/a/b/c');
        expect((await fs.stat('/a/b/../..')).type).toBe('DIR');
        expect((await fs.stat('/a/b/../..')).path).toBe('/');
      });

      test(harness, 'returns normalised paths from list, glob and grep when asked with unnormalised ones', async ({ fs }) => {
        await fs.write('/a/b/c', 'needle');
        expect(await listPaths(fs, '/a//b/')).toEqual(['/a/b/c']);
        expect(await listPaths(fs, '/a/./', { recursive: true })).toEqual(['/a/b', '/a/b/c']);
        expect(await fs.glob('*', { path: '/a//b/' })).toEqual(['/a/b/c']);
        expect((await fs.grep('needle', { path: '/a/x/..//b' })).map((match) => match.path)).toEqual(['/a/b/c']);
      });

      test(harness, 'treats the root in any spelling as the root directory', async ({ fs }) => {
        for (const root of ['/', '//', '/.', '/./', '/a/..']) {
          const metadata = await fs.stat(root);
          expect(metadata.path).toBe('/');
          expect(metadata.type).toBe('DIR');
        }
      });
    });

    describe('Unicode names', () => {
      const names = [
        '😀.txt',
        '文件',
        '日本語のファイル名.md',
        'e\u0301te\u0301', // combining acute accents, not precomposed
        '\u00e9t\u00e9', // precomposed: a different name from the one above
        'שלום',
        '\u0928\u092e\u0938\u094d\u0924\u0947',
        '👨\u200d👩\u200d👧',
        'ｱｲｳ', // halfwidth katakana: above the surrogate range in UTF-16, below emoji in UTF-8
        'a b (c) [d] {e} #f %g +h',
      ];

      test(harness, 'round-trip exactly through write, read, stat and list', async ({ fs }) => {
        for (const name of names) await fs.write(`/u/${name}`, `content of ${name}`);
        for (const name of names) {
          expect(text(await fs.read(`/u/${name}`))).toBe(`content of ${name}`);
          expect((await fs.stat(`/u/${name}`)).path).toBe(`/u/${name}`);
        }
        const listed = await listPaths(fs, '/u');
        expect([...listed].sort()).toEqual(names.map((name) => `/u/${name}`).sort());
      });

      test(harness, 'keep decomposed and precomposed spellings apart (no Unicode normalisation)', async ({ fs }) => {
        await fs.write('/e\u0301', 'decomposed');
        await fs.write('/\u00e9', 'precomposed');
        expect(text(await fs.read('/e\u0301'))).toBe('decomposed');
        expect(text(await fs.read('/\u00e9'))).toBe('precomposed');
        expect(await listPaths(fs, '/')).toHaveLength(2);
      });

      test(harness, 'are directories too', async ({ fs }) => {
        await fs.mkdir('/😀/文件', { parents: true });
        await fs.write('/😀/文件/x', 'x');
        expect(await listPaths(fs, '/😀', { recursive: true })).toEqual(['/😀/文件', '/😀/文件/x']);
      });
    });
  });
}
