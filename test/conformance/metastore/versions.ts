import { expect, it } from 'vitest';
import { utf8 } from '../test-bytes.ts';
import { type MetastoreSuiteContext, putOperation, textKeys } from './context.ts';

export function describeVersions(context: MetastoreSuiteContext): void {
  it('hands out positive integer versions that increase strictly with every commit', async () => {
    const store = context.store();
    const versions = [
      await store.put(utf8('a'), utf8('1')),
      await store.put(utf8('a'), utf8('2')),
      await store.delete(utf8('a')),
      await store.delete(utf8('a')),
      await store.batch([putOperation(utf8('b'), utf8('1'))]),
      await store.batch([]),
      await store.batch([], [{ key: utf8('c'), version: null }]),
      await store.put(utf8('c'), utf8('1')),
    ];
    for (const version of versions) expect(Number.isSafeInteger(version) && version > 0).toBe(true);
    for (let index = 1; index < versions.length; index++) expect(versions[index]!).toBeGreaterThan(versions[index - 1]!);
  });

  it('gives each key the version of the commit that last wrote it', async () => {
    const store = context.store();
    const first = await store.put(utf8('a'), utf8('1'));
    const batched = await store.batch([putOperation(utf8('b'), utf8('1')), putOperation(utf8('c'), utf8('1'))]);
    const last = await store.put(utf8('a'), utf8('2'));
    expect(last).toBeGreaterThan(first);
    const [a, b, c] = await store.getMany(textKeys(['a', 'b', 'c']));
    expect([a!.version, b!.version, c!.version]).toEqual([last, batched, batched]);
    const scanned = (await store.scan({})).entries.map((entry) => entry.version);
    expect(scanned).toEqual([last, batched, batched]);
  });

  it('keeps the version of a key that later commits do not touch', async () => {
    const store = context.store();
    const written = await store.put(utf8('still'), utf8('v'));
    await store.put(utf8('other'), utf8('v'));
    await store.delete(utf8('another'));
    expect((await store.get(utf8('still')))!.version).toBe(written);
  });

  it('gives a key deleted and written again a new, larger version', async () => {
    const store = context.store();
    const first = await store.put(utf8('k'), utf8('1'));
    await store.delete(utf8('k'));
    const again = await store.put(utf8('k'), utf8('1'));
    expect(again).toBeGreaterThan(first);
    expect((await store.get(utf8('k')))!.version).toBe(again);
  });
}
