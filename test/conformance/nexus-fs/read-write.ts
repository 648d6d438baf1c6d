import { describe, expect } from 'vitest';
import type { FileMetadata } from '../../../kernel/fs/types.ts';
import { type SuiteHarness, bytes, concat, expectError, expectSameBytes, readAll, sha256Hex, streamOf, test, text } from './harness.ts';

function expectFileMetadata(metadata: FileMetadata, expected: { path: string; content: string | Uint8Array }): void {
  const content = typeof expected.content === 'string' ? bytes(expected.content) : expected.content;
  expect(metadata.path).toBe(expected.path);
  expect(metadata.type).toBe('REG');
  expect(metadata.sizeBytes).toBe(content.byteLength);
  expect(metadata.contentId).toMatch(/^[0-9a-f]{64}$/);
  expect(Number.isSafeInteger(metadata.version)).toBe(true);
  expect(Number.isFinite(metadata.createdAtMs)).toBe(true);
  expect(Number.isFinite(metadata.modifiedAtMs)).toBe(true);
  expect(metadata.modifiedAtMs).toBeGreaterThanOrEqual(metadata.createdAtMs);
  expect(typeof metadata.zoneId).toBe('string');
  expect(metadata.zoneId.length).toBeGreaterThan(0);
  expect(metadata.targetZone).toBeNull();
  expect(metadata.owner === null || typeof metadata.owner === 'string').toBe(true);
  expect(metadata.mimeType === null || typeof metadata.mimeType === 'string').toBe(true);
}

