import { describe, expect, it } from 'vitest';
import { MemoryMetastore, MemoryObjectStore, MemoryStorageFile } from '../../drivers/memory/index.ts';
import { bytesEqual } from '../contracts/bytes.ts';
import type { Metastore } from '../contracts/metastore.ts';
import { ConflictError } from '../errors.ts';
import { openKvStore } from '../kv/index.ts';
import { REVISION_KEY } from './layout.ts';
import { NexusFS } from './nexus-fs.ts';

/** What a NexusFS asked of its Metastore: revision reads, and batches that lost on a precondition. */
interface Traffic {
  revisionReads: number;
  conflictedBatches: number;
}

/** The same store, counting; every call goes through to it unchanged. */
function counted(metastore: Metastore, traffic: Traffic): Metastore {
  return new Proxy(metastore, {
    get(target, property) {
      const member = Reflect.get(target, property, target) as unknown;
      if (typeof member !== 'function') return member;
      if (property === 'get') {
        return async (key: Uint8Array) => {
          if (bytesEqual(key, REVISION_KEY)) traffic.revisionReads++;
          return target.get(key);
        };
      }
      if (property === 'batch') {
        return async (...parameters: Parameters<Metastore['batch']>) => {
          try {
            return await target.batch(...parameters);
          } catch (error) {
            if (error instanceof ConflictError) traffic.conflictedBatches++;
            throw error;
          }
        };
      }
      return (member as (...parameters: unknown[]) => unknown).bind(target);
    },
  });
}

const METASTORES: [string, () => Promise<Metastore>][] = [
  ['MemoryMetastore', async () => new MemoryMetastore()],
  ['the KV engine', () => openKvStore(new MemoryStorageFile())],
];

describe.each(METASTORES)('mutations of one NexusFS on %s', (_name, createMetastore) => {
  it('begin from the revision its last commit left, without reading it or losing a race to itself', async () => {
    const metastore = await createMetastore();
    const traffic: Traffic = { revisionReads: 0, conflictedBatches: 0 };
    const nexusFS = new NexusFS({ metastore: counted(metastore, traffic) });
    await nexusFS.mount('/', new MemoryObjectStore());
    await nexusFS.write('/first.txt', 'first');
    const revisionAfterFirst = await nexusFS.revision();
    const afterFirst = { ...traffic };
    for (let index = 0; index < 10; index++) await nexusFS.write(`/dir/file-${index}.txt`, `file ${index}`);
    await nexusFS.delete('/first.txt');
    expect(traffic).toEqual(afterFirst);
    expect(traffic.conflictedBatches).toBe(0);
    expect(await nexusFS.revision()).toBe(revisionAfterFirst + 11);
    await nexusFS.close();
    await metastore.close();
  });
});

