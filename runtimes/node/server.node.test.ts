import { existsSync } from 'node:fs';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanedUpAfterAll } from '../../test/zone/process/cleaned-up-after-all.ts';
import { eventually, spawnNexus, type NexusProcess } from '../../test/zone/process/nexus-process.ts';

/**
 * `nexus serve` as a user runs it: a real child process (bin/nexus.js) on a temporary data dir and
 * port 0, its JSON line read, files written and read over HTTP, stopped with SIGTERM (while an
 * upload is in flight too), restarted, and refused on bad configuration.
 */

/** Generous: without a fresh CLI bundle a server starts from the sources through tsx, slow on a loaded machine. */
const START_TIMEOUT_MS = 90_000;
const TEST_TIMEOUT_MS = 240_000;

const { processes, directories } = cleanedUpAfterAll();

async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'nexus-serve-'));
  directories.push(directory);
  return directory;
}

interface StartedLine {
  url: string;
  dataDir: string;
  adminKey?: string;
}

/** `nexus serve --json` on `dir`; resolves with the process and its one JSON line. */
async function serve(dir: string, extra: string[] = [], environment: Record<string, string> = {}): Promise<{ server: NexusProcess; started: StartedLine }> {
  const server = spawnNexus('nexus serve', ['serve', '--data', dir, '--port', '0', '--json', ...extra], { environment });
  processes.push(server);
  const line = (await server.waitForOutput(/^\{.*\}$/m, START_TIMEOUT_MS))[0];
  return { server, started: JSON.parse(line) as StartedLine };
}

/** A server in human mode, with the lines it prints. */
async function serveHuman(dir: string, extra: string[] = []): Promise<{ server: NexusProcess; url: string }> {
  const server = spawnNexus('nexus serve', ['serve', '--data', dir, '--port', '0', ...extra]);
  processes.push(server);
  const url = (await server.waitForOutput(/^nexus serving \S+ at (http:\/\/\S+)$/m, START_TIMEOUT_MS))[1]!;
  return { server, url };
}

async function stop(server: NexusProcess, signal: 'SIGTERM' | 'SIGINT' = 'SIGTERM'): Promise<number | string> {
  terminate(server, signal);
  return await server.exited;
}

/**
 * Signals by pid, not through `child.kill`: under Deno, a child killed through `child.kill`
 * reports that signal as its end even when it handled it and exited 0.
 */
function terminate(server: NexusProcess, signal: 'SIGTERM' | 'SIGINT' = 'SIGTERM'): void {
  process.kill(server.pid, signal);
}

function authorization(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

/** A command that runs to its end (a server that refuses to start). */
async function failedStart(args: string[], environment: Record<string, string> = {}): Promise<{ exit: number | string; stderr: string }> {
  const running = spawnNexus('nexus serve', ['serve', ...args], { environment });
  processes.push(running);
  const exit = await running.exited;
  return { exit, stderr: running.stderr() };
}

/**
 * A PUT whose body the test sends piece by piece: `send` writes a chunk, `finish` ends the body
 * and resolves with the response (status and text), or rejects when the connection breaks.
 */
function streamingPut(url: string, key: string): { send(chunk: string): void; finish(): Promise<{ status: number; text: string }>; request: ClientRequest } {
  const request = httpRequest(url, { method: 'PUT', headers: { ...authorization(key), 'transfer-encoding': 'chunked' } });
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    request.on('error', reject);
    request.on('response', (incoming: IncomingMessage) => {
      let text = '';
      incoming.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, text }));
      incoming.on('error', reject);
    });
  });
  response.catch(() => {}); // observed through finish()
  return { request, send: (chunk) => request.write(chunk), finish: () => (request.end(), response) };
}

/** Waits until the server is hashing an upload: LocalObjectStore stages it under blobs/tmp. */
async function uploadStaged(dir: string): Promise<void> {
  await eventually('the upload to reach the ObjectStore', async () => {
    const staging = join(dir, 'blobs', 'tmp');
    return existsSync(staging) && (await readdir(staging)).some((name) => name.endsWith('.partial')) ? true : undefined;
  }, START_TIMEOUT_MS);
}

