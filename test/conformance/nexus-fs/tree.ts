import { describe, expect } from 'vitest';
import { LIST_LIMIT_DEFAULT } from '../../../kernel/fs/types.ts';
import type { FileSystem } from '../../../kernel/fs/types.ts';
import { type SuiteHarness, EventCollector, blobIds, expectError, listAll, listPaths, test, testNeeding, text } from './harness.ts';

/** Compares two paths by their components, each compared byte-wise as UTF-8: the suite's oracle. */
function comparePaths(left: string, right: string): number {
  const encoder = new TextEncoder();
  const leftParts = left.split('/').filter((part) => part !== '');
  const rightParts = right.split('/').filter((part) => part !== '');
  for (let index = 0; index < Math.min(leftParts.length, rightParts.length); index++) {
    const leftBytes = encoder.encode(leftParts[index]);
    const rightBytes = encoder.encode(rightParts[index]);
    for (let byteIndex = 0; byteIndex < Math.min(leftBytes.length, rightBytes.length); byteIndex++) {
      const difference = leftBytes[byteIndex]! - rightBytes[byteIndex]!;
      if (difference !== 0) return difference;
    }
    if (leftBytes.length !== rightBytes.length) return leftBytes.length - rightBytes.length;
  }
  return leftParts.length - rightParts.length;
}

/** Writes `/tree`: two levels of directories, files at each level, names chosen to trip byte-order bugs. */
async function writeSampleTree(fs: FileSystem): Promise<string[]> {
  const files = [
    '/tree/a',
    '/tree/a-c',
    '/tree/a.txt',
    '/tree/a/b',
    '/tree/a/b/deep',
    '/tree/a/z',
    '/tree/B',
    '/tree/é',
    '/tree/ｱ',
    '/tree/😀',
    '/tree/中',
  ];
  // '/tree/a' and '/tree/a/b' are directories because files live below them.
  const regularFiles = files.filter((path) => !files.some((other) => other.startsWith(path + '/')));
  for (const path of regularFiles) await fs.write(path, `content of ${path}`);
  return files.slice().sort(comparePaths);
}

/** Files spread over nested directories: `count` files, 10 per leaf directory, 10 leaves per branch. */
function nestedFilePaths(root: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => {
    const branch = Math.floor(index / 100);
    const leaf = Math.floor(index / 10) % 10;
    return `${root}/branch-${branch}/leaf-${leaf}/file-${index}.txt`;
  });
}

async function writeNested(fs: FileSystem, paths: readonly string[]): Promise<void> {
  const byDirectory = new Map<string, string[]>();
  for (const path of paths) {
    const directory = path.slice(0, path.lastIndexOf('/'));
    byDirectory.set(directory, [...(byDirectory.get(directory) ?? []), path]);
  }
  for (const [directory, files] of byDirectory) {
    await fs.mkdir(directory, { parents: true, existOk: true });
    await Promise.all(files.map((path) => fs.write(path, `content of ${path}`)));
  }
}

