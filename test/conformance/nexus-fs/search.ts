import { describe, expect } from 'vitest';
import type { FileSystem } from '../../../kernel/fs/types.ts';
import { GREP_FILE_BYTES_MAX } from '../../../kernel/fs/types.ts';
import { type SuiteHarness, bytes, expectError, test, text } from './harness.ts';

async function writeGlobTree(fs: FileSystem): Promise<void> {
  for (const path of [
    '/a.txt',
    '/b.md',
    '/c.txt',
    '/docs/guide.md',
    '/docs/notes.txt',
    '/docs/deep/x.txt',
    '/docs/deep/y.ts',
    '/docs-old/z.txt',
    '/src/main.ts',
    '/src/util.ts',
    '/src/util.test.ts',
  ]) {
    await fs.write(path, `content of ${path}`);
  }
  await fs.mkdir('/empty');
}

export function describeSearch(harness: SuiteHarness): void {
  describe('glob', () => {
    test(harness, '"*" matches names at one level and does not cross "/"', async ({ fs }) => {
      await writeGlobTree(fs);
      expect(await fs.glob('*.txt')).toEqual(['/a.txt', '/c.txt']);
      expect(await fs.glob('/*.txt')).toEqual(['/a.txt', '/c.txt']);
      expect(await fs.glob('docs/*.txt')).toEqual(['/docs/notes.txt']);
    });

    test(harness, '"**" crosses directories', async ({ fs }) => {
      await writeGlobTree(fs);
      expect(await fs.glob('**/*.txt')).toEqual(['/a.txt', '/c.txt', '/docs/deep/x.txt', '/docs/notes.txt', '/docs-old/z.txt']);
      expect(await fs.glob('docs/**/*.ts')).toEqual(['/docs/deep/y.ts']);
    });

    test(harness, 'directories can match', async ({ fs }) => {
      await writeGlobTree(fs);
      expect(await fs.glob('*')).toEqual(['/a.txt', '/b.md', '/c.txt', '/docs', '/docs-old', '/empty', '/src']);
      expect(await fs.glob('docs*')).toEqual(['/docs', '/docs-old']);
    });

    test(harness, 'returns every path in path order for "**"', async ({ fs }) => {
      await writeGlobTree(fs);
      expect(await fs.glob('**')).toEqual([
        '/a.txt',
        '/b.md',
        '/c.txt',
        '/docs',
        '/docs/deep',
        '/docs/deep/x.txt',
        '/docs/deep/y.ts',
        '/docs/guide.md',
        '/docs/notes.txt',
        '/docs-old',
        '/docs-old/z.txt',
        '/empty',
        '/src',
        '/src/main.ts',
        '/src/util.test.ts',
        '/src/util.ts',
      ]);
    });

    test(harness, 'supports "?", "[...]" and "{a,b}"', async ({ fs }) => {
      await writeGlobTree(fs);
      expect(await fs.glob('?.txt')).toEqual(['/a.txt', '/c.txt']);
      expect(await fs.glob('[ab].*')).toEqual(['/a.txt', '/b.md']);
      expect(await fs.glob('{a,b}.{txt,md}')).toEqual(['/a.txt', '/b.md']);
      expect(await fs.glob('src/*.{ts,js}')).toEqual(['/src/main.ts', '/src/util.test.ts', '/src/util.ts']);
    });

    test(harness, 'matches relative patterns relative to options.path and only below it', async ({ fs }) => {
      await writeGlobTree(fs);
      expect(await fs.glob('*.txt', { path: '/docs' })).toEqual(['/docs/notes.txt']);
      expect(await fs.glob('**/*.txt', { path: '/docs' })).toEqual(['/docs/deep/x.txt', '/docs/notes.txt']);
      expect(await fs.glob('*', { path: '/docs/deep' })).toEqual(['/docs/deep/x.txt', '/docs/deep/y.ts']);
      expect(await fs.glob('/docs/**/*.txt', { path: '/docs' })).toEqual(['/docs/deep/x.txt', '/docs/notes.txt']);
      expect(await fs.glob('/src/*.ts', { path: '/docs' })).toEqual([]);
    });

    test(harness, 'returns nothing when nothing matches', async ({ fs }) => {
      await writeGlobTree(fs);
      expect(await fs.glob('*.nothing')).toEqual([]);
      expect(await fs.glob('**/*.nothing')).toEqual([]);
    });

    test(harness, 'stops at limit, keeping path order', async ({ fs }) => {
      await writeGlobTree(fs);
      expect(await fs.glob('**/*.txt', { limit: 2 })).toEqual(['/a.txt', '/c.txt']);
    });
  });

  describe('grep', () => {
    async function writeGrepTree(fs: FileSystem): Promise<void> {
      await fs.write('/notes.md', 'alpha\nbeta TODO one\ngamma\ndelta\ntodo: two\nepsilon\n');
      await fs.write('/src/a.ts', 'const x = 1; // TODO three\nexport {};\n');
      await fs.write('/src/b.ts', 'no match here\n');
      await fs.write('/src/deep/c.ts', 'TODO four\nline\nTODO five');
      await fs.write('/src-other.ts', 'TODO six\n');
    }

    test(harness, 'finds matching lines in path order then line order, 1-based', async ({ fs }) => {
      await writeGrepTree(fs);
      const matches = await fs.grep('TODO');
      expect(matches.map((match) => [match.path, match.lineNumber, match.line])).toEqual([
        ['/notes.md', 2, 'beta TODO one'],
        ['/src/a.ts', 1, 'const x = 1; // TODO three'],
        ['/src/deep/c.ts', 1, 'TODO four'],
        ['/src/deep/c.ts', 3, 'TODO five'],
        ['/src-other.ts', 1, 'TODO six'],
      ]);
      for (const match of matches) {
        expect(match.before).toEqual([]);
        expect(match.after).toEqual([]);
      }
    });

    test(harness, 'treats the pattern as a JavaScript regular expression', async ({ fs }) => {
      await writeGrepTree(fs);
      expect((await fs.grep('^(alpha|gamma)$')).map((match) => match.lineNumber)).toEqual([1, 3]);
      expect((await fs.grep('x = \\d;')).map((match) => match.path)).toEqual(['/src/a.ts']);
      expect((await fs.grep('(?<word>eps)ilon')).map((match) => match.line)).toEqual(['epsilon']);
    });

    test(harness, 'reports every matching line, one match per line', async ({ fs }) => {
      await fs.write('/repeat', 'foo\nfoo\nfoo foo\nbar\nfoo');
      expect((await fs.grep('foo')).map((match) => match.lineNumber)).toEqual([1, 2, 3, 5]);
    });

    test(harness, 'rejects an invalid regular expression with EINVAL', async ({ fs }) => {
      await fs.write('/file', 'x');
      await expectError(fs.grep('('), 'EINVAL');
      await expectError(fs.grep('[a-'), 'EINVAL');
    });

    test(harness, 'ignoreCase', async ({ fs }) => {
      await writeGrepTree(fs);
      expect((await fs.grep('todo', { path: '/notes.md' })).map((match) => match.lineNumber)).toEqual([5]);
      expect((await fs.grep('todo', { path: '/notes.md', ignoreCase: true })).map((match) => match.lineNumber)).toEqual([2, 5]);
    });

    test(harness, 'contextLines gives the lines before and after, cut at the file edges', async ({ fs }) => {
      await writeGrepTree(fs);
      const matches = await fs.grep('TODO|todo', { path: '/notes.md', contextLines: 2 });
      expect(matches).toEqual([
        { path: '/notes.md', lineNumber: 2, line: 'beta TODO one', before: ['alpha'], after: ['gamma', 'delta'] },
        { path: '/notes.md', lineNumber: 5, line: 'todo: two', before: ['gamma', 'delta'], after: ['epsilon'] },
      ]);
    });

    test(harness, 'maxResults caps the matches', async ({ fs }) => {
      await writeGrepTree(fs);
      const matches = await fs.grep('TODO', { maxResults: 3 });
      expect(matches.map((match) => [match.path, match.lineNumber])).toEqual([
        ['/notes.md', 2],
        ['/src/a.ts', 1],
        ['/src/deep/c.ts', 1],
      ]);
    });

    test(harness, 'the glob option filters files', async ({ fs }) => {
      await writeGrepTree(fs);
      expect((await fs.grep('TODO', { glob: '**/*.md' })).map((match) => match.path)).toEqual(['/notes.md']);
      expect((await fs.grep('TODO', { glob: '**/*.ts' })).map((match) => match.path)).toEqual([
        '/src/a.ts',
        '/src/deep/c.ts',
        '/src/deep/c.ts',
        '/src-other.ts',
      ]);
    });

    test(harness, 'path may be a directory (searched recursively) or a file', async ({ fs }) => {
      await writeGrepTree(fs);
      expect((await fs.grep('TODO', { path: '/src' })).map((match) => [match.path, match.lineNumber])).toEqual([
        ['/src/a.ts', 1],
        ['/src/deep/c.ts', 1],
        ['/src/deep/c.ts', 3],
      ]);
      expect((await fs.grep('TODO', { path: '/src/deep/c.ts' })).map((match) => match.lineNumber)).toEqual([1, 3]);
    });

    test(harness, 'rejects a missing path with ENOENT', async ({ fs }) => {
      await expectError(fs.grep('x', { path: '/missing' }), 'ENOENT');
    });

    test(harness, 'skips binary files (containing a NUL byte)', async ({ fs }) => {
      await fs.write('/text', 'needle\n');
      await fs.write('/binary', Uint8Array.from([...bytes('needle\n'), 0, ...bytes('needle\n')]));
      expect((await fs.grep('needle')).map((match) => match.path)).toEqual(['/text']);
    });

    test(harness, 'returns nothing when nothing matches', async ({ fs }) => {
      await writeGrepTree(fs);
      expect(await fs.grep('absent-word')).toEqual([]);
    });

    test(harness, 'skips files larger than GREP_FILE_BYTES_MAX, searching one of exactly that size', async ({ fs }) => {
      const atLimit = new Uint8Array(GREP_FILE_BYTES_MAX).fill(0x61);
      atLimit.set(bytes('needle\n'));
      const overLimit = new Uint8Array(GREP_FILE_BYTES_MAX + 1).fill(0x61);
      overLimit.set(bytes('needle\n'));
      await fs.write('/at-limit', atLimit);
      await fs.write('/over-limit', overLimit);
      expect((await fs.grep('^needle$')).map((match) => match.path)).toEqual(['/at-limit']);
    });
  });

  describe('edit', () => {
    test(harness, 'applies edits in order and reports replacement counts', async ({ fs }) => {
      const written = await fs.write('/file.ts', 'let a = 1;\nlet b = 2;\n');
      const result = await fs.edit('/file.ts', [
        { search: 'let a = 1;', replace: 'let a = 10;' },
        { search: 'a = 10', replace: 'alpha = 10' }, // sees the result of the first edit
        { search: 'let', replace: 'const', replaceAll: true },
      ]);
      expect(result.replacements).toEqual([1, 1, 2]);
      const expected = 'const alpha = 10;\nconst b = 2;\n';
      expect(text(await fs.read('/file.ts'))).toBe(expected);
      expect(result.metadata.path).toBe('/file.ts');
      expect(result.metadata.sizeBytes).toBe(bytes(expected).byteLength);
      expect(result.metadata.version).toBeGreaterThan(written.version);
      expect(await fs.stat('/file.ts')).toEqual(result.metadata);
    });

    test(harness, 'treats search and replace as literal text', async ({ fs }) => {
      await fs.write('/file', 'price: $1.00 (a.*b)\n');
      const result = await fs.edit('/file', [
        { search: '(a.*b)', replace: '$& $1 $$' },
        { search: '$1.00', replace: '$2.00' },
      ]);
      expect(result.replacements).toEqual([1, 1]);
      expect(text(await fs.read('/file'))).toBe('price: $2.00 $& $1 $$\n');
    });

    test(harness, 'rejects a search that is not found with EINVAL and changes nothing', async ({ fs }) => {
      const written = await fs.write('/file', 'one two three');
      await expectError(fs.edit('/file', [{ search: 'one', replace: '1' }, { search: 'four', replace: '4' }]), 'EINVAL');
      expect(await fs.stat('/file')).toEqual(written);
      expect(text(await fs.read('/file'))).toBe('one two three');
    });

    test(harness, 'rejects an ambiguous search with EINVAL unless replaceAll', async ({ fs }) => {
      const written = await fs.write('/file', 'x = 1; x = 2;');
      await expectError(fs.edit('/file', [{ search: 'x =', replace: 'y =' }]), 'EINVAL');
      expect(await fs.stat('/file')).toEqual(written);
      const result = await fs.edit('/file', [{ search: 'x =', replace: 'y =', replaceAll: true }]);
      expect(result.replacements).toEqual([2]);
      expect(text(await fs.read('/file'))).toBe('y = 1; y = 2;');
    });

    test(harness, 'rejects replaceAll with no occurrence with EINVAL', async ({ fs }) => {
      await fs.write('/file', 'abc');
      await expectError(fs.edit('/file', [{ search: 'z', replace: 'y', replaceAll: true }]), 'EINVAL');
      expect(text(await fs.read('/file'))).toBe('abc');
    });

    test(harness, 'rejects an empty search with EINVAL', async ({ fs }) => {
      await fs.write('/file', 'abc');
      await expectError(fs.edit('/file', [{ search: '', replace: 'x' }]), 'EINVAL');
      await expectError(fs.edit('/file', [{ search: '', replace: 'x', replaceAll: true }]), 'EINVAL');
      expect(text(await fs.read('/file'))).toBe('abc');
    });

    test(harness, 'a replacement may remove text and handles non-ASCII text', async ({ fs }) => {
      await fs.write('/file', 'héllo wörld 😀!');
      const result = await fs.edit('/file', [
        { search: 'wörld ', replace: '' },
        { search: '😀', replace: '世界' },
      ]);
      expect(text(await fs.read('/file'))).toBe('héllo 世界!');
      expect(result.metadata.sizeBytes).toBe(bytes('héllo 世界!').byteLength);
    });

    test(harness, 'honours ifMatch', async ({ fs }) => {
      const written = await fs.write('/file', 'abc');
      await expectError(fs.edit('/file', [{ search: 'a', replace: 'x' }], { ifMatch: written.version + 1000 }), 'ECONFLICT');
      expect(text(await fs.read('/file'))).toBe('abc');
      await fs.edit('/file', [{ search: 'a', replace: 'x' }], { ifMatch: written.version });
      expect(text(await fs.read('/file'))).toBe('xbc');
    });

    test(harness, 'rejects a directory with EISDIR and a missing file with ENOENT', async ({ fs }) => {
      await fs.mkdir('/dir');
      await expectError(fs.edit('/dir', [{ search: 'a', replace: 'b' }]), 'EISDIR');
      await expectError(fs.edit('/missing', [{ search: 'a', replace: 'b' }]), 'ENOENT');
    });
  });
}
