import { describe, expect } from 'vitest';
import { type SuiteHarness, EventCollector, blobIds, expectError, listPaths, testNeeding, text } from './harness.ts';

export function describeMounts(harness: SuiteHarness): void {
  describe('mounts', () => {
    testNeeding(harness, ['admin'], 'lists the root mount and a new one, which stats as MOUNT', async ({ fs, admin }) => {
      expect(admin.listMounts().map((mount) => mount.path)).toEqual(['/']);
      const store = await admin.createObjectStore();
      const info = await admin.mount('/mnt', store, { name: 'scratch' });
      expect(info).toMatchObject({ path: '/mnt', name: 'scratch' });
      const mounts = admin.listMounts();
      expect(mounts.map((mount) => mount.path).sort()).toEqual(['/', '/mnt']);
      expect(mounts.find((mount) => mount.path === '/mnt')?.name).toBe('scratch');
      for (const mount of mounts) expect(typeof mount.name).toBe('string');
      const metadata = await fs.stat('/mnt');
      expect(metadata.path).toBe('/mnt');
      expect(metadata.type).toBe('MOUNT');
      expect(metadata.contentId).toBeNull();
      expect((await fs.list('/')).entries.map((entry) => [entry.path, entry.type])).toEqual([['/mnt', 'MOUNT']]);
    });

    testNeeding(harness, ['admin', 'rootObjectStore'], 'puts the blobs of files below a mount in its store', async ({ fs, admin, rootObjectStore }) => {
      const store = await admin.createObjectStore();
      await admin.mount('/mnt', store);
      const inside = await fs.write('/mnt/dir/file', 'inside the mount');
      const outside = await fs.write('/outside', 'outside the mount');
      expect(await blobIds(store)).toEqual([inside.contentId]);
      expect(await blobIds(rootObjectStore)).toEqual([outside.contentId]);
      expect(text(await fs.read('/mnt/dir/file'))).toBe('inside the mount');
      expect(await listPaths(fs, '/mnt', { recursive: true })).toEqual(['/mnt/dir', '/mnt/dir/file']);
    });

    testNeeding(harness, ['admin', 'rootObjectStore'], 'counts references per store: the same bytes in two mounts are two blobs', async ({ fs, admin, rootObjectStore }) => {
      const store = await admin.createObjectStore();
      await admin.mount('/mnt', store);
      const rootFile = await fs.write('/same', 'same bytes');
      const mountFile = await fs.write('/mnt/same', 'same bytes');
      expect(mountFile.contentId).toBe(rootFile.contentId);
      expect(await store.has(mountFile.contentId!)).toBe(true);
      expect(await rootObjectStore.has(rootFile.contentId!)).toBe(true);
      await fs.delete('/mnt/same');
      expect(await store.has(mountFile.contentId!)).toBe(false);
      expect(await rootObjectStore.has(rootFile.contentId!)).toBe(true);
      expect(text(await fs.read('/same'))).toBe('same bytes');
    });

    testNeeding(harness, ['admin'], 'mounts over an empty directory', async ({ fs, admin }) => {
      await fs.mkdir('/empty');
      await admin.mount('/empty', await admin.createObjectStore());
      expect((await fs.stat('/empty')).type).toBe('MOUNT');
    });

    testNeeding(harness, ['admin'], 'mounts below an existing directory', async ({ fs, admin }) => {
      await fs.mkdir('/a/b', { parents: true });
      await admin.mount('/a/b/c', await admin.createObjectStore());
      expect((await fs.stat('/a/b/c')).type).toBe('MOUNT');
      await fs.write('/a/b/c/file', 'x');
      expect(text(await fs.read('/a/b/c/file'))).toBe('x');
    });

    testNeeding(harness, ['admin'], 'rejects a mount over a file with EEXIST', async ({ fs, admin }) => {
      await fs.write('/file', 'x');
      await expectError(admin.mount('/file', await admin.createObjectStore()), 'EEXIST');
      expect((await fs.stat('/file')).type).toBe('REG');
      expect(admin.listMounts().map((mount) => mount.path)).toEqual(['/']);
    });

    testNeeding(harness, ['admin'], 'rejects a mount over a mount with EBUSY', async ({ admin }) => {
      await admin.mount('/mnt', await admin.createObjectStore());
      await expectError(admin.mount('/mnt', await admin.createObjectStore()), 'EBUSY');
    });

    testNeeding(harness, ['admin'], 'rejects a mount over a non-empty directory with EBUSY', async ({ fs, admin }) => {
      await fs.write('/dir/file', 'x');
      await expectError(admin.mount('/dir', await admin.createObjectStore()), 'EBUSY');
      expect((await fs.stat('/dir')).type).toBe('DIR');
    });

    testNeeding(harness, ['admin'], 'rejects a bad or reserved mount path', async ({ admin }) => {
      await expectError(admin.mount('relative', await admin.createObjectStore()), 'EINVAL');
      await expectError(admin.mount('/__sys__/x', await admin.createObjectStore()), 'EACCES');
    });

    testNeeding(harness, ['admin'], 'unmounts an empty mount', async ({ fs, admin }) => {
      await admin.mount('/mnt', await admin.createObjectStore());
      await fs.write('/mnt/file', 'x');
      await fs.delete('/mnt/file');
      await admin.unmount('/mnt');
      expect(admin.listMounts().map((mount) => mount.path)).toEqual(['/']);
      const after = await fs.exists('/mnt') ? (await fs.stat('/mnt')).type : 'absent';
      expect(after).not.toBe('MOUNT');
    });

    testNeeding(harness, ['admin'], 'rejects unmounting a mount with entries below it with EBUSY', async ({ fs, admin }) => {
      await admin.mount('/mnt', await admin.createObjectStore());
      await fs.mkdir('/mnt/dir');
      await expectError(admin.unmount('/mnt'), 'EBUSY');
      expect(admin.listMounts().map((mount) => mount.path).sort()).toEqual(['/', '/mnt']);
    });

    testNeeding(harness, ['admin'], 'rejects unmounting what is not a mount with ENOENT', async ({ fs, admin }) => {
      await expectError(admin.unmount('/nothing'), 'ENOENT');
      await fs.mkdir('/dir');
      await expectError(admin.unmount('/dir'), ['ENOENT', 'EINVAL']);
    });

    testNeeding(harness, ['admin'], 'rejects deleting a mount point or a tree holding one with EBUSY', async ({ fs, admin }) => {
      await fs.mkdir('/outer');
      await admin.mount('/outer/mnt', await admin.createObjectStore());
      await expectError(fs.delete('/outer/mnt'), 'EBUSY');
      await expectError(fs.delete('/outer/mnt', { recursive: true }), 'EBUSY');
      await expectError(fs.delete('/outer', { recursive: true }), 'EBUSY');
      expect((await fs.stat('/outer/mnt')).type).toBe('MOUNT');
    });

    testNeeding(harness, ['admin'], 'rejects renaming a mount point or a tree holding one with EBUSY', async ({ fs, admin }) => {
      await fs.mkdir('/outer');
      await admin.mount('/outer/mnt', await admin.createObjectStore());
      await expectError(fs.rename('/outer/mnt', '/moved'), 'EBUSY');
      await expectError(fs.rename('/outer', '/moved'), 'EBUSY');
      expect((await fs.stat('/outer/mnt')).type).toBe('MOUNT');
    });

    testNeeding(harness, ['admin'], 'rejects a rename across mounts with EXDEV', async ({ fs, admin }) => {
      await admin.mount('/mnt', await admin.createObjectStore());
      await fs.write('/root-file', 'r');
      await fs.write('/mnt/mount-file', 'm');
      await fs.write('/root-dir/file', 'd');
      await expectError(fs.rename('/root-file', '/mnt/root-file'), 'EXDEV');
      await expectError(fs.rename('/mnt/mount-file', '/mount-file'), 'EXDEV');
      await expectError(fs.rename('/root-dir', '/mnt/root-dir'), 'EXDEV');
      expect(text(await fs.read('/root-file'))).toBe('r');
      expect(text(await fs.read('/mnt/mount-file'))).toBe('m');
      expect(await fs.exists('/mnt/root-file')).toBe(false);
    });

    testNeeding(harness, ['admin', 'rootObjectStore'], 'copies bytes across mounts into the target store', async ({ fs, admin, rootObjectStore }) => {
      const store = await admin.createObjectStore();
      await admin.mount('/mnt', store);
      const source = await fs.write('/src/file', 'travelling bytes');
      await fs.write('/src/sub/other', 'more bytes');
      const copied = await fs.copy('/src/file', '/mnt/file');
      expect(copied.contentId).toBe(source.contentId);
      expect(await store.has(source.contentId!)).toBe(true);
      expect(text(await fs.read('/mnt/file'))).toBe('travelling bytes');
      await fs.copy('/src', '/mnt/tree', { recursive: true });
      expect(text(await fs.read('/mnt/tree/sub/other'))).toBe('more bytes');
      expect(await store.has((await fs.stat('/src/sub/other')).contentId!)).toBe(true);
      // The copy is independent: deleting the source leaves it readable.
      await fs.delete('/src', { recursive: true });
      expect(await blobIds(rootObjectStore)).toEqual([]);
      expect(text(await fs.read('/mnt/tree/file'))).toBe('travelling bytes');
      // And back out of the mount.
      await fs.copy('/mnt/file', '/back');
      expect(await rootObjectStore.has(source.contentId!)).toBe(true);
      expect(text(await fs.read('/back'))).toBe('travelling bytes');
    });

    testNeeding(harness, ['admin'], 'renames and copies within a mount create no blobs', async ({ fs, admin }) => {
      const store = await admin.createObjectStore();
      await admin.mount('/mnt', store);
      await fs.write('/mnt/a/file', 'content');
      const before = await blobIds(store);
      await fs.rename('/mnt/a', '/mnt/b');
      await fs.copy('/mnt/b', '/mnt/c', { recursive: true });
      expect(await blobIds(store)).toEqual(before);
    });

    testNeeding(harness, ['admin'], 'list, glob and grep see entries below a mount', async ({ fs, admin }) => {
      await admin.mount('/mnt', await admin.createObjectStore());
      await fs.write('/mnt/notes.txt', 'needle');
      await fs.write('/top.txt', 'needle');
      expect(await listPaths(fs, '/', { recursive: true })).toEqual(['/mnt', '/mnt/notes.txt', '/top.txt']);
      expect(await fs.glob('**/*.txt')).toEqual(['/mnt/notes.txt', '/top.txt']);
      expect((await fs.grep('needle')).map((match) => match.path)).toEqual(['/mnt/notes.txt', '/top.txt']);
    });

    testNeeding(harness, ['admin'], 'mount and unmount are changes with their own events', async ({ fs, admin }) => {
      const before = await fs.revision();
      const watcher = new EventCollector(fs, '/', { since: before });
      try {
        await admin.mount('/mnt', await admin.createObjectStore());
        const afterMount = await fs.revision();
        expect(afterMount).toBeGreaterThan(before);
        await admin.unmount('/mnt');
        expect(await fs.revision()).toBeGreaterThan(afterMount);
        const events = await watcher.take(2);
        expect(events.map((event) => [event.type, event.path])).toEqual([
          ['mount', '/mnt'],
          ['unmount', '/mnt'],
        ]);
        expect(events[0]!.metadata?.type).toBe('MOUNT');
      } finally {
        watcher.close();
      }
    });
  });
}