export function describeTree(harness: SuiteHarness): void {
  describe('mkdir', () => {
    test(harness, 'creates a directory', async ({ fs }) => {
      const metadata = await fs.mkdir('/dir');
      expect(metadata.path).toBe('/dir');
      expect(metadata.type).toBe('DIR');
      expect(metadata.contentId).toBeNull();
      expect(await fs.stat('/dir')).toEqual(metadata);
      expect(await listPaths(fs, '/dir')).toEqual([]);
    });

    test(harness, 'rejects an existing directory with EEXIST unless existOk', async ({ fs }) => {
      const created = await fs.mkdir('/dir');
      await expectError(fs.mkdir('/dir'), 'EEXIST');
      const again = await fs.mkdir('/dir', { existOk: true });
      expect(again.type).toBe('DIR');
      expect(again.path).toBe('/dir');
      expect(again.createdAtMs).toBe(created.createdAtMs);
      await expectError(fs.mkdir('/'), 'EEXIST');
    });

    test(harness, 'rejects an existing file with EEXIST or ENOTDIR, even with existOk', async ({ fs }) => {
      await fs.write('/file', 'x');
      await expectError(fs.mkdir('/file'), ['EEXIST', 'ENOTDIR']);
      await expectError(fs.mkdir('/file', { existOk: true }), ['EEXIST', 'ENOTDIR']);
      await expectError(fs.mkdir('/file', { existOk: true, parents: true }), ['EEXIST', 'ENOTDIR']);
      expect((await fs.stat('/file')).type).toBe('REG');
    });

    test(harness, 'rejects a missing parent with ENOENT unless parents', async ({ fs }) => {
      await expectError(fs.mkdir('/a/b/c'), 'ENOENT');
      expect(await fs.exists('/a')).toBe(false);
      await fs.mkdir('/a/b/c', { parents: true });
      for (const path of ['/a', '/a/b', '/a/b/c']) expect((await fs.stat(path)).type).toBe('DIR');
    });

    test(harness, 'rejects a directory below a file with ENOTDIR or EEXIST', async ({ fs }) => {
      await fs.write('/file', 'x');
      await expectError(fs.mkdir('/file/sub'), ['ENOTDIR', 'EEXIST']);
      await expectError(fs.mkdir('/file/sub/deeper', { parents: true }), ['ENOTDIR', 'EEXIST']);
    });
  });

  describe('list', () => {
    test(harness, 'lists nothing in an empty root', async ({ fs }) => {
      const page = await fs.list('/');
      expect(page.entries).toEqual([]);
      expect(page.cursor).toBeUndefined();
    });

    test(harness, 'lists only direct children, with full paths, not the directory itself', async ({ fs }) => {
      await fs.write('/d/file', 'x');
      await fs.write('/d/sub/inner', 'y');
      await fs.mkdir('/d/empty');
      const entries = await listAll(fs, '/d');
      expect(entries.map((entry) => entry.path)).toEqual(['/d/empty', '/d/file', '/d/sub']);
      expect(entries.map((entry) => entry.type)).toEqual(['DIR', 'REG', 'DIR']);
      expect(entries[1]).toEqual(await fs.stat('/d/file'));
      expect(await listPaths(fs, '/')).toEqual(['/d']);
    });

    test(harness, 'orders by path components, each compared byte-wise as UTF-8', async ({ fs }) => {
      const expected = await writeSampleTree(fs);
      // Spot checks of the oracle itself, so a wrong oracle cannot hide a wrong order.
      expect(expected.indexOf('/tree/a/b')).toBeLessThan(expected.indexOf('/tree/a-c'));
      expect(expected.indexOf('/tree/B')).toBeLessThan(expected.indexOf('/tree/a'));
      expect(expected.indexOf('/tree/ｱ')).toBeLessThan(expected.indexOf('/tree/😀'));
      expect(await listPaths(fs, '/tree', { recursive: true })).toEqual(expected);
      expect(await listPaths(fs, '/tree')).toEqual(expected.filter((path) => path.split('/').length === 3));
    });

    test(harness, 'recursive listing is a depth-first walk that includes directories', async ({ fs }) => {
      await fs.write('/a/b/c', '1');
      await fs.write('/a/d', '2');
      await fs.write('/a-b', '3');
      await fs.mkdir('/e');
      expect(await listPaths(fs, '/', { recursive: true })).toEqual(['/a', '/a/b', '/a/b/c', '/a/d', '/a-b', '/e']);
      expect(await listPaths(fs, '/a', { recursive: true })).toEqual(['/a/b', '/a/b/c', '/a/d']);
    });

    test(harness, 'a directory listing does not include siblings that share its name as a prefix', async ({ fs }) => {
      await fs.write('/a/x', '1');
      await fs.write('/ab/y', '2');
      await fs.write('/a-z', '3');
      expect(await listPaths(fs, '/a', { recursive: true })).toEqual(['/a/x']);
    });

    test(harness, 'paginating with limit and cursor gives the same sequence as one list', async ({ fs }) => {
      const expected = await writeSampleTree(fs);
      for (const recursive of [false, true]) {
        const whole = await fs.list('/tree', { recursive });
        expect(whole.cursor).toBeUndefined();
        for (const limit of [1, 2, 3, 5]) {
          const pages: string[][] = [];
          let cursor: string | undefined;
          do {
            const page = await fs.list('/tree', cursor === undefined ? { recursive, limit } : { recursive, limit, cursor });
            expect(page.entries.length).toBeLessThanOrEqual(limit);
            pages.push(page.entries.map((entry) => entry.path));
            cursor = page.cursor;
          } while (cursor !== undefined && pages.length < 100);
          expect(pages.flat(), `recursive ${recursive}, limit ${limit}`).toEqual(whole.entries.map((entry) => entry.path));
        }
      }
      expect((await fs.list('/tree', { recursive: true })).entries.map((entry) => entry.path)).toEqual(expected);
    });

    test(harness, 'pages by LIST_LIMIT_DEFAULT when no limit is given', async ({ fs }) => {
      const count = LIST_LIMIT_DEFAULT + 5;
      const items = Array.from({ length: count }, (_, index) => ({ path: `/many/${String(index).padStart(5, '0')}`, data: '' }));
      // Several batches: the suite does not assume how many items one writeMany may take.
      for (let start = 0; start < count; start += 250) await fs.writeMany(items.slice(start, start + 250));
      const first = await fs.list('/many');
      expect(first.entries).toHaveLength(LIST_LIMIT_DEFAULT);
      expect(first.cursor).toBeDefined();
      const second = await fs.list('/many', { cursor: first.cursor! });
      expect(second.entries).toHaveLength(5);
      expect(second.cursor).toBeUndefined();
      expect(second.entries[4]!.path).toBe(`/many/${String(count - 1).padStart(5, '0')}`);
    });

    test(harness, 'rejects a file with ENOTDIR and a missing path with ENOENT', async ({ fs }) => {
      await fs.write('/file', 'x');
      await expectError(fs.list('/file'), 'ENOTDIR');
      await expectError(fs.list('/missing'), 'ENOENT');
    });
  });

  describe('delete', () => {
    test(harness, 'deletes a file', async ({ fs }) => {
      await fs.write('/d/file', 'x');
      await fs.delete('/d/file');
      expect(await fs.exists('/d/file')).toBe(false);
      await expectError(fs.read('/d/file'), 'ENOENT');
      expect((await fs.stat('/d')).type).toBe('DIR');
    });

    test(harness, 'deletes an empty directory', async ({ fs }) => {
      await fs.mkdir('/d');
      await fs.delete('/d');
      expect(await fs.exists('/d')).toBe(false);
    });

    test(harness, 'rejects a missing path with ENOENT', async ({ fs }) => {
      await expectError(fs.delete('/missing'), 'ENOENT');
      await expectError(fs.delete('/missing', { recursive: true }), 'ENOENT');
    });

    test(harness, 'rejects a non-empty directory with ENOTEMPTY unless recursive', async ({ fs }) => {
      await fs.write('/d/sub/file', 'x');
      await expectError(fs.delete('/d'), 'ENOTEMPTY');
      expect(text(await fs.read('/d/sub/file'))).toBe('x');
    });

    test(harness, 'recursive removes the whole tree and nothing beside it', async ({ fs }) => {
      await fs.write('/d/sub/file', 'x');
      await fs.write('/d/other', 'y');
      await fs.write('/d-sibling', 'z');
      await fs.write('/dd/file', 'w');
      await fs.delete('/d', { recursive: true });
      for (const path of ['/d', '/d/sub', '/d/sub/file', '/d/other']) expect(await fs.exists(path)).toBe(false);
      expect(await listPaths(fs, '/', { recursive: true })).toEqual(['/d-sibling', '/dd', '/dd/file']);
    });

    test(harness, 'rejects the root with EBUSY', async ({ fs }) => {
      await fs.write('/file', 'x');
      await expectError(fs.delete('/'), 'EBUSY');
      await expectError(fs.delete('/', { recursive: true }), 'EBUSY');
      expect(await fs.exists('/file')).toBe(true);
    });

    test(harness, 'honours ifMatch', async ({ fs }) => {
      const written = await fs.write('/file', 'x');
      await expectError(fs.delete('/file', { ifMatch: written.version + 1000 }), 'ECONFLICT');
      expect(await fs.exists('/file')).toBe(true);
      await fs.delete('/file', { ifMatch: written.version });
      expect(await fs.exists('/file')).toBe(false);
    });
  });

  describe('rename', () => {
    test(harness, 'moves a file, keeping its content id', async ({ fs }) => {
      const written = await fs.write('/a/file', 'content');
      await fs.mkdir('/b');
      const moved = await fs.rename('/a/file', '/b/renamed');
      expect(moved.path).toBe('/b/renamed');
      expect(moved.type).toBe('REG');
      expect(moved.contentId).toBe(written.contentId);
      expect(moved.sizeBytes).toBe(written.sizeBytes);
      expect(text(await fs.read('/b/renamed'))).toBe('content');
      await expectError(fs.read('/a/file'), 'ENOENT');
      expect(await fs.stat('/b/renamed')).toEqual(moved);
    });

    test(harness, 'moves a directory with every descendant', async ({ fs }) => {
      await fs.write('/src/one', '1');
      await fs.write('/src/sub/two', '2');
      await fs.mkdir('/src/sub/empty');
      await fs.write('/src-sibling', 'stays');
      const moved = await fs.rename('/src', '/dst');
      expect(moved.path).toBe('/dst');
      expect(moved.type).toBe('DIR');
      expect(await listPaths(fs, '/', { recursive: true })).toEqual([
        '/dst',
        '/dst/one',
        '/dst/sub',
        '/dst/sub/empty',
        '/dst/sub/two',
        '/src-sibling',
      ]);
      expect(text(await fs.read('/dst/sub/two'))).toBe('2');
      await expectError(fs.stat('/src'), 'ENOENT');
      await expectError(fs.read('/src/sub/two'), 'ENOENT');
    });

    test(harness, 'moves a directory of 1,000 files in nested directories as one change', async ({ fs }) => {
      const paths = nestedFilePaths('/old', 1000);
      await writeNested(fs, paths);
      const contentIds = new Map<string, string | null>();
      for (const entry of await listAll(fs, '/old', { recursive: true })) contentIds.set(entry.path, entry.contentId);
      expect([...contentIds.keys()].filter((path) => path.endsWith('.txt'))).toHaveLength(1000);

      const watcher = new EventCollector(fs, '/', { since: await fs.revision() });
      try {
        await fs.rename('/old', '/new');
        await fs.write('/marker', 'after the rename');
        const events = await watcher.until((event) => event.path === '/marker');
        expect(events.map((event) => [event.type, event.path, event.fromPath])).toEqual([
          ['rename', '/new', '/old'],
          ['write', '/marker', undefined],
        ]);
      } finally {
        watcher.close();
      }

      expect(await fs.exists('/old')).toBe(false);
      const movedEntries = await listAll(fs, '/new', { recursive: true });
      expect(movedEntries).toHaveLength(contentIds.size);
      for (const entry of movedEntries) {
        expect(entry.contentId, entry.path).toBe(contentIds.get(entry.path.replace(/^\/new/, '/old')));
      }
      const readBack = await fs.readMany(paths.map((path) => path.replace(/^\/old/, '/new')));
      readBack.forEach((result, index) => {
        expect(result.ok, result.path).toBe(true);
        if (result.ok) expect(text(result.value)).toBe(`content of ${paths[index]}`);
      });
      const oldResults = await fs.statMany(paths.slice(0, 50));
      for (const result of oldResults) expect(result.ok ? 'present' : result.error.code).toBe('ENOENT');
    });

    test(harness, 'rejects an existing target with EEXIST', async ({ fs }) => {
      await fs.write('/a', 'a');
      await fs.write('/b', 'b');
      await fs.mkdir('/dir');
      await expectError(fs.rename('/a', '/b'), 'EEXIST');
      await expectError(fs.rename('/a', '/dir'), 'EEXIST');
      await expectError(fs.rename('/dir', '/a'), 'EEXIST');
      expect(text(await fs.read('/a'))).toBe('a');
      expect(text(await fs.read('/b'))).toBe('b');
    });

    test(harness, 'with overwrite replaces a file by a file', async ({ fs }) => {
      const source = await fs.write('/a', 'a');
      const target = await fs.write('/b', 'b');
      const moved = await fs.rename('/a', '/b', { overwrite: true });
      expect(moved.contentId).toBe(source.contentId);
      expect(moved.version).toBeGreaterThan(target.version);
      expect(text(await fs.read('/b'))).toBe('a');
      expect(await fs.exists('/a')).toBe(false);
    });

    test(harness, 'with overwrite still refuses directories', async ({ fs }) => {
      await fs.write('/file', 'x');
      await fs.mkdir('/dir');
      await fs.mkdir('/dir2');
      await expectError(fs.rename('/file', '/dir', { overwrite: true }), ['EEXIST', 'EISDIR']);
      await expectError(fs.rename('/dir', '/file', { overwrite: true }), ['EEXIST', 'ENOTDIR']);
      await expectError(fs.rename('/dir', '/dir2', { overwrite: true }), ['EEXIST', 'ENOTEMPTY', 'EISDIR']);
      expect(await listPaths(fs, '/')).toEqual(['/dir', '/dir2', '/file']);
    });

    test(harness, 'rejects moving a directory into its own subtree with EINVAL', async ({ fs }) => {
      await fs.write('/a/b/file', 'x');
      await expectError(fs.rename('/a', '/a/b/c'), 'EINVAL');
      await expectError(fs.rename('/a', '/a/c'), 'EINVAL');
      expect(text(await fs.read('/a/b/file'))).toBe('x');
    });

    test(harness, 'rename to itself is a no-op or EINVAL', async ({ fs }) => {
      await fs.write('/a/file', 'x');
      for (const path of ['/a/file', '/a']) {
        try {
          await fs.rename(path, path);
        } catch (error) {
          await expectError(Promise.reject(error), 'EINVAL');
        }
      }
      expect(text(await fs.read('/a/file'))).toBe('x');
      expect(await listPaths(fs, '/', { recursive: true })).toEqual(['/a', '/a/file']);
    });

    test(harness, 'rejects a missing source with ENOENT', async ({ fs }) => {
      await expectError(fs.rename('/missing', '/other'), 'ENOENT');
      expect(await fs.exists('/other')).toBe(false);
    });

    test(harness, 'rejects moving the root with EBUSY or EINVAL', async ({ fs }) => {
      await expectError(fs.rename('/', '/elsewhere'), ['EBUSY', 'EINVAL']);
    });

    test(harness, 'rejects a target below a file with ENOTDIR or EEXIST', async ({ fs }) => {
      await fs.write('/file', 'x');
      await fs.write('/other', 'y');
      await expectError(fs.rename('/other', '/file/child'), ['ENOTDIR', 'EEXIST']);
      expect(text(await fs.read('/other'))).toBe('y');
    });

    test(harness, 'honours ifMatch', async ({ fs }) => {
      const written = await fs.write('/a', 'a');
      await expectError(fs.rename('/a', '/b', { ifMatch: written.version + 1000 }), 'ECONFLICT');
      expect(await fs.exists('/a')).toBe(true);
      await fs.rename('/a', '/b', { ifMatch: written.version });
      expect(await fs.exists('/b')).toBe(true);
    });

    testNeeding(harness, ['rootObjectStore'], 'never creates, copies or deletes blobs', async ({ fs, rootObjectStore }) => {
      await fs.write('/d/one', 'one');
      await fs.write('/d/sub/two', 'two');
      await fs.write('/three', 'three');
      const before = await blobIds(rootObjectStore);
      await fs.rename('/d', '/e');
      await fs.rename('/three', '/e/three');
      expect(await blobIds(rootObjectStore)).toEqual(before);
    });
  });

  describe('copy', () => {
    test(harness, 'copies a file, sharing its content id', async ({ fs }) => {
      const source = await fs.write('/a', 'content', { mimeType: 'text/plain' });
      const copied = await fs.copy('/a', '/dir/b');
      expect(copied.path).toBe('/dir/b');
      expect(copied.type).toBe('REG');
      expect(copied.contentId).toBe(source.contentId);
      expect(copied.sizeBytes).toBe(source.sizeBytes);
      expect(text(await fs.read('/dir/b'))).toBe('content');
      expect(await fs.stat('/a')).toEqual(source);
    });

    test(harness, 'the copy is independent of the source', async ({ fs }) => {
      await fs.write('/a', 'original');
      await fs.copy('/a', '/b');
      await fs.write('/b', 'changed');
      expect(text(await fs.read('/a'))).toBe('original');
      await fs.delete('/a');
      expect(text(await fs.read('/b'))).toBe('changed');
    });

    test(harness, 'rejects a directory with EISDIR unless recursive', async ({ fs }) => {
      await fs.write('/src/file', 'x');
      await expectError(fs.copy('/src', '/dst'), 'EISDIR');
      expect(await fs.exists('/dst')).toBe(false);
    });

    test(harness, 'copies a directory tree with recursive', async ({ fs }) => {
      await fs.write('/src/one', '1');
      await fs.write('/src/sub/two', '2');
      await fs.mkdir('/src/sub/empty');
      const copied = await fs.copy('/src', '/dst', { recursive: true });
      expect(copied.path).toBe('/dst');
      expect(copied.type).toBe('DIR');
      expect(await listPaths(fs, '/dst', { recursive: true })).toEqual(['/dst/one', '/dst/sub', '/dst/sub/empty', '/dst/sub/two']);
      expect(await listPaths(fs, '/src', { recursive: true })).toEqual(['/src/one', '/src/sub', '/src/sub/empty', '/src/sub/two']);
      expect(text(await fs.read('/dst/sub/two'))).toBe('2');
      expect((await fs.stat('/dst/sub/two')).contentId).toBe((await fs.stat('/src/sub/two')).contentId);
    });

    test(harness, 'rejects an existing target with EEXIST unless overwrite', async ({ fs }) => {
      await fs.write('/a', 'a');
      const target = await fs.write('/b', 'b');
      await expectError(fs.copy('/a', '/b'), 'EEXIST');
      expect(text(await fs.read('/b'))).toBe('b');
      const copied = await fs.copy('/a', '/b', { overwrite: true });
      expect(copied.version).toBeGreaterThan(target.version);
      expect(text(await fs.read('/b'))).toBe('a');
      expect(text(await fs.read('/a'))).toBe('a');
    });

    test(harness, 'rejects a directory copy onto an existing entry with EEXIST', async ({ fs }) => {
      await fs.write('/src/file', 'x');
      await fs.write('/dst/other', 'y');
      await fs.write('/plain', 'z');
      await expectError(fs.copy('/src', '/dst', { recursive: true }), 'EEXIST');
      await expectError(fs.copy('/src', '/plain', { recursive: true }), ['EEXIST', 'ENOTDIR']);
      expect(await listPaths(fs, '/dst')).toEqual(['/dst/other']);
      expect(text(await fs.read('/plain'))).toBe('z');
    });

    test(harness, 'rejects a missing source with ENOENT', async ({ fs }) => {
      await expectError(fs.copy('/missing', '/b'), 'ENOENT');
    });

    testNeeding(harness, ['rootObjectStore'], 'within one mount creates no blobs', async ({ fs, rootObjectStore }) => {
      await fs.write('/src/one', 'one');
      await fs.write('/src/sub/two', 'two');
      const before = await blobIds(rootObjectStore);
      await fs.copy('/src/one', '/one-copy');
      await fs.copy('/src', '/dst', { recursive: true });
      expect(await blobIds(rootObjectStore)).toEqual(before);
    });
  });
}
