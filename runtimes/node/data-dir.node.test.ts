import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { AccessDeniedError, BusyError, InvalidArgumentError, NotDirectoryError } from '../../kernel/errors.ts';
import { NODE_EXECUTABLE } from '../../test/zone/process/nexus-process.ts';
import { openDataDir } from './data-dir.ts';

const directories: string[] = [];

afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'nexus-data-dir-'));
  directories.push(directory);
  return directory;
}

const DATA_DIR_MODULE = fileURLToPath(new URL('./data-dir.ts', import.meta.url));

/**
 * Another process that opens `dir`, writes `/from-child.txt`, prints `ready` and waits to be
 * killed: a real second opener, and a real holder to `kill -9`.
 */
function spawnHolder(dir: string) {
  const script = `
    const { openDataDir } = await import(${JSON.stringify(DATA_DIR_MODULE)});
    const dataDir = await openDataDir({ dir: ${JSON.stringify(dir)} });
    await dataDir.fs.write('/from-child.txt', 'written by the child');
    console.log('ready');
    setInterval(() => {}, 1000);`;
  const child = spawn(NODE_EXECUTABLE, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      if (chunk.includes('ready')) resolve();
    });
    void exited.then(() => reject(new Error(`the holder exited before it was ready:\n${stderr}`)));
  });
  return { child, ready, exited };
}

describe('openDataDir', () => {
  it('keeps files and API keys across close and reopen, in the documented layout', async () => {
    const dir = join(await temporaryDirectory(), 'nested', 'data');
    const first = await openDataDir({ dir });
    await first.fs.write('/notes/a.md', 'hello');
    const admin = await first.apiKeys.create({ name: 'admin', admin: true });
    await first.close();

    expect((await readdir(dir)).sort()).toEqual(
      expect.arrayContaining(['blobs', 'metastore.kv', 'metastore.kv-log', 'records.sqlite']),
    );
    expect(existsSync(join(dir, 'lock')), 'close() releases the lock').toBe(false);

    const second = await openDataDir({ dir });
    try {
      expect(new TextDecoder().decode(await second.fs.read('/notes/a.md'))).toBe('hello');
      expect(await second.apiKeys.authenticate(admin.key)).toEqual(admin.info);
      expect(await second.apiKeys.list()).toEqual([admin.info]);
    } finally {
      await second.close();
    }
  });

  it('refuses a second opener in the same process with EBUSY, and lets one in after close', async () => {
    const dir = await temporaryDirectory();
    const first = await openDataDir({ dir });
    await expect(openDataDir({ dir })).rejects.toBeInstanceOf(BusyError);
    await first.close();
    await first.close(); // a second close is harmless
    const again = await openDataDir({ dir });
    await again.close();
  });

  it('refuses a second opener while another process has the dir, saying to use --remote', async () => {
    const dir = await temporaryDirectory();
    const holder = spawnHolder(dir);
    try {
      await holder.ready;
      const refusal = await openDataDir({ dir }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refusal).toBeInstanceOf(BusyError);
      expect((refusal as Error).message).toContain(`process ${holder.child.pid}`);
      expect((refusal as Error).message).toContain('--remote');
    } finally {
      holder.child.kill('SIGKILL');
      await holder.exited;
    }
  });

  it('opens a dir whose holder was killed with SIGKILL, with what the holder wrote', async () => {
    const dir = await temporaryDirectory();
    const holder = spawnHolder(dir);
    await holder.ready;
    holder.child.kill('SIGKILL');
    await holder.exited;
    expect(existsSync(join(dir, 'lock')), 'the killed holder left its lock behind').toBe(true);
    const dataDir = await openDataDir({ dir });
    try {
      expect(new TextDecoder().decode(await dataDir.fs.read('/from-child.txt'))).toBe('written by the child');
    } finally {
      await dataDir.close();
    }
  });

  it('refuses a path under a file with ENOTDIR, and an empty path with EINVAL', async () => {
    const file = join(await temporaryDirectory(), 'a-file');
    await writeFile(file, 'x');
    await expect(openDataDir({ dir: join(file, 'data') })).rejects.toBeInstanceOf(NotDirectoryError);
    await expect(openDataDir({ dir: file })).rejects.toBeInstanceOf(NotDirectoryError);
    await expect(openDataDir({ dir: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  // sysfs refuses new directories even to root, so this holds whoever runs the tests; it is Linux only.
  it.skipIf(!existsSync('/sys/kernel'))('refuses a dir it cannot create with EACCES (Linux sysfs)', async () => {
    await expect(openDataDir({ dir: '/sys/nexus-data' })).rejects.toBeInstanceOf(AccessDeniedError);
    await expect(openDataDir({ dir: '/sys/nexus-data' })).rejects.toThrow(/not writable/);
  });
});