export function describeReadWrite(harness: SuiteHarness): void {
  describe('write and read', () => {
    test(harness, 'writes a string as UTF-8 and reads it back', async ({ fs }) => {
      const content = 'héllo wörld € 😀\n';
      const metadata = await fs.write('/hello.txt', content);
      expectFileMetadata(metadata, { path: '/hello.txt', content });
      expect(metadata.contentId).toBe(await sha256Hex(content));
      const read = await fs.read('/hello.txt');
      expect(read).toBeInstanceOf(Uint8Array);
      expect(text(read)).toBe(content);
    });

    test(harness, 'writes a Uint8Array with every byte value', async ({ fs }) => {
      const content = Uint8Array.from({ length: 512 }, (_, index) => index % 256);
      const metadata = await fs.write('/binary', content);
      expectFileMetadata(metadata, { path: '/binary', content });
      expect(metadata.contentId).toBe(await sha256Hex(content));
      expectSameBytes(await fs.read('/binary'), content);
    });

    test(harness, 'writes a Uint8Array view that is a slice of a larger buffer', async ({ fs }) => {
      const backing = bytes('xxxxHELLOxxxx');
      await fs.write('/slice', backing.subarray(4, 9));
      expect(text(await fs.read('/slice'))).toBe('HELLO');
    });

    test(harness, 'writes a ReadableStream of several chunks', async ({ fs }) => {
      const chunks = [bytes('first '), bytes(''), bytes('second '), Uint8Array.from({ length: 100_000 }, (_, index) => 65 + (index % 26))];
      const whole = concat(chunks);
      const metadata = await fs.write('/streamed', streamOf(chunks));
      expectFileMetadata(metadata, { path: '/streamed', content: whole });
      expect(metadata.contentId).toBe(await sha256Hex(whole));
      expectSameBytes(await fs.read('/streamed'), whole);
    });

    test(harness, 'writes an empty file', async ({ fs }) => {
      const metadata = await fs.write('/empty', '');
      expectFileMetadata(metadata, { path: '/empty', content: '' });
      expect(metadata.contentId).toBe(await sha256Hex(''));
      expect((await fs.read('/empty')).byteLength).toBe(0);
      expect((await fs.stat('/empty')).sizeBytes).toBe(0);
    });

    test(harness, 'copies the caller buffer: changing it after write does not change the file', async ({ fs }) => {
      const buffer = bytes('original');
      await fs.write('/f', buffer);
      buffer.fill(0x21);
      expect(text(await fs.read('/f'))).toBe('original');
    });

    test(harness, 'hands out buffers the caller owns: changing one does not change the file', async ({ fs }) => {
      await fs.write('/f', 'original');
      const first = await fs.read('/f');
      first.fill(0x21);
      expect(text(await fs.read('/f'))).toBe('original');
    });

    test(harness, 'replaces the content of an existing file', async ({ fs }) => {
      const first = await fs.write('/f', 'first version, longer');
      const second = await fs.write('/f', 'second');
      expect(text(await fs.read('/f'))).toBe('second');
      expect(second.sizeBytes).toBe(6);
      expect(second.contentId).not.toBe(first.contentId);
      expect(second.version).toBeGreaterThan(first.version);
      expect(second.modifiedAtMs).toBeGreaterThanOrEqual(first.modifiedAtMs);
    });

    test(harness, 'keeps the mime type given to write', async ({ fs }) => {
      const metadata = await fs.write('/page', '<p>hi</p>', { mimeType: 'text/html' });
      expect(metadata.mimeType).toBe('text/html');
      expect((await fs.stat('/page')).mimeType).toBe('text/html');
    });

    test(harness, 'creates missing parent directories as DIR entries', async ({ fs }) => {
      await fs.write('/a/b/c/file', 'x');
      for (const directory of ['/a', '/a/b', '/a/b/c']) {
        const metadata = await fs.stat(directory);
        expect(metadata.type).toBe('DIR');
        expect(metadata.path).toBe(directory);
        expect(metadata.contentId).toBeNull();
      }
    });

    test(harness, 'rejects a write below a file with ENOTDIR or EEXIST and creates nothing', async ({ fs }) => {
      await fs.write('/file', 'x');
      await expectError(fs.write('/file/child', 'y'), ['ENOTDIR', 'EEXIST']);
      await expectError(fs.write('/file/deeper/child', 'y'), ['ENOTDIR', 'EEXIST']);
      expect((await fs.stat('/file')).type).toBe('REG');
      expect(text(await fs.read('/file'))).toBe('x');
    });

    test(harness, 'rejects a write to a directory with EISDIR', async ({ fs }) => {
      await fs.mkdir('/dir');
      await expectError(fs.write('/dir', 'x'), 'EISDIR');
      await expectError(fs.write('/', 'x'), 'EISDIR');
      expect((await fs.stat('/dir')).type).toBe('DIR');
    });

    test(harness, 'rejects reading a missing file with ENOENT', async ({ fs }) => {
      await expectError(fs.read('/missing'), 'ENOENT');
      await expectError(fs.read('/missing/below'), 'ENOENT');
    });

    test(harness, 'rejects reading a directory with EISDIR', async ({ fs }) => {
      await fs.mkdir('/dir');
      await expectError(fs.read('/dir'), 'EISDIR');
      await expectError(fs.read('/'), 'EISDIR');
    });

    test(harness, 'reads a range, cut at the end', async ({ fs }) => {
      await fs.write('/digits', '0123456789');
      expect(text(await fs.read('/digits', { offset: 2, length: 3 }))).toBe('234');
      expect(text(await fs.read('/digits', { offset: 7 }))).toBe('789');
      expect(text(await fs.read('/digits', { length: 4 }))).toBe('0123');
      expect(text(await fs.read('/digits', { offset: 8, length: 100 }))).toBe('89');
      expect((await fs.read('/digits', { offset: 10 })).byteLength).toBe(0);
      expect((await fs.read('/digits', { offset: 3, length: 0 })).byteLength).toBe(0);
    });

    test(harness, 'rejects a negative offset or length with EINVAL', async ({ fs }) => {
      await fs.write('/digits', '0123456789');
      await expectError(fs.read('/digits', { offset: -1 }), 'EINVAL');
      await expectError(fs.read('/digits', { length: -1 }), 'EINVAL');
      await expectError(fs.readStream('/digits', { offset: -1 }), 'EINVAL');
    });
  });

  describe('readStream', () => {
    test(harness, 'streams the whole file and a range', async ({ fs }) => {
      const content = Uint8Array.from({ length: 200_000 }, (_, index) => (index * 7) % 256);
      await fs.write('/big', content);
      expectSameBytes(await readAll(await fs.readStream('/big')), content);
      expectSameBytes(await readAll(await fs.readStream('/big', { offset: 1000, length: 5000 })), content.subarray(1000, 6000));
      expectSameBytes(await readAll(await fs.readStream('/big', { offset: 199_990, length: 100 })), content.subarray(199_990));
    });

    test(harness, 'streams an empty file', async ({ fs }) => {
      await fs.write('/empty', new Uint8Array());
      expect((await readAll(await fs.readStream('/empty'))).byteLength).toBe(0);
    });

    test(harness, 'rejects a missing file with ENOENT and a directory with EISDIR', async ({ fs }) => {
      await fs.mkdir('/dir');
      await expectError(fs.readStream('/missing'), 'ENOENT');
      await expectError(fs.readStream('/dir'), 'EISDIR');
    });
  });

  describe('append', () => {
    test(harness, 'creates a missing file', async ({ fs }) => {
      const metadata = await fs.append('/log/today', 'first\n');
      expectFileMetadata(metadata, { path: '/log/today', content: 'first\n' });
      expect(text(await fs.read('/log/today'))).toBe('first\n');
    });

    test(harness, 'appends strings and bytes to an existing file', async ({ fs }) => {
      const first = await fs.write('/log', 'one\n');
      const second = await fs.append('/log', 'two\n');
      const third = await fs.append('/log', bytes('three\n'));
      expect(text(await fs.read('/log'))).toBe('one\ntwo\nthree\n');
      expect(third.sizeBytes).toBe(14);
      expect(third.contentId).toBe(await sha256Hex('one\ntwo\nthree\n'));
      expect(second.version).toBeGreaterThan(first.version);
      expect(third.version).toBeGreaterThan(second.version);
    });

    test(harness, 'honours ifMatch', async ({ fs }) => {
      const written = await fs.write('/log', 'one\n');
      await expectError(fs.append('/log', 'bad\n', { ifMatch: written.version + 1000 }), 'ECONFLICT');
      await fs.append('/log', 'two\n', { ifMatch: written.version });
      await expectError(fs.append('/log', 'stale\n', { ifMatch: written.version }), 'ECONFLICT');
      expect(text(await fs.read('/log'))).toBe('one\ntwo\n');
      await expectError(fs.append('/missing', 'x', { ifMatch: written.version }), 'ECONFLICT');
      expect(await fs.exists('/missing')).toBe(false);
    });

    test(harness, 'rejects a directory with EISDIR', async ({ fs }) => {
      await fs.mkdir('/dir');
      await expectError(fs.append('/dir', 'x'), 'EISDIR');
    });
  });

  describe('stat and exists', () => {
    test(harness, 'stat of the root is a directory', async ({ fs }) => {
      const root = await fs.stat('/');
      expect(root.path).toBe('/');
      expect(root.type).toBe('DIR');
      expect(root.contentId).toBeNull();
    });

    test(harness, 'stat returns what write returned', async ({ fs }) => {
      const written = await fs.write('/f', 'content', { mimeType: 'text/plain' });
      expect(await fs.stat('/f')).toEqual(written);
    });

    test(harness, 'stat rejects a missing path with ENOENT (ENOTDIR below a file)', async ({ fs }) => {
      await fs.write('/file', 'x');
      await expectError(fs.stat('/missing'), 'ENOENT');
      await expectError(fs.stat('/missing/child'), 'ENOENT');
      await expectError(fs.stat('/file/child'), ['ENOENT', 'ENOTDIR']);
    });

    test(harness, 'exists answers for files, directories and missing paths', async ({ fs }) => {
      await fs.write('/dir/file', 'x');
      expect(await fs.exists('/')).toBe(true);
      expect(await fs.exists('/dir')).toBe(true);
      expect(await fs.exists('/dir/file')).toBe(true);
      expect(await fs.exists('/dir/other')).toBe(false);
      expect(await fs.exists('/dir/file/child')).toBe(false);
      expect(await fs.exists('/nothing/here')).toBe(false);
    });

    test(harness, 'all entries of one file system report the same zone', async ({ fs }) => {
      await fs.write('/a/b', 'x');
      const zoneIds = new Set([(await fs.stat('/')).zoneId, (await fs.stat('/a')).zoneId, (await fs.stat('/a/b')).zoneId]);
      expect(zoneIds.size).toBe(1);
    });
  });

  describe('versions and revisions', () => {
    test(harness, 'revision is 0 on a new zone and reads do not change it', async ({ fs }) => {
      expect(await fs.revision()).toBe(0);
      await fs.stat('/');
      await fs.list('/');
      await fs.exists('/x');
      await fs.glob('**');
      await fs.grep('x');
      await fs.readMany(['/x']);
      expect(await fs.revision()).toBe(0);
    });

    test(harness, 'revision strictly increases with every kind of mutation', async ({ fs }) => {
      const mutations: readonly (readonly [string, () => Promise<unknown>])[] = [
        ['write', () => fs.write('/a/file', 'one')],
        ['overwrite', () => fs.write('/a/file', 'two')],
        ['append', () => fs.append('/a/file', ' more')],
        ['mkdir', () => fs.mkdir('/b')],
        ['edit', () => fs.edit('/a/file', [{ search: 'more', replace: 'less' }])],
        ['copy', () => fs.copy('/a/file', '/b/copy')],
        ['rename', () => fs.rename('/b/copy', '/b/moved')],
        ['writeMany', () => fs.writeMany([{ path: '/c/1', data: '1' }, { path: '/c/2', data: '2' }])],
        ['delete', () => fs.delete('/b/moved')],
        ['delete recursive', () => fs.delete('/c', { recursive: true })],
      ];
      let previous = await fs.revision();
      for (const [label, mutate] of mutations) {
        await mutate();
        const current = await fs.revision();
        expect(current, `revision after ${label}`).toBeGreaterThan(previous);
        expect(Number.isSafeInteger(current)).toBe(true);
        previous = current;
      }
    });

    test(harness, 'a rejected mutation does not change the revision or the file', async ({ fs }) => {
      const written = await fs.write('/f', 'content');
      const revision = await fs.revision();
      await expectError(fs.write('/f', 'other', { ifMatch: written.version + 1000 }), 'ECONFLICT');
      await expectError(fs.write('/f', 'other', { ifNoneMatch: '*' }), 'ECONFLICT');
      await expectError(fs.mkdir('/f'), ['EEXIST', 'ENOTDIR']);
      await expectError(fs.delete('/missing'), 'ENOENT');
      expect(await fs.revision()).toBe(revision);
      expect(await fs.stat('/f')).toEqual(written);
    });

    test(harness, 'the version of a path strictly increases on every change', async ({ fs }) => {
      const versions = [
        (await fs.write('/f', 'one')).version,
        (await fs.write('/f', 'two')).version,
        (await fs.write('/f', 'two')).version, // same content is still a change
        (await fs.append('/f', '!')).version,
        (await fs.edit('/f', [{ search: '!', replace: '?' }])).metadata.version,
      ];
      for (let index = 1; index < versions.length; index++) {
        expect(versions[index], `version after change ${index}`).toBeGreaterThan(versions[index - 1]!);
      }
      expect((await fs.stat('/f')).version).toBe(versions.at(-1));
    });

    test(harness, 'a path deleted and created again gets a larger version (no ABA for ifMatch)', async ({ fs }) => {
      const first = await fs.write('/f', 'one');
      await fs.delete('/f');
      const second = await fs.write('/f', 'one');
      expect(second.version).toBeGreaterThan(first.version);
      await expectError(fs.write('/f', 'stale', { ifMatch: first.version }), 'ECONFLICT');
    });

    test(harness, 'a path renamed away and back gets a larger version', async ({ fs }) => {
      const first = await fs.write('/f', 'one');
      await fs.rename('/f', '/g');
      const back = await fs.rename('/g', '/f');
      expect(back.version).toBeGreaterThan(first.version);
    });
  });

  describe('optimistic concurrency', () => {
    test(harness, 'ifMatch with the current version succeeds', async ({ fs }) => {
      const first = await fs.write('/f', 'one');
      const second = await fs.write('/f', 'two', { ifMatch: first.version });
      expect(second.version).toBeGreaterThan(first.version);
      expect(text(await fs.read('/f'))).toBe('two');
    });

    test(harness, 'ifMatch with another version fails with ECONFLICT and changes nothing', async ({ fs }) => {
      const first = await fs.write('/f', 'one');
      await fs.write('/f', 'two');
      await expectError(fs.write('/f', 'three', { ifMatch: first.version }), 'ECONFLICT');
      await expectError(fs.write('/f', 'three', { ifMatch: first.version + 1_000_000 }), 'ECONFLICT');
      expect(text(await fs.read('/f'))).toBe('two');
    });

    test(harness, 'ifMatch on a missing file fails with ECONFLICT and creates nothing', async ({ fs }) => {
      await expectError(fs.write('/missing', 'x', { ifMatch: 1 }), 'ECONFLICT');
      expect(await fs.exists('/missing')).toBe(false);
    });

    test(harness, 'ifNoneMatch "*" creates a missing file and refuses an existing one with ECONFLICT', async ({ fs }) => {
      await fs.write('/f', 'first', { ifNoneMatch: '*' });
      await expectError(fs.write('/f', 'second', { ifNoneMatch: '*' }), 'ECONFLICT');
      expect(text(await fs.read('/f'))).toBe('first');
    });

    test(harness, 'two concurrent writes with the same ifMatch: exactly one wins', async ({ fs }) => {
      const base = await fs.write('/f', 'base');
      const results = await Promise.allSettled([
        fs.write('/f', 'left', { ifMatch: base.version }),
        fs.write('/f', 'right', { ifMatch: base.version }),
      ]);
      const fulfilled = results.filter((result) => result.status === 'fulfilled');
      const rejected = results.filter((result) => result.status === 'rejected');
      expect(fulfilled).toHaveLength(1);
      expect(rejected).toHaveLength(1);
      await expectError(Promise.reject(rejected[0]!.reason), 'ECONFLICT');
      const winner = results[0]!.status === 'fulfilled' ? 'left' : 'right';
      expect(text(await fs.read('/f'))).toBe(winner);
      expect((await fs.stat('/f')).version).toBe((fulfilled[0] as PromiseFulfilledResult<FileMetadata>).value.version);
    });

    test(harness, 'ten concurrent creations with ifNoneMatch: exactly one wins', async ({ fs }) => {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, index) => fs.write('/once', `writer ${index}`, { ifNoneMatch: '*' })),
      );
      const winners = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
      expect(winners).toHaveLength(1);
      for (const result of results) {
        if (result.status === 'rejected') await expectError(Promise.reject(result.reason), 'ECONFLICT');
      }
      expect(text(await fs.read('/once'))).toBe(`writer ${winners[0]}`);
    });

    test(harness, 'concurrent writes without preconditions all succeed', async ({ fs }) => {
      const paths = Array.from({ length: 20 }, (_, index) => `/shared/parent/file-${index}`);
      await Promise.all(paths.map((path) => fs.write(path, path)));
      await Promise.all([fs.write('/same', 'a'), fs.write('/same', 'b'), fs.write('/same', 'c')]);
      for (const path of paths) expect(text(await fs.read(path))).toBe(path);
      expect(['a', 'b', 'c']).toContain(text(await fs.read('/same')));
      expect((await fs.stat('/shared/parent')).type).toBe('DIR');
    });
  });
}
