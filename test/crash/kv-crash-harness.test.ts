import { describe, expect, it } from 'vitest';
import type { StorageFile } from '../../kernel/contracts/storage-file.ts';
import { type KvStore, openKvStore } from '../../kernel/kv/index.ts';
import { utf8 } from '../conformance/test-bytes.ts';
import { crashEveryPoint } from './kv-crash-run.ts';
import type { CommitSpec, Workload } from './kv-workload.ts';

/**
 * The crash test's own test: a checker that passes everything proves nothing, so each case here
 * breaks the engine or what it recovers in one way, and the checker must name it.
 */

function durablePut(key: number, seed: number): CommitSpec {
  return { kind: 'commit', operations: [{ type: 'put', key, value: { sizeBytes: 20, seed } }], preconditions: [], durability: 'durable', via: 'commit' };
}

/** Durable commits to a few keys, one per step, then more in one group. */
const WORKLOAD: Workload = {
  steps: [[durablePut(0, 1)], [durablePut(1, 2)], [durablePut(0, 3)], [durablePut(2, 4), durablePut(3, 5)], [durablePut(1, 6)]],
  cachePages: 64,
  closeAtEnd: false,
  imageSeed: 7,
};

/** The file as the engine sees it, except that sync does nothing: an engine that never syncs. */
function withoutSync(file: StorageFile): StorageFile {
  return {
    read: (offset, length) => file.read(offset, length),
    write: (offset, data) => file.write(offset, data),
    size: () => file.size(),
    truncate: (sizeBytes) => file.truncate(sizeBytes),
    sync: async () => {},
    close: () => file.close(),
  };
}

describe('the KV crash check', () => {
  it('passes the engine on this workload', async () => {
    expect(await crashEveryPoint(WORKLOAD)).toBeUndefined();
  });

  it('catches an engine that acknowledges durable commits without syncing', async () => {
    expect(await crashEveryPoint(WORKLOAD, { wrapFile: withoutSync })).toMatch(/durable acknowledgements require at least [1-9]/);
  });

  it('catches a recovered state that no prefix of the commits leaves (a half-visible or invented commit)', async () => {
    const reopen = async (file: StorageFile): Promise<KvStore> => {
      const store = await openKvStore(file);
      await store.put(utf8('pool/00'), utf8('phantom'));
      return store;
    };
    expect(await crashEveryPoint(WORKLOAD, { reopen })).toMatch(/no prefix of the commits leaves/);
  });

  it('catches a recovered store that cannot commit', async () => {
    const reopen = async (file: StorageFile): Promise<KvStore> => {
      const store = await openKvStore(file);
      return new Proxy(store, {
        get: (target, property) => {
          if (property === 'commit') return () => Promise.reject(new Error('refused'));
          const value: unknown = Reflect.get(target, property, target);
          // The store's methods use private fields, so they must run on the store, not the proxy.
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    };
    expect(await crashEveryPoint(WORKLOAD, { reopen })).toMatch(/the recovered store failed: Error: refused/);
  });
});
