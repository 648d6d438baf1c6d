import { describe, expect } from 'vitest';
import type { ChangeEvent } from '../../../kernel/fs/types.ts';
import { type SuiteHarness, EVENT_WAIT_MS, EventCollector, sleep, test, withTimeout } from './harness.ts';

/** Long enough for a watcher to start listening before the test mutates. */
const WATCH_SETTLE_MS = 50;

function summary(events: readonly ChangeEvent[]): (readonly [string, string, string | undefined])[] {
  return events.map((event) => [event.type, event.path, event.fromPath] as const);
}

/**
 * Events come in revision order, each once. One mutation may report several events under one
 * revision (a write that creates its parent directories), so revisions need not be distinct.
 */
function expectOrderedOnce(events: readonly ChangeEvent[]): void {
  const revisions = events.map((event) => event.revision);
  expect([...revisions].sort((left, right) => left - right)).toEqual(revisions);
  const keys = events.map((event) => `${event.revision} ${event.type} ${event.path} ${event.fromPath ?? ''}`);
  expect(new Set(keys).size, 'no event is delivered twice').toBe(keys.length);
}

export function describeWatch(harness: SuiteHarness): void {
  describe('watch', () => {
    test(harness, 'replays events after since, then delivers live ones', async ({ fs }) => {
      await fs.write('/before', 'not replayed');
      const since = await fs.revision();
      await fs.write('/one', '1');
      await fs.mkdir('/two');
      const watcher = new EventCollector(fs, '/', { since });
      try {
        const replayed = await watcher.take(2);
        expect(summary(replayed)).toEqual([
          ['write', '/one', undefined],
          ['mkdir', '/two', undefined],
        ]);
        await fs.write('/three', '3');
        const [live] = await watcher.take(1);
        expect(summary([live!])).toEqual([['write', '/three', undefined]]);
        const revisions = [...replayed, live!].map((event) => event.revision);
        expect(revisions[0]).toBeGreaterThan(since);
        for (let index = 1; index < revisions.length; index++) expect(revisions[index]).toBeGreaterThan(revisions[index - 1]!);
        expect(revisions.at(-1)).toBeLessThanOrEqual(await fs.revision());
      } finally {
        watcher.close();
      }
    });

    test(harness, 'event revisions are the zone revisions of the mutations', async ({ fs }) => {
      const watcher = new EventCollector(fs, '/', { since: 0 });
      try {
        await fs.write('/a', 'a');
        const afterFirst = await fs.revision();
        await fs.write('/b', 'b');
        const afterSecond = await fs.revision();
        const events = await watcher.take(2);
        expect(events.map((event) => event.revision)).toEqual([afterFirst, afterSecond]);
      } finally {
        watcher.close();
      }
    });

    test(harness, 'reports write, mkdir, rename and delete with their metadata', async ({ fs }) => {
      const since = await fs.revision();
      await fs.mkdir('/d');
      const written = await fs.write('/d/file', 'x');
      const renamed = await fs.rename('/d/file', '/d/moved');
      await fs.delete('/d/moved');
      const watcher = new EventCollector(fs, '/d', { since });
      try {
        const events = await watcher.take(4);
        expect(summary(events)).toEqual([
          ['mkdir', '/d', undefined],
          ['write', '/d/file', undefined],
          ['rename', '/d/moved', '/d/file'],
          ['delete', '/d/moved', undefined],
        ]);
        expect(events[0]!.metadata?.type).toBe('DIR');
        expect(events[1]!.metadata).toEqual(written);
        expect(events[2]!.metadata).toEqual(renamed);
        expect(events[3]!.metadata).toBeUndefined();
        for (const event of events) expect(Number.isFinite(event.timestampMs)).toBe(true);
      } finally {
        watcher.close();
      }
    });

    test(harness, 'sees the watched path and everything below it, not siblings sharing its prefix', async ({ fs }) => {
      await fs.mkdir('/a');
      const watcher = new EventCollector(fs, '/a', { since: await fs.revision() });
      try {
        await fs.write('/ab', 'sibling');
        await fs.write('/ab/../a-b', 'sibling');
        await fs.write('/b/a', 'elsewhere');
        await fs.write('/a/x/y', 'below');
        await fs.write('/a/z', 'below');
        const events = await watcher.until((event) => event.path === '/a/z');
        expect(events.map((event) => event.path).filter((path) => path !== '/a/x')).toEqual(['/a/x/y', '/a/z']);
      } finally {
        watcher.close();
      }
    });

    test(harness, 'replays only the events of the watched path and below', async ({ fs }) => {
      await fs.mkdir('/a');
      const since = await fs.revision();
      await fs.write('/ab', 'sibling');
      await fs.write('/a/x', 'below');
      await fs.write('/b/a', 'elsewhere');
      await fs.delete('/a/x');
      const watcher = new EventCollector(fs, '/a', { since });
      try {
        await fs.write('/a/marker', 'live');
        const events = await watcher.until((event) => event.path === '/a/marker');
        expect(summary(events)).toEqual([
          ['write', '/a/x', undefined],
          ['delete', '/a/x', undefined],
          ['write', '/a/marker', undefined],
        ]);
      } finally {
        watcher.close();
      }
    });

    test(harness, 'a watcher on a file sees its changes', async ({ fs }) => {
      await fs.write('/f', 'one');
      const watcher = new EventCollector(fs, '/f', { since: await fs.revision() });
      try {
        await fs.write('/f2', 'other');
        await fs.write('/f', 'two');
        await fs.delete('/f');
        expect(summary(await watcher.take(2))).toEqual([
          ['write', '/f', undefined],
          ['delete', '/f', undefined],
        ]);
      } finally {
        watcher.close();
      }
    });

    test(harness, 'a rename is seen by watchers of the old and of the new location', async ({ fs }) => {
      await fs.write('/old/file', 'x');
      await fs.mkdir('/new');
      const since = await fs.revision();
      const oldWatcher = new EventCollector(fs, '/old', { since });
      const newWatcher = new EventCollector(fs, '/new', { since });
      try {
        await fs.rename('/old/file', '/new/file');
        const [seenByOld] = await oldWatcher.take(1);
        const [seenByNew] = await newWatcher.take(1);
        for (const event of [seenByOld!, seenByNew!]) {
          expect(summary([event])).toEqual([['rename', '/new/file', '/old/file']]);
        }
        expect(seenByOld!.revision).toBe(seenByNew!.revision);
      } finally {
        oldWatcher.close();
        newWatcher.close();
      }
    });

    test(harness, 'without since, only changes from now on', async ({ fs }) => {
      await fs.write('/past', 'past');
      const watcher = new EventCollector(fs, '/');
      try {
        const first = watcher.next('for the first live event');
        await sleep(WATCH_SETTLE_MS);
        await fs.write('/future', 'future');
        expect(summary([await first])).toEqual([['write', '/future', undefined]]);
      } finally {
        watcher.close();
      }
    });

    test(harness, 'since 0 replays the whole log of a new zone', async ({ fs }) => {
      await fs.write('/a/b', 'x');
      await fs.delete('/a', { recursive: true });
      const watcher = new EventCollector(fs, '/', { since: 0 });
      try {
        await fs.write('/marker', 'm');
        const events = await watcher.until((event) => event.path === '/marker');
        expect(events.map((event) => event.path)).toContain('/a/b');
        expect(events.at(-1)!.type).toBe('write');
        expectOrderedOnce(events);
      } finally {
        watcher.close();
      }
    });

    test(harness, 'aborting the signal ends the iteration', async ({ fs }) => {
      const controller = new AbortController();
      const since = await fs.revision();
      const seen: ChangeEvent[] = [];
      let firstSeen = (): void => {};
      const first = new Promise<void>((resolve) => {
        firstSeen = resolve;
      });
      const loop = (async () => {
        for await (const event of fs.watch('/', { since, signal: controller.signal })) {
          seen.push(event);
          firstSeen();
        }
      })();
      await fs.write('/a', 'a');
      await withTimeout(first, EVENT_WAIT_MS, 'for the first event');
      controller.abort();
      await withTimeout(
        loop.catch(() => undefined), // ending by throwing an abort error is acceptable too
        EVENT_WAIT_MS,
        'for the for-await loop to end after abort',
      );
      await fs.write('/b', 'b');
      await sleep(WATCH_SETTLE_MS);
      expect(seen.map((event) => event.path)).toEqual(['/a']);
    });

    test(harness, 'a signal aborted before the iteration starts yields nothing', async ({ fs }) => {
      await fs.write('/a', 'a');
      const controller = new AbortController();
      controller.abort();
      const seen: ChangeEvent[] = [];
      const loop = (async () => {
        for await (const event of fs.watch('/', { since: 0, signal: controller.signal })) seen.push(event);
      })();
      await withTimeout(loop.catch(() => undefined), EVENT_WAIT_MS, 'for an already-aborted watch to end');
      expect(seen).toEqual([]);
    });

    test(harness, 'breaking out of for-await ends the watch cleanly', async ({ fs }) => {
      await fs.write('/a', 'a');
      await fs.write('/b', 'b');
      const seen: string[] = [];
      const loop = (async () => {
        for await (const event of fs.watch('/', { since: 0 })) {
          seen.push(event.path);
          if (seen.length === 1) break;
        }
      })();
      await withTimeout(loop, EVENT_WAIT_MS, 'for the for-await loop to end after break');
      expect(seen).toEqual(['/a']);
      // The file system still works and another watch still sees changes.
      const watcher = new EventCollector(fs, '/', { since: await fs.revision() });
      try {
        await fs.write('/c', 'c');
        expect(summary(await watcher.take(1))).toEqual([['write', '/c', undefined]]);
      } finally {
        watcher.close();
      }
    });

    test(harness, 'two watchers of the same path each see every event', async ({ fs }) => {
      const since = await fs.revision();
      const first = new EventCollector(fs, '/', { since });
      const second = new EventCollector(fs, '/', { since });
      try {
        await fs.write('/a', 'a');
        await fs.write('/b', 'b');
        expect(summary(await first.take(2))).toEqual(summary(await second.take(2)));
      } finally {
        first.close();
        second.close();
      }
    });

    test(harness, 'events that happen while the replay is read are delivered once, in order', async ({ fs }) => {
      const since = await fs.revision();
      for (let index = 0; index < 20; index++) await fs.write(`/early/${index}`, 'x');
      const watcher = new EventCollector(fs, '/', { since });
      try {
        const writes = (async () => {
          for (let index = 0; index < 20; index++) await fs.write(`/late/${index}`, 'x');
        })();
        const events = await watcher.until((event) => event.path === '/late/19');
        await writes;
        const fileEvents = events.filter((event) => event.type === 'write').map((event) => event.path);
        expect(fileEvents).toEqual([
          ...Array.from({ length: 20 }, (_, index) => `/early/${index}`),
          ...Array.from({ length: 20 }, (_, index) => `/late/${index}`),
        ]);
        expectOrderedOnce(events);
      } finally {
        watcher.close();
      }
    });
  });
}