describe('nexus serve', () => {
  it('serves files with the admin key it prints once, stops on SIGTERM and SIGINT, and keeps data and keys across a restart', async () => {
    const dir = join(await temporaryDirectory(), 'data');
    const { server, started } = await serve(dir);
    expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(started.dataDir).toBe(dir);
    expect(started.adminKey).toMatch(/^nxk_/);
    const adminKey = started.adminKey!;

    const put = await fetch(`${started.url}/api/v1/files/notes/todo.md`, { method: 'PUT', headers: authorization(adminKey), body: '- [ ] ship\n' });
    expect(put.status).toBe(200);
    const get = await fetch(`${started.url}/api/v1/files/notes/todo.md`, { headers: authorization(adminKey) });
    expect(await get.text()).toBe('- [ ] ship\n');
    const anonymous = await fetch(`${started.url}/api/v1/files/notes/todo.md`);
    expect(anonymous.status).toBe(401);
    const created = await fetch(`${started.url}/api/v1/keys`, {
      method: 'POST',
      headers: { ...authorization(adminKey), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'agent-1' }),
    });
    expect(created.status).toBe(201);
    const agentKey = ((await created.json()) as { key: string }).key;

    expect(await stop(server)).toBe(0);
    expect(existsSync(join(dir, 'lock')), 'a clean stop releases the data dir').toBe(false);

    // Restarted in human mode: it says where it serves, and prints no key this time.
    const restarted = await serveHuman(dir);
    const again = await fetch(`${restarted.url}/api/v1/files/notes/todo.md`, { headers: authorization(agentKey) });
    expect(again.status).toBe(200);
    expect(await again.text()).toBe('- [ ] ship\n');
    const keys = await fetch(`${restarted.url}/api/v1/keys`, { headers: authorization(adminKey) });
    expect(((await keys.json()) as { keys: { name: string }[] }).keys.map((key) => key.name)).toEqual(['admin', 'agent-1']);
    // Ctrl-C stops it as cleanly as SIGTERM.
    expect(await stop(restarted.server, 'SIGINT')).toBe(0);
    expect(restarted.server.stdout()).toMatch(/SIGINT: stopping;.*\nstopped\n$/);
    expect(restarted.server.stdout()).not.toContain('admin key');
    expect(restarted.server.stdout()).not.toContain(adminKey);
    expect(existsSync(join(dir, 'lock'))).toBe(false);
  }, TEST_TIMEOUT_MS);

  it('finishes an upload in flight on SIGTERM, refuses new connections meanwhile, and has the file after a restart', async () => {
    const dir = await temporaryDirectory();
    const { server, started } = await serve(dir);
    const adminKey = started.adminKey!;
    const upload = streamingPut(`${started.url}/api/v1/files/big.txt`, adminKey);
    const chunk = 'x'.repeat(64 * 1024);
    upload.send(chunk);
    await uploadStaged(dir);

    terminate(server);
    // With --json the server prints nothing on stopping: wait until it refuses new connections.
    await eventually('new connections to be refused', async () => {
      try {
        await fetch(`${started.url}/api/v1/files/big.txt`, { headers: authorization(adminKey) });
        return undefined;
      } catch {
        return true;
      }
    }, START_TIMEOUT_MS);
    for (let index = 0; index < 15; index += 1) upload.send(chunk);
    const answer = await upload.finish();
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toMatchObject({ path: '/big.txt', sizeBytes: 16 * chunk.length });
    expect(await server.exited).toBe(0);

    const { server: restarted, started: again } = await serve(dir);
    expect(again.adminKey).toBeUndefined();
    const read = await fetch(`${again.url}/api/v1/files/big.txt`, { headers: authorization(adminKey) });
    expect(await read.text()).toBe(chunk.repeat(16));
    expect(await stop(restarted)).toBe(0);
  }, TEST_TIMEOUT_MS);

  it('cuts an upload that outlasts the drain timeout, exits 0, and keeps no part of it', async () => {
    const dir = await temporaryDirectory();
    const { server, started } = await serve(dir, ['--drain-timeout-ms', '200']);
    const adminKey = started.adminKey!;
    const upload = streamingPut(`${started.url}/api/v1/files/stalled.txt`, adminKey);
    upload.send('the beginning of a body that never ends');
    await uploadStaged(dir);
    terminate(server);
    expect(await server.exited).toBe(0);
    await expect(upload.finish()).rejects.toThrow();

    const { server: restarted, started: again } = await serve(dir);
    const read = await fetch(`${again.url}/api/v1/files/stalled.txt`, { headers: authorization(adminKey) });
    expect(read.status).toBe(404);
    expect(await stop(restarted)).toBe(0);
  }, TEST_TIMEOUT_MS);

  it('cuts watch streams on SIGTERM instead of waiting for them, and exits 0', async () => {
    const dir = await temporaryDirectory();
    // A drain timeout far beyond the test's: the server only exits if it does not wait for the watch.
    const { server, started } = await serve(dir, ['--drain-timeout-ms', '3600000']);
    const watch = await fetch(`${started.url}/api/v1/watch/notes`, { headers: authorization(started.adminKey!) });
    expect(watch.status).toBe(200);
    const reader = watch.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^: watching "\/notes"/);
    expect(await stop(server)).toBe(0);
    const end = await reader.read().then(
      (result) => (result.done ? 'ended' : 'more data'),
      () => 'cut',
    );
    expect(end).not.toBe('more data');
  }, TEST_TIMEOUT_MS);

  it('starts again on a data dir whose server was killed with SIGKILL, with what it acknowledged', async () => {
    const dir = await temporaryDirectory();
    const { server, started } = await serve(dir);
    const adminKey = started.adminKey!;
    const put = await fetch(`${started.url}/api/v1/files/kept.txt`, { method: 'PUT', headers: authorization(adminKey), body: 'acknowledged' });
    expect(put.status).toBe(200);
    server.child.kill('SIGKILL');
    await server.exited;
    expect(existsSync(join(dir, 'lock')), 'the killed server left its lock').toBe(true);

    const { server: restarted, started: again } = await serve(dir);
    expect(again.adminKey).toBeUndefined();
    const read = await fetch(`${again.url}/api/v1/files/kept.txt`, { headers: authorization(adminKey) });
    expect(await read.text()).toBe('acknowledged');
    // While it runs, a second server on the same dir is refused, pointing to --remote.
    const second = await failedStart(['--data', dir, '--port', '0']);
    expect(second.exit).toBe(1);
    expect(second.stderr).toMatch(/^nexus: EBUSY cannot open data dir .*--remote/m);
    expect(await stop(restarted)).toBe(0);
  }, TEST_TIMEOUT_MS);

  it('takes its address and data dir from NEXUS_* variables, flags winning', async () => {
    const dir = await temporaryDirectory();
    const server = spawnNexus('nexus serve', ['serve', '--json', '--port', '0'], {
      environment: { NEXUS_DATA: dir, NEXUS_HOST: '127.0.0.1', NEXUS_PORT: '1', NEXUS_METASTORE: `local:${dir}` },
    });
    processes.push(server);
    const started = JSON.parse((await server.waitForOutput(/^\{.*\}$/m, START_TIMEOUT_MS))[0]) as StartedLine;
    expect(started.dataDir).toBe(dir);
    expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(started.url).not.toMatch(/:1$/);
    expect(await stop(server)).toBe(0);
  }, TEST_TIMEOUT_MS);

  it('exits 1 with a clear message on bad configuration', async () => {
    const root = await temporaryDirectory();
    const file = join(root, 'a-file');
    await writeFile(file, 'not a directory');
    const occupied = createServer();
    await new Promise<void>((resolve) => occupied.listen(0, '127.0.0.1', resolve));
    const occupiedPort = (occupied.address() as { port: number }).port;
    try {
      const cases: { args: string[]; environment?: Record<string, string>; message: RegExp }[] = [
        { args: ['--data', join(root, 'a')], environment: { NEXUS_METASTORE: 'nosuch://x' }, message: /^nexus: EINVAL NEXUS_METASTORE=nosuch:\/\/x: unknown store URL scheme/m },
        { args: ['--data', join(root, 'a')], environment: { NEXUS_OBJECT_STORE: 's3://bucket' }, message: /^nexus: EINVAL NEXUS_OBJECT_STORE=s3:\/\/bucket: the s3 driver is not available yet/m },
        { args: ['--data', join(root, 'a'), '--port', String(occupiedPort)], message: /^nexus: EBUSY cannot listen on 127\.0\.0\.1:\d+: the port is in use/m },
        { args: ['--data', join(file, 'data'), '--port', '0'], message: /^nexus: ENOTDIR cannot open data dir .*is a file/m },
        { args: ['--data', join(root, 'a'), '--port', '99999'], message: /^nexus: EINVAL --port "99999"/m },
      ];
      if (existsSync('/sys/kernel')) {
        // sysfs refuses new directories even to root: an unwritable data dir whoever runs the test.
        cases.push({ args: ['--data', '/sys/nexus-data', '--port', '0'], message: /^nexus: EACCES cannot open data dir \/sys\/nexus-data: it is not writable/m });
      }
      for (const { args, environment, message } of cases) {
        const result = await failedStart(args, environment);
        expect(result.exit, args.join(' ')).toBe(1);
        expect(result.stderr, args.join(' ')).toMatch(message);
        expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
      }
      // A port in use made no admin key that nobody would see: the next start prints one.
      const { server } = await serveHuman(join(root, 'a'));
      await server.waitForOutput(/^admin key \(shown once, keep it secret; pass it as --token or NEXUS_TOKEN\): nxk_[\w-]{43}$/m);
      expect(await stop(server)).toBe(0);
    } finally {
      occupied.close();
    }
  }, TEST_TIMEOUT_MS);
});
