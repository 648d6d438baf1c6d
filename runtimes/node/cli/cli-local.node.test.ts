import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { cleanedUpAfterAll } from '../../../test/zone/process/cleaned-up-after-all.ts';
import { runCli, runInProcess as run, signal, startCli } from './cli-process.ts';

/**
 * The file and key commands on a local data dir. What depends on the process itself (exit codes,
 * raw bytes on stdout, stdin, signals, the data dir lock across processes, a terminal) runs
 * `node bin/nexus.js ...` as a user does; the many checks of output and errors run the same program
 * in this process (`run`), since every child process costs seconds on a loaded machine.
 */

let root: string;
const { processes: running, directories } = cleanedUpAfterAll();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'nexus-cli-local-'));
  directories.push(root);
});

/** Bytes that are not UTF-8 and every byte value, so that any re-encoding shows. */
function binaryBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed;
  for (let index = 0; index < length; index += 1) {
    state = (state * 1_103_515_245 + 12_345) >>> 0;
    bytes[index] = state >>> 24;
  }
  return bytes;
}

/** Runs `action` with `variables` set in this process's environment (commander reads them there). */
async function withEnvironment<T>(variables: Record<string, string>, action: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]));
  Object.assign(process.env, variables);
  try {
    return await action();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

describe('nexus file commands on a data dir', () => {
  it('writes from stdin and from a file, reads back byte for byte, lists, stats, and keeps data across runs', async () => {
    const data = join(root, 'basic');
    const local = join(root, 'basic-input.bin');
    const bytes = binaryBytes(70_000, 7);
    await writeFile(local, bytes);

    const fromStdin = await runCli(['write', '/notes/todo.md', '--data', data], { stdin: '- [ ] ship\n- [ ] docs\n' });
    expect(fromStdin).toMatchObject({ exit: 0, stdout: 'wrote /notes/todo.md (22 B, version 1)\n', stderr: '' });
    const fromFile = await run(['write', '/blobs/data.bin', local, '--data', data, '--json']);
    expect(fromFile.exit).toBe(0);
    expect(parseJson(fromFile.stdout)).toMatchObject({ path: '/blobs/data.bin', type: 'REG', sizeBytes: bytes.length });

    const cat = await runCli(['cat', '/blobs/data.bin', '--data', data]);
    expect(cat.exit).toBe(0);
    expect(cat.stdoutBytes).toEqual(bytes);
    const range = await run(['cat', '/blobs/data.bin', '--offset', '10', '--length', '5', '--data', data]);
    expect(range.stdoutBytes).toEqual(bytes.subarray(10, 15));
    const catJson = await run(['cat', '/notes/todo.md', '--data', data, '--json']);
    expect(parseJson(catJson.stdout)).toEqual({ path: '/notes/todo.md', encoding: 'utf8', content: '- [ ] ship\n- [ ] docs\n' });
    const binaryJson = parseJson<{ encoding: string; content: string }>((await run(['cat', '/blobs/data.bin', '--length', '64', '--data', data, '--json'])).stdout);
    expect(binaryJson.encoding).toBe('base64');
    expect(new Uint8Array(Buffer.from(binaryJson.content, 'base64'))).toEqual(bytes.subarray(0, 64));

    expect((await run(['ls', '--data', data])).stdout).toBe('blobs/\nnotes/\n');
    expect((await run(['ls', '/', '-R', '--data', data])).stdout).toBe('blobs/\nblobs/data.bin\nnotes/\nnotes/todo.md\n');
    expect((await run(['ls', '/notes/todo.md', '--data', data])).stdout).toBe('todo.md\n');
    const long = (await run(['ls', '-l', '/notes', '--data', data])).stdout.split('\n');
    expect(long[0]).toMatch(/^TYPE\s+SIZE\s+VERSION\s+MODIFIED\s+NAME$/);
    expect(long[1]).toMatch(/^-\s+22\s+1\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+todo\.md$/);
    const listed = parseJson<{ path: string; type: string }[]>((await run(['ls', '-R', '/', '--data', data, '--json'])).stdout);
    expect(listed.map((entry) => [entry.path, entry.type])).toEqual([
      ['/blobs', 'DIR'],
      ['/blobs/data.bin', 'REG'],
      ['/notes', 'DIR'],
      ['/notes/todo.md', 'REG'],
    ]);

    const stat = await run(['stat', '/notes/todo.md', '--data', data]);
    expect(stat.stdout).toMatch(/^path: +\/notes\/todo\.md$/m);
    expect(stat.stdout).toMatch(/^type: +REG$/m);
    expect(stat.stdout).toMatch(/^size: +22 bytes$/m);
    expect(stat.stdout).toMatch(/^content id: +[0-9a-f]{64}$/m);
  }, 120_000);

  it('makes, moves, copies, finds, edits and removes, with the kernel\'s rules and errors', async () => {
    const data = join(root, 'tree');
    const write = (path: string, text: string) => run(['write', path, '--data', data], { stdin: text });
    await write('/docs/a.md', 'alpha\nBeta\n');
    await write('/docs/sub/b.txt', 'gamma beta\n');

    expect(await run(['mkdir', '/x/y/z', '-p', '--data', data])).toMatchObject({ exit: 0, stdout: '' });
    expect((await run(['mkdir', '/x/y/z', '-p', '--data', data])).exit).toBe(0);
    const mkdirMissingParent = await run(['mkdir', '/p/q', '--data', data]);
    expect(mkdirMissingParent.exit).toBe(1);
    expect(mkdirMissingParent.stderr).toMatch(/^nexus: ENOENT /);

    expect(await run(['mv', '/docs/a.md', '/docs/renamed.md', '--data', data])).toMatchObject({ exit: 0, stdout: 'moved /docs/a.md to /docs/renamed.md\n' });
    const copyDirectory = await run(['cp', '/docs', '/copy', '--data', data]);
    expect(copyDirectory.exit).toBe(1);
    expect(copyDirectory.stderr).toMatch(/^nexus: EISDIR /);
    expect((await run(['cp', '-r', '/docs', '/copy', '--data', data])).exit).toBe(0);
    expect((await run(['glob', '**/*.md', '--data', data])).stdout).toBe('/copy/renamed.md\n/docs/renamed.md\n');
    expect(parseJson((await run(['glob', '*.txt', '--path', '/docs/sub', '--data', data, '--json'])).stdout)).toEqual(['/docs/sub/b.txt']);

    expect((await run(['grep', 'beta', '/docs', '-i', '--data', data])).stdout).toBe('/docs/renamed.md:2:Beta\n/docs/sub/b.txt:1:gamma beta\n');
    expect((await run(['grep', 'beta', '/docs', '--data', data])).stdout).toBe('/docs/sub/b.txt:1:gamma beta\n');
    const grepJson = parseJson<unknown[]>((await run(['grep', 'alpha', '--data', data, '--json'])).stdout);
    expect(grepJson).toEqual([
      { path: '/copy/renamed.md', lineNumber: 1, line: 'alpha', before: [], after: [] },
      { path: '/docs/renamed.md', lineNumber: 1, line: 'alpha', before: [], after: [] },
    ]);

    const edited = await run(['edit', '/docs/renamed.md', '--search', 'alpha', '--replace', 'ALPHA', '--search', 'Beta', '--replace', 'BETA', '--data', data]);
    expect(edited).toMatchObject({ exit: 0, stdout: expect.stringMatching(/^edited \/docs\/renamed\.md: 2 replacements, version \d+\n$/) });
    expect((await run(['cat', '/docs/renamed.md', '--data', data])).stdout).toBe('ALPHA\nBETA\n');
    const noMatch = await run(['edit', '/docs/renamed.md', '--search', 'missing', '--replace', 'x', '--data', data]);
    expect(noMatch.exit).toBe(1);
    expect(noMatch.stderr).toMatch(/^nexus: EINVAL /);
    const stale = await run(['write', '/docs/renamed.md', '--if-match', '1', '--data', data], { stdin: 'late' });
    expect(stale.exit).toBe(1);
    expect(stale.stderr).toMatch(/^nexus: ECONFLICT /);

    const notEmpty = await run(['rm', '/docs', '--data', data]);
    expect(notEmpty.exit).toBe(1);
    expect(notEmpty.stderr).toMatch(/^nexus: ENOTEMPTY /);
    expect((await run(['rm', '/x/y/z', '--data', data])).exit).toBe(0);
    expect(parseJson((await run(['rm', '-r', '/docs', '/copy', '--data', data, '--json'])).stdout)).toEqual({ removed: ['/docs', '/copy'] });
    expect((await run(['ls', '-R', '--data', data])).stdout).toBe('x/\nx/y/\n');
  }, 120_000);

  it('reports errors with their codes, and usage errors with exit code 2', async () => {
    const data = join(root, 'errors');
    await run(['mkdir', '/dir', '--data', data]);
    const operating: [string[], string][] = [
      [['cat', '/missing'], 'ENOENT'],
      [['cat', '/dir'], 'EISDIR'],
      [['cat', 'relative/path'], 'EINVAL'],
      [['stat', '/a\u0001b'], 'EINVAL'],
      [['ls', '/__sys__'], 'EACCES'],
      [['write', '/dir'], 'EISDIR'],
      [['write', '/file', join(root, 'no-such-local-file')], 'ENOENT'],
      [['keys', 'revoke', 'nobody'], 'ENOENT'],
    ];
    const processResult = await runCli(['cat', '/missing', '--data', data]);
    expect(processResult).toMatchObject({ exit: 1, stdout: '', stderr: expect.stringMatching(/^nexus: ENOENT cannot read \/missing: .+\n$/) });
    for (const [args, code] of operating) {
      const result = await run([...args, '--data', data]);
      expect(result.exit, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toMatch(new RegExp(`^nexus: ${code} \\S`));
      const json = await run([...args, '--data', data, '--json']);
      expect(json.exit, args.join(' ')).toBe(1);
      expect(parseJson<{ error: { code: string; message: string } }>(json.stderr).error.code, args.join(' ')).toBe(code);
    }

    const usage: [string[], RegExp][] = [
      [['cat'], /missing required argument 'path'/],
      [['mv', '/a'], /missing required argument 'to'/],
      [['ls', '--no-such-option'], /unknown option '--no-such-option'/],
      [['nope'], /unknown command 'nope'/],
      [['edit', '/f', '--search', 'a'], /required option '--replace <text>' not specified/],
      [['edit', '/f', '--search', 'a', '--replace', 'b', '--search', 'c'], /2 --search but 1 --replace/],
      [['grep', 'x', '-C', 'many'], /expected a whole number of at least 0/],
      [['ls', '--data', data, '--remote', 'http://127.0.0.1:9'], /--data and --remote exclude each other/],
      [['ls', '--remote', 'http://127.0.0.1:9'], /--remote needs an API key/],
      [['ls', '--remote', '127.0.0.1:7070', '--token', 'x'], /--remote "127\.0\.0\.1:7070": expected a server URL such as http:\/\/127\.0\.0\.1:7070/],
      [['keys', 'create'], /required option '--name <name>' not specified/],
    ];
    for (const [args, message] of usage) {
      const result = await run(args);
      expect(result.exit, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stdout, args.join(' ')).toBe('');
    }
    const jsonUsage = await runCli(['cat', '--json']);
    expect(jsonUsage.exit).toBe(2);
    expect(parseJson(jsonUsage.stderr)).toEqual({ error: { code: 'EINVAL', message: "missing required argument 'path'" } });
  }, 180_000);

  it('takes the data dir from NEXUS_DATA or a local: store URL, and a --data flag over NEXUS_URL; refuses a store driver that does not exist yet', async () => {
    const data = join(root, 'environment');
    expect((await runCli(['write', '/e.txt'], { stdin: 'e', environment: { NEXUS_DATA: data } })).exit).toBe(0);
    const flagWins = await runCli(['cat', '/e.txt', '--data', data], { environment: { NEXUS_URL: 'http://127.0.0.1:9', NEXUS_TOKEN: 'x' } });
    expect(flagWins).toMatchObject({ exit: 0, stdout: 'e' });
    const both = await runCli(['cat', '/e.txt'], { environment: { NEXUS_DATA: data, NEXUS_URL: 'http://127.0.0.1:9' } });
    expect(both.exit).toBe(2);
    expect(both.stderr).toContain('both NEXUS_DATA and NEXUS_URL are set');

    // The store URLs of DESIGN.md section 5, as nexus serve reads them.
    const fromStoreUrl = await withEnvironment({ NEXUS_METASTORE: `local:${data}` }, () => run(['cat', '/e.txt']));
    expect(fromStoreUrl).toMatchObject({ exit: 0, stdout: 'e' });
    const unavailable = await withEnvironment({ NEXUS_OBJECT_STORE: 's3://bucket' }, () => run(['ls', '--json']));
    expect(unavailable.exit).toBe(1);
    expect(JSON.parse(unavailable.stderr)).toEqual({ error: { code: 'EINVAL', message: expect.stringContaining('the s3 driver is not available yet') } });
  }, 60_000);

  it('creates, lists and revokes API keys', async () => {
    const data = join(root, 'keys');
    const created = await run(['keys', 'create', '--name', 'agent-1', '--data', data]);
    expect(created.exit).toBe(0);
    expect(created.stdout).toMatch(/^created agent key agent-1 \(key_[0-9a-f]{32}\)\nnxk_[A-Za-z0-9_-]{43}\nshown once: keep it secret\n$/);
    const admin = parseJson<{ info: { id: string; admin: boolean }; key: string }>((await run(['keys', 'create', '--name', 'ops', '--admin', '--data', data, '--json'])).stdout);
    expect(admin.info.admin).toBe(true);
    const duplicate = await run(['keys', 'create', '--name', 'agent-1', '--data', data]);
    expect(duplicate.exit).toBe(1);
    expect(duplicate.stderr).toMatch(/^nexus: EEXIST /);
    const badName = await run(['keys', 'create', '--name', 'no spaces', '--data', data]);
    expect(badName.stderr).toMatch(/^nexus: EINVAL /);

    expect(await run(['keys', 'revoke', 'agent-1', '--data', data])).toMatchObject({ exit: 0, stdout: expect.stringMatching(/^revoked agent key agent-1 \(key_/) });
    const list = await run(['keys', 'list', '--data', data]);
    expect(list.stdout).toMatch(/^ID\s+NAME\s+ROLE\s+CREATED\s+REVOKED\n/);
    expect(list.stdout).toMatch(/^key_\S+\s+agent-1\s+agent\s+\S+Z\s+\S+Z$/m);
    expect(list.stdout).toMatch(new RegExp(`^${admin.info.id}\\s+ops\\s+admin\\s+\\S+Z\\s+-$`, 'm'));
    const listed = parseJson<{ name: string; revokedAtMs?: number }[]>((await run(['keys', 'list', '--data', data, '--json'])).stdout);
    expect(listed.map((info) => [info.name, info.revokedAtMs !== undefined])).toEqual([
      ['agent-1', true],
      ['ops', false],
    ]);
    expect(JSON.stringify(listed)).not.toContain(admin.key);
  }, 120_000);

  it('watch replays the change log, prints a line per event, and ends 0 on SIGINT; the dir it holds is EBUSY for others', async () => {
    const data = join(root, 'watch');
    await run(['write', '/w/one.txt', '--data', data], { stdin: '1' });
    await run(['mv', '/w/one.txt', '/w/two.txt', '--data', data]);
    const watch = startCli(['watch', '/w', '--since', '0', '--data', data]);
    running.push(watch);
    await watch.waitForOutput(/rename .*\n/);
    expect(watch.stdout()).toMatch(/^\d+ {2}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}write +\/w\/one\.txt\n/m);
    expect(watch.stdout()).toMatch(/ {2}rename +\/w\/two\.txt \(from \/w\/one\.txt\)\n/);

    const busy = await runCli(['ls', '--data', data]);
    expect(busy.exit).toBe(1);
    expect(busy.stderr).toMatch(/^nexus: EBUSY /);

    signal(watch, 'SIGINT');
    expect((await watch.finished).exit).toBe(0);

    const json = startCli(['watch', '/', '--since', '0', '--data', data, '--json']);
    running.push(json);
    await json.waitForOutput(/"rename".*\n/);
    signal(json, 'SIGTERM');
    expect((await json.finished).exit).toBe(0);
    const events = json.stdout().trim().split('\n').map((line) => parseJson<{ type: string; path: string; fromPath?: string }>(line));
    expect(events.map((event) => [event.type, event.path, event.fromPath])).toEqual([
      ['mkdir', '/w', undefined],
      ['write', '/w/one.txt', undefined],
      ['rename', '/w/two.txt', '/w/one.txt'],
    ]);
  }, 120_000);
});

describe('nexus import and export', () => {
  it('round-trips a tree byte for byte, streaming, with a JSON summary and no progress output off a terminal', async () => {
    const source = join(root, 'source');
    const files: Record<string, Uint8Array> = {
      'readme.md': new TextEncoder().encode('# hello\n'),
      'empty.txt': new Uint8Array(0),
      'deep/er/still/binary.bin': binaryBytes(1024 * 1024 + 17, 3),
      'deep/small.bin': binaryBytes(4097, 5),
      'unicode é 名前.txt': new TextEncoder().encode('ünïcödé\n'),
    };
    for (const [path, bytes] of Object.entries(files)) {
      await mkdir(join(source, path, '..'), { recursive: true });
      await writeFile(join(source, path), bytes);
    }
    await mkdir(join(source, 'empty-dir'));
    await symlink(join(source, 'readme.md'), join(source, 'link.md'));
    const data = join(root, 'transfer');

    const imported = await runCli(['import', source, '/imported', '--data', data, '--json']);
    expect(imported.stderr).toBe('');
    expect(imported.exit).toBe(0);
    const totalBytes = Object.values(files).reduce((sum, bytes) => sum + bytes.length, 0);
    expect(parseJson(imported.stdout)).toEqual({ from: source, to: '/imported', files: 5, directories: 4, bytes: totalBytes, skipped: ['link.md'] });

    const target = join(root, 'exported');
    const exported = await run(['export', '/imported', target, '--data', data]);
    expect(exported).toMatchObject({ exit: 0, stderr: '' });
    expect(exported.stdout).toBe(`exported 5 files (1.0 MiB) and 4 directories from /imported to ${target}\n`);
    for (const [path, bytes] of Object.entries(files)) expect(new Uint8Array(await readFile(join(target, path))), path).toEqual(bytes);
    expect(await readdir(join(target, 'empty-dir'))).toEqual([]);
    expect((await readdir(target)).sort()).toEqual(['deep', 'empty-dir', 'empty.txt', 'readme.md', 'unicode é 名前.txt']);

    // A reader that stops early (head) ends cat quietly with exit code 0, as it ends `cat`.
    const headOnly = await runShell(`node bin/nexus.js cat /imported/deep/er/still/binary.bin --data ${data} | head -c 10 | wc -c`);
    expect(headOnly).toEqual({ stdout: '10\n', stderr: '' });

    const single = join(root, 'single');
    expect((await run(['export', '/imported/deep/small.bin', single, '--data', data])).exit).toBe(0);
    expect(new Uint8Array(await readFile(join(single, 'small.bin')))).toEqual(files['deep/small.bin']);

    const notDirectory = await run(['import', join(source, 'readme.md'), '/x', '--data', data]);
    expect(notDirectory.exit).toBe(1);
    expect(notDirectory.stderr).toMatch(/^nexus: ENOTDIR cannot import .*readme\.md: not a local directory/);
    const missing = await run(['export', '/nothing', target, '--data', data]);
    expect(missing.stderr).toMatch(/^nexus: ENOENT /);
  }, 120_000);

  it('shows a progress bar on a terminal', async () => {
    const source = join(root, 'tty-source');
    await mkdir(source);
    await writeFile(join(source, 'a.bin'), binaryBytes(200_000, 9));
    const data = join(root, 'tty');
    // `script` gives the command a real pseudo-terminal as stdout and stderr.
    const command = `node bin/nexus.js import ${source} /t --data ${data}`;
    const result = await runScript(command);
    expect(result).toMatch(/import \[[^\]]+\] 100% \| 195\.3 KiB of 195\.3 KiB \| 1\/1 files/);
    expect(result).toContain('imported 1 files (195.3 KiB) and 0 directories');
  }, 60_000);
});

const REPOSITORY = fileURLToPath(new URL('../../..', import.meta.url));

/** Runs a command under a real pseudo-terminal (`script`), which is its stdout and stderr. */
async function runScript(command: string): Promise<string> {
  const { stdout } = await promisify(execFile)('script', ['-qec', command, '/dev/null'], { cwd: REPOSITORY });
  return stdout;
}

/** Runs a shell pipeline in the repository; every command of it must succeed (pipefail). */
async function runShell(command: string): Promise<{ stdout: string; stderr: string }> {
  const { stdout, stderr } = await promisify(execFile)('bash', ['-e', '-o', 'pipefail', '-c', command], { cwd: REPOSITORY });
  return { stdout, stderr };
}
