import { describe, expect, it } from 'vitest';
import { compareBytes, hasPrefix } from '../contracts/bytes.ts';
import { afterSubtreeKey, descendantsPrefix, entryKey, pathOfEntryKey } from './layout.ts';

/**
 * The entry key as the layout documents it, 'E' then (0x00 name)* with each name encoded on its
 * own: the reference that the one-pass encoding must match byte for byte (stored zones hold these
 * keys, so a different encoding would lose their entries).
 */
function documentedEntryKey(path: string): Uint8Array {
  const names = path === '/' ? [] : path.slice(1).split('/');
  const bytes = [0x45];
  for (const name of names) bytes.push(0x00, ...new TextEncoder().encode(name));
  return Uint8Array.from(bytes);
}

const PATHS = ['/', '/a', '/a/b', '/a/b/c', '/a/z', '/a-b', '/a.b', '/b', '/é', '/é/日本語/😀.md', '/naïve/ünïcode', '/z/a b/c'];

describe('the entry key layout', () => {
  it('encodes each path as documented, and decodes it back', () => {
    for (const path of PATHS) {
      expect(entryKey(path), path).toEqual(documentedEntryKey(path));
      expect(pathOfEntryKey(entryKey(path))).toBe(path);
    }
  });

  it('orders keys as a depth-first walk with names sorted, each subtree contiguous', () => {
    const sorted = PATHS.map(entryKey).sort(compareBytes).map(pathOfEntryKey);
    expect(sorted).toEqual(['/', '/a', '/a/b', '/a/b/c', '/a/z', '/a-b', '/a.b', '/b', '/naïve/ünïcode', '/z/a b/c', '/é', '/é/日本語/😀.md']);
    for (const path of PATHS) {
      const prefix = descendantsPrefix(path);
      const end = afterSubtreeKey(path);
      for (const other of PATHS) {
        const key = entryKey(other);
        const below = other !== path && (path === '/' || other.startsWith(`${path}/`));
        expect(hasPrefix(key, prefix), `${other} below ${path}`).toBe(below);
        const inSubtree = compareBytes(key, entryKey(path)) >= 0 && compareBytes(key, end) < 0;
        expect(inSubtree, `${other} in the subtree of ${path}`).toBe(other === path || below);
      }
    }
  });

  it('rejects a key that is not a file entry as corruption', () => {
    expect(() => pathOfEntryKey(new TextEncoder().encode('Srev'))).toThrow(expect.objectContaining({ code: 'ECORRUPT' }));
  });
});
