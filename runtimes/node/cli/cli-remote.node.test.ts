import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cleanedUpAfterAll } from '../../../test/zone/process/cleaned-up-after-all.ts';
import { runCli, runInProcess, signal, startCli, type RunningCli } from './cli-process.ts';

/**
 * The same commands against a real `nexus serve` child process, through RemoteNexusFS and
 * RemoteApiKeys: the output and the errors are those of a local data dir, plus the server's own
 * (a wrong or revoked key, an agent key on admin routes, an unreachable server).
 */

let root: string;
let server: RunningCli;
let url: string;
let adminKey: string;
const { processes: running, directories } = cleanedUpAfterAll();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'nexus-cli-remote-'));
  directories.push(root);
  server = startCli(['serve', '--data', join(root, 'served'), '--port', '0', '--json']);
  running.push(server);
  const started = JSON.parse((await server.waitForOutput(/^\{.*\}\n/))[0]) as { url: string; adminKey: string };
  url = started.url;
  adminKey = started.adminKey;
}, 60_000);

/** A command on the server with the admin key, in this process. */
function remote(args: readonly string[], options: { stdin?: string; token?: string } = {}) {
  return runInProcess([...args, '--remote', url, '--token', options.token ?? adminKey], { stdin: options.stdin });
}

describe('nexus commands against a nexus server', () => {
  it('writes, reads, lists, finds and edits through the HTTP API, in child processes and with NEXUS_URL/NEXUS_TOKEN', async () => {
    const environment = { NEXUS_URL: url, NEXUS_TOKEN: adminKey };
    const bytes = new Uint8Array(300_000).map((_, index) => (index * 7919) % 256);
    expect(await runCli(['write', '/remote/data.bin', '-'], { stdin: bytes, environment })).toMatchObject({ exit: 0, stdout: 'wrote /remote/data.bin (293.0 KiB, version 1)\n' });
    const cat = await runCli(['cat', '/remote/data.bin'], { environment });
    expect(cat.exit).toBe(0);
    expect(cat.stdoutBytes).toEqual(bytes);

    expect((await remote(['write', '/remote/notes.md'], { stdin: 'one\nTwo\n' })).exit).toBe(0);
    expect((await remote(['ls', '/remote'])).stdout).toBe('data.bin\nnotes.md\n');
    expect((await remote(['grep', 'two', '/remote', '-i'])).stdout).toBe('/remote/notes.md:2:Two\n');
    expect((await remote(['glob', '**/*.md'])).stdout).toBe('/remote/notes.md\n');
    expect((await remote(['edit', '/remote/notes.md', '--search', 'one', '--replace', 'ONE'])).stdout).toMatch(/^edited \/remote\/notes\.md: 1 replacement, version \d+\n$/);
    expect((await remote(['cp', '/remote/notes.md', '/copy.md'])).stdout).toBe('copied /remote/notes.md to /copy.md\n');
    expect((await remote(['mv', '/copy.md', '/moved.md'])).exit).toBe(0);
    expect((await remote(['cat', '/moved.md'])).stdout).toBe('ONE\nTwo\n');
    expect(JSON.parse((await remote(['stat', '/moved.md', '--json'])).stdout)).toMatchObject({ path: '/moved.md', type: 'REG', sizeBytes: 8 });
    expect((await remote(['mkdir', '-p', '/a/b'])).exit).toBe(0);
    expect((await remote(['rm', '-r', '/a', '/moved.md'])).exit).toBe(0);
  }, 120_000);

  it('gives the kernel\'s errors with their codes, as a local data dir does', async () => {
    const cases: [string[], string][] = [
      [['cat', '/missing'], 'ENOENT'],
      [['cat', '/remote'], 'EISDIR'],
      [['cat', 'relative'], 'EINVAL'],
      [['rm', '/remote'], 'ENOTEMPTY'],
      [['mkdir', '/remote'], 'EEXIST'],
      [['ls', '/__sys__'], 'EACCES'],
    ];
    for (const [args, code] of cases) {
      const result = await remote(args);
      expect(result.exit, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toMatch(new RegExp(`^nexus: ${code} \\S`));
    }
  }, 60_000);

  it('refuses a wrong key with a clear EAUTH message, and an agent key on the key routes with EACCES', async () => {
    const wrong = await runCli(['ls', '--remote', url, '--token', 'nxk_wrong']);
    expect(wrong.exit).toBe(1);
    expect(wrong.stderr).toMatch(/^nexus: EAUTH \S.*\n$/);
    const wrongJson = await remote(['ls', '--json'], { token: 'nxk_wrong' });
    expect(JSON.parse(wrongJson.stderr)).toMatchObject({ error: { code: 'EAUTH' } });

    const agent = JSON.parse((await remote(['keys', 'create', '--name', 'agent-1', '--json'])).stdout) as { info: { id: string }; key: string };
    expect((await remote(['write', '/agent.txt'], { stdin: 'by agent', token: agent.key })).exit).toBe(0);
    const agentKeys = await remote(['keys', 'list'], { token: agent.key });
    expect(agentKeys.exit).toBe(1);
    expect(agentKeys.stderr).toMatch(/^nexus: EACCES /);

    const list = await remote(['keys', 'list']);
    expect(list.stdout).toMatch(new RegExp(`^${agent.info.id}\\s+agent-1\\s+agent\\s+\\S+Z\\s+-$`, 'm'));
    expect((await remote(['keys', 'revoke', agent.info.id])).stdout).toBe(`revoked agent key agent-1 (${agent.info.id})\n`);
    const revoked = await remote(['cat', '/agent.txt'], { token: agent.key });
    expect(revoked.exit).toBe(1);
    expect(revoked.stderr).toMatch(/^nexus: EAUTH /);
  }, 60_000);

  it('says EBUSY for --data on the dir the server holds, and names an unreachable server', async () => {
    const busy = await runCli(['ls', '--data', join(root, 'served')]);
    expect(busy.exit).toBe(1);
    expect(busy.stderr).toMatch(/^nexus: EBUSY \S/);
    const unreachable = await runInProcess(['ls', '--remote', 'http://127.0.0.1:9', '--token', 'x']);
    expect(unreachable.exit).toBe(1);
    expect(unreachable.stderr).toMatch(/^nexus: ECONNREFUSED cannot reach the nexus server at http:\/\/127\.0\.0\.1:9: /);
  }, 60_000);

  it('watches changes live until SIGINT', async () => {
    await remote(['write', '/watched/first.txt'], { stdin: '1' });
    const watch = startCli(['watch', '/watched', '--since', '0', '--remote', url, '--token', adminKey]);
    running.push(watch);
    await watch.waitForOutput(/write +\/watched\/first\.txt\n/);
    await remote(['write', '/watched/second.txt'], { stdin: '2' });
    await remote(['write', '/elsewhere.txt'], { stdin: '3' });
    await remote(['rm', '/watched/first.txt']);
    await watch.waitForOutput(/delete +\/watched\/first\.txt\n/);
    signal(watch, 'SIGINT');
    expect((await watch.finished).exit).toBe(0);
    const types = watch.stdout().trim().split('\n').map((line) => line.split(/ {2,}/).slice(2).join(' '));
    expect(types).toEqual(['mkdir /watched', 'write /watched/first.txt', 'write /watched/second.txt', 'delete /watched/first.txt']);
  }, 60_000);

  it('imports and exports a tree through the server byte for byte', async () => {
    const source = join(root, 'source');
    await mkdir(join(source, 'nested', 'deeper'), { recursive: true });
    const files: Record<string, Uint8Array> = {
      'top.txt': new TextEncoder().encode('top\n'),
      'nested/deeper/large.bin': new Uint8Array(2 * 1024 * 1024 + 3).map((_, index) => (index * 31) % 251),
      'nested/empty': new Uint8Array(0),
    };
    for (const [path, bytes] of Object.entries(files)) await writeFile(join(source, path), bytes);
    const imported = await remote(['import', source, '/tree', '--json']);
    expect(imported.stderr).toBe('');
    expect(JSON.parse(imported.stdout)).toMatchObject({ files: 3, directories: 2 });
    const target = join(root, 'exported');
    expect((await remote(['export', '/tree', target])).exit).toBe(0);
    for (const [path, bytes] of Object.entries(files)) expect(new Uint8Array(await readFile(join(target, path))), path).toEqual(bytes);
  }, 60_000);
});
