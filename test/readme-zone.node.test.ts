import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from './zone/process/nexus-process.ts';

/**
 * README's three-node zone block, run as a user would paste it into bash. Only its data root
 * (`/tmp/nexus`) and its ports (7001-7003) are swapped for a fresh directory and free ports, so
 * the test can run beside others; every command is the README's own, so the block cannot drift
 * from what works (it once waited with `sleep 3`, too short on a loaded machine).
 */
describe('README: a three-node zone on one machine', () => {
  it('starts three nodes with the commands as written, and status shows three voters and a leader', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!).find((text) => text.includes('zone create'));
    expect(block, 'README has a sh block with `zone create`').toBeDefined();
    const root = await mkdtemp(join(tmpdir(), 'nexusfs-readme-zone-'));
    const ports = [await freePort(), await freePort(), await freePort()];
    let script = block!.replaceAll('/tmp/nexus', root);
    ports.forEach((port, index) => {
      script = script.replaceAll(`127.0.0.1:${7001 + index}`, `127.0.0.1:${port}`);
    });
    // The block leaves its three nodes running in the background, in bash's process group (a
    // script has no job control), so the whole group is stopped by its id afterwards.
    const shell = spawn('bash', ['-euc', script], { cwd: new URL('..', import.meta.url).pathname, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    shell.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Its `until` loops wait for as long as it takes: a block that never gets there is stopped here.
    const stopper = setTimeout(() => process.kill(-shell.pid!, 'SIGTERM'), 90_000);
    try {
      const code = await new Promise<number | null>((resolve) => shell.on('exit', resolve));
      clearTimeout(stopper);
      expect(code, `the block failed: ${stderr}`).toBe(0);
      const rows = stdout.split('\n').filter((line) => /^\d+\s/.test(line));
      expect(rows).toHaveLength(3);
      expect(rows.filter((row) => / voter/.test(row))).toHaveLength(3);
      expect(rows.filter((row) => row.includes('(leader)'))).toHaveLength(1);
      for (const port of ports) expect(stdout).toContain(`127.0.0.1:${port}`);
      expect(stdout).toMatch(/leader \d+, term \d+/);
    } finally {
      try {
        process.kill(-shell.pid!, 'SIGTERM');
      } catch {
        // The group is already gone.
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      await rm(root, { recursive: true, force: true });
    }
  }, 120_000);
});
