import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cleanedUpAfterAll } from '../../../test/zone/process/cleaned-up-after-all.ts';
import { startCli } from './cli-process.ts';

/**
 * README's "Server, CLI and HTTP API" tour, run as written against a real `nexus serve`: the
 * server is the one `npm start` runs, on a temporary data dir and a free port, and the tour's first
 * line (the URL and the key `npm start` printed) gets that server's URL and admin key.
 */

const REPOSITORY = fileURLToPath(new URL('../../..', import.meta.url));
const SECTION_TITLE = '## Server, CLI and HTTP API';
const EXPORT_LINE = /^export NEXUS_URL=\S+ NEXUS_TOKEN=\S+\n/;

const { processes, directories } = cleanedUpAfterAll();

async function tourBlocks(): Promise<{ start: string; tour: string }> {
  const readme = await readFile(join(REPOSITORY, 'README.md'), 'utf8');
  const start = readme.indexOf(SECTION_TITLE);
  expect(start, 'README has the section').toBeGreaterThan(-1);
  const end = readme.indexOf('\n## ', start + SECTION_TITLE.length);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!);
  expect(blocks).toHaveLength(2);
  return { start: blocks[0]!, tour: blocks[1]! };
}

describe('README: Server, CLI and HTTP API', () => {
  it('npm start runs nexus serve, which prints what the README shows', async () => {
    const { start } = await tourBlocks();
    const packageJson = JSON.parse(await readFile(join(REPOSITORY, 'package.json'), 'utf8')) as { scripts: { start: string } };
    expect(start.split('\n')[0]).toBe('npm start');
    expect(packageJson.scripts.start).toMatch(/bin\/nexus\.js serve$/);
    const directory = await mkdtemp(join(tmpdir(), 'nexus-readme-start-'));
    directories.push(directory);
    const server = startCli(['serve', '--data', directory, '--port', '0']);
    processes.push(server);
    await server.waitForOutput(/admin key .*\n/);
    // The README's comment lines with the dir, port and key made patterns.
    const shown = start.split('\n').filter((line) => line.startsWith('# ')).map((line) => line.slice(2));
    const printed = server.stdout().trim().split('\n');
    expect(printed).toHaveLength(shown.length);
    shown.forEach((line, index) => {
      const pattern = escape(line).replace(escape('/path/to/nexus-data'), '/\\S+').replace(escape('127.0.0.1:7070'), '127\\.0\\.0\\.1:\\d+').replace(escape('nxk_...'), 'nxk_\\S+');
      expect(printed[index]).toMatch(new RegExp(`^${pattern}$`));
    });
  }, 60_000);

  it('runs the tour against a real server', async () => {
    const { tour } = await tourBlocks();
    expect(tour).toMatch(EXPORT_LINE);
    const directory = await mkdtemp(join(tmpdir(), 'nexus-readme-tour-'));
    directories.push(directory);
    const server = startCli(['serve', '--data', directory, '--port', '0', '--json']);
    processes.push(server);
    const { url, adminKey } = JSON.parse((await server.waitForOutput(/^\{.*\}\n/))[0]) as { url: string; adminKey: string };
    const script = tour.replace(EXPORT_LINE, `export NEXUS_URL=${url} NEXUS_TOKEN=${adminKey}\n`);
    const { stdout } = await promisify(execFile)('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: REPOSITORY });

    expect(stdout).toContain('wrote /notes/todo.md (22 B, version');
    expect(stdout).toMatch(/^edited \/notes\/todo\.md: 1 replacement, version \d+$/m);
    expect(stdout).toContain('- [x] ship the server\n');
    expect(stdout).toMatch(/^-\s+22\s+\d+\s+\S+Z\s+todo\.md$/m);
    expect(stdout).toContain('"line": "- [x] ship the server"');
    expect(stdout).toMatch(/"path":"\/notes\/hello\.txt","type":"REG","sizeBytes":15/);
    expect(stdout).toContain('hello from curl');
    expect(stdout).toMatch(/"path":"\/notes\/todo\.md"/);
    expect(stdout).toMatch(/\{"error":\{"code":"EACCES"/);
  }, 180_000);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
