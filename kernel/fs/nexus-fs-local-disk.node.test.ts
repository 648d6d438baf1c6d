import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { LocalObjectStore } from '../../drivers/node-fs/index.ts';
import { embeddedSuiteContext } from '../../test/embedded-nexus-fs.ts';
import { runNexusFSSuite } from '../../test/conformance/nexus-fs-suite.ts';

/** The file-API suite with blobs on local disk: the driver set `nexus serve` uses for content. */
const directories: string[] = [];

async function freshStore(): Promise<LocalObjectStore> {
  const directory = await mkdtemp(join(tmpdir(), 'nexusfs-kernel-local-'));
  directories.push(directory);
  return new LocalObjectStore({ directory });
}

afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

runNexusFSSuite('embedded NexusFS with LocalObjectStore blobs', () => embeddedSuiteContext(freshStore));
