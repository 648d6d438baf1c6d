import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalObjectStore, NodeStorageFile } from '../../drivers/node-fs/index.ts';
import { runNexusFSSuite } from '../../test/conformance/nexus-fs-suite.ts';
import { embeddedSuiteContext } from '../../test/embedded-nexus-fs.ts';
import { openKvStore } from '../kv/index.ts';
import { NexusFS } from './nexus-fs.ts';

/**
 * The persistent local driver set (the KV engine on a file, blobs on local disk): the file-API
 * suite, and a zone that survives closing and reopening everything.
 */
const directories: string[] = [];

async function freshDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'nexusfs-persistent-'));
  directories.push(directory);
  return directory;
}

afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

// Relaxed commits: the suite is about file-API semantics, and 1,000 fdatasyncs for one of its trees
// would only measure the disk. Durability is the crash tests' subject, and the zone below reopens
// from durable commits.
runNexusFSSuite('embedded NexusFS on the KV engine on a file (relaxed commits), with LocalObjectStore blobs', async () => {
  const directory = await freshDirectory();
  let stores = 0;
  return embeddedSuiteContext(
    async () => new LocalObjectStore({ directory: join(directory, `objects-${stores++}`) }),
    async () => openKvStore(await NodeStorageFile.open(join(directory, 'metastore.kv')), { durability: 'relaxed' }),
  );
});

describe('a persistent zone', () => {
  it('keeps its tree, content, revision and change log across closing and reopening every store', async () => {
    const directory = await freshDirectory();
    const open = async () => {
      const metastore = await openKvStore(await NodeStorageFile.open(join(directory, 'metastore.kv')));
      const objectStore = new LocalObjectStore({ directory: join(directory, 'objects') });
      const nexusFS = new NexusFS({ metastore });
      await nexusFS.mount('/', objectStore);
      return { nexusFS, close: async () => (await nexusFS.close(), await objectStore.close(), await metastore.close()) };
    };
    const first = await open();
    await first.nexusFS.write('/notes/a.md', '# a\n');
    await first.nexusFS.write('/notes/b.md', '# b\n');
    await first.nexusFS.rename('/notes', '/kept');
    const revision = await first.nexusFS.revision();
    await first.close();

    const second = await open();
    try {
      expect(await second.nexusFS.revision()).toBe(revision);
      expect(new TextDecoder().decode(await second.nexusFS.read('/kept/b.md'))).toBe('# b\n');
      expect((await second.nexusFS.list('/kept')).entries.map((entry) => entry.path)).toEqual(['/kept/a.md', '/kept/b.md']);
      const replayed: string[] = [];
      for await (const event of second.nexusFS.watch('/', { since: 0 })) {
        replayed.push(`${event.type} ${event.path}`);
        if (event.revision === revision) break;
      }
      expect(replayed).toEqual(['mkdir /notes', 'write /notes/a.md', 'write /notes/b.md', 'rename /kept']);
    } finally {
      await second.close();
    }
  });
});
