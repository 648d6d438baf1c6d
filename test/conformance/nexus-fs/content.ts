import { describe, expect } from 'vitest';
import { type SuiteHarness, blobIds, bytes, sha256Hex, testNeeding, text } from './harness.ts';

/** Content addressing: which blobs the root ObjectStore holds after each change. */
export function describeContent(harness: SuiteHarness): void {
  describe('content addressing', () => {
    testNeeding(harness, ['rootObjectStore'], 'stores a file as one blob named by its SHA-256', async ({ fs, rootObjectStore }) => {
      const metadata = await fs.write('/file', 'some content');
      expect(metadata.contentId).toBe(await sha256Hex('some content'));
      expect(await rootObjectStore.has(metadata.contentId!)).toBe(true);
      expect(text(await rootObjectStore.get(metadata.contentId!))).toBe('some content');
    });

    testNeeding(harness, ['rootObjectStore'], 'stores identical bytes once', async ({ fs, rootObjectStore }) => {
      const before = await blobIds(rootObjectStore);
      const first = await fs.write('/one', 'same bytes');
      const second = await fs.write('/dir/two', bytes('same bytes'));
      const [third] = await fs.writeMany([{ path: '/three', data: 'same bytes' }]);
      expect(second.contentId).toBe(first.contentId);
      expect(third!.contentId).toBe(first.contentId);
      const after = await blobIds(rootObjectStore);
      expect(after.filter((id) => !before.includes(id))).toEqual([first.contentId]);
    });

    testNeeding(harness, ['rootObjectStore'], 'reclaims a blob when the last file referring to it is overwritten', async ({ fs, rootObjectStore }) => {
      const shared = await fs.write('/one', 'shared');
      await fs.write('/two', 'shared');
      await fs.write('/one', 'different');
      expect(await rootObjectStore.has(shared.contentId!)).toBe(true);
      await fs.write('/two', 'also different');
      expect(await rootObjectStore.has(shared.contentId!)).toBe(false);
      expect(await blobIds(rootObjectStore)).toEqual([await sha256Hex('also different'), await sha256Hex('different')].sort());
    });

    testNeeding(harness, ['rootObjectStore'], 'reclaims a blob when the last file referring to it is deleted', async ({ fs, rootObjectStore }) => {
      const shared = await fs.write('/one', 'shared');
      await fs.write('/two', 'shared');
      await fs.delete('/one');
      expect(await rootObjectStore.has(shared.contentId!)).toBe(true);
      await fs.delete('/two');
      expect(await rootObjectStore.has(shared.contentId!)).toBe(false);
      expect(await blobIds(rootObjectStore)).toEqual([]);
    });

    testNeeding(harness, ['rootObjectStore'], 'reclaims the blobs of a tree deleted recursively, keeping shared ones', async ({ fs, rootObjectStore }) => {
      await fs.write('/tree/a', 'only in the tree');
      await fs.write('/tree/sub/b', 'shared with outside');
      await fs.write('/tree/sub/c', 'only in the tree');
      const outside = await fs.write('/outside', 'shared with outside');
      await fs.delete('/tree', { recursive: true });
      expect(await blobIds(rootObjectStore)).toEqual([outside.contentId]);
    });

    testNeeding(harness, ['rootObjectStore'], 'keeps a blob that a copy still refers to', async ({ fs, rootObjectStore }) => {
      const source = await fs.write('/source', 'copied');
      await fs.copy('/source', '/copy');
      await fs.delete('/source');
      expect(await rootObjectStore.has(source.contentId!)).toBe(true);
      expect(text(await fs.read('/copy'))).toBe('copied');
      await fs.delete('/copy');
      expect(await rootObjectStore.has(source.contentId!)).toBe(false);
    });

    testNeeding(harness, ['rootObjectStore'], 'keeps a blob across renames and reclaims it after', async ({ fs, rootObjectStore }) => {
      const written = await fs.write('/a/file', 'moving');
      await fs.rename('/a/file', '/b');
      await fs.rename('/a', '/c');
      expect(await rootObjectStore.has(written.contentId!)).toBe(true);
      await fs.delete('/b');
      expect(await rootObjectStore.has(written.contentId!)).toBe(false);
    });

    testNeeding(harness, ['rootObjectStore'], 'reclaims the replaced blob of a rename with overwrite', async ({ fs, rootObjectStore }) => {
      const source = await fs.write('/source', 'winner');
      const target = await fs.write('/target', 'replaced');
      await fs.rename('/source', '/target', { overwrite: true });
      expect(await blobIds(rootObjectStore)).toEqual([source.contentId]);
      expect(await rootObjectStore.has(target.contentId!)).toBe(false);
    });

    testNeeding(harness, ['rootObjectStore'], 'reclaims the previous blob after append and edit', async ({ fs, rootObjectStore }) => {
      await fs.write('/log', 'one\n');
      await fs.append('/log', 'two\n');
      const edited = await fs.edit('/log', [{ search: 'two', replace: 'three' }]);
      expect(await blobIds(rootObjectStore)).toEqual([edited.metadata.contentId]);
    });

    testNeeding(harness, ['rootObjectStore'], 'reclaims the replaced blob of a copy with overwrite', async ({ fs, rootObjectStore }) => {
      const source = await fs.write('/source', 'kept');
      await fs.write('/target', 'replaced');
      await fs.copy('/source', '/target', { overwrite: true });
      expect(await blobIds(rootObjectStore)).toEqual([source.contentId]);
    });
    testNeeding(harness, ['rootObjectStore'], 'leaves no blob behind when a conditional write fails', async ({ fs, rootObjectStore }) => {
      const existing = await fs.write('/doc', 'first');
      await expect(fs.write('/doc', 'lost race', { ifNoneMatch: '*' })).rejects.toMatchObject({ code: 'ECONFLICT' });
      await expect(fs.write('/doc', 'stale', { ifMatch: existing.version + 1000 })).rejects.toMatchObject({ code: 'ECONFLICT' });
      expect(await blobIds(rootObjectStore)).toEqual([existing.contentId]);
    });

    testNeeding(harness, ['rootObjectStore'], 'leaves no blob behind when writeMany fails as a whole', async ({ fs, rootObjectStore }) => {
      const existing = await fs.write('/taken', 'taken');
      const attempt = fs.writeMany([
        { path: '/fresh', data: 'never stored' },
        { path: '/taken', data: 'conflicting', options: { ifNoneMatch: '*' } },
      ]);
      await expect(attempt).rejects.toMatchObject({ code: 'ECONFLICT' });
      expect(await blobIds(rootObjectStore)).toEqual([existing.contentId]);
    });

    testNeeding(harness, ['rootObjectStore'], 'keeps a blob that a failed write shares with an existing file', async ({ fs, rootObjectStore }) => {
      const existing = await fs.write('/a', 'same');
      await fs.write('/b', 'other');
      await expect(fs.write('/b', 'same', { ifMatch: 0 })).rejects.toMatchObject({ code: 'ECONFLICT' });
      expect(await rootObjectStore.has(existing.contentId!)).toBe(true);
      expect(text(await fs.read('/a'))).toBe('same');
    });

    testNeeding(harness, ['admin'], 'leaves no blob behind in the target mount when a copy across mounts fails', async ({ fs, admin }) => {
      const store = await admin.createObjectStore();
      await admin.mount('/mnt', store);
      await fs.write('/source/a', 'copied across');
      await fs.write('/source/b', 'also copied across');
      const existing = await fs.write('/mnt/target', 'already here');
      await expect(fs.copy('/source', '/mnt/target', { recursive: true })).rejects.toMatchObject({ code: 'EEXIST' });
      expect(await blobIds(store)).toEqual([existing.contentId]);
      expect(text(await fs.read('/mnt/target'))).toBe('already here');
    });

    testNeeding(harness, ['rootObjectStore'], 'keeps a blob that one write adds while another removes its last reference', async ({ fs, rootObjectStore }) => {
      for (let round = 0; round < 20; round++) {
        const content = `contested ${round}`;
        await fs.write('/leaving', content);
        await Promise.all([fs.delete('/leaving'), fs.write(`/arriving-${round}`, content)]);
        expect(text(await fs.read(`/arriving-${round}`))).toBe(content);
        expect(await rootObjectStore.has(await sha256Hex(content))).toBe(true);
      }
    });
  });
}
