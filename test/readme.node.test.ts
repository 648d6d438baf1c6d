import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';

describe('README', () => {
  it('shows examples/quickstart.ts exactly as the file is', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const example = await readFile(new URL('../examples/quickstart.ts', import.meta.url), 'utf8');
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]);
    expect(blocks).toContain(example);
    expect(example.trim().split('\n').length).toBeLessThanOrEqual(12);
  });

  it('shows the two set-up commands', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
  });

  it('runs the quickstart as written and prints the edited file, the glob and the grep', async () => {
    const printed: unknown[][] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...values: unknown[]) => {
      printed.push(values);
    });
    try {
      await import('../examples/quickstart.ts');
    } finally {
      spy.mockRestore();
    }
    expect(printed[0]).toEqual(['- [x] ship the kernel\n- [ ] write the docs\n']);
    expect(printed[1]?.[0]).toEqual(['/notes/todo.md']);
    expect(printed[1]?.[1]).toMatchObject([{ path: '/notes/todo.md', lineNumber: 2, line: '- [ ] write the docs' }]);
  });

  it('shows examples/local-disk.ts exactly as the file is, and it keeps its data across runs', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const example = await readFile(new URL('../examples/local-disk.ts', import.meta.url), 'utf8');
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]);
    expect(blocks).toContain(example);
    const directory = await mkdtemp(join(tmpdir(), 'nexusfs-readme-'));
    try {
      const run = async () => {
        const { stdout } = await promisify(execFile)('node', ['--import', 'tsx', 'examples/local-disk.ts', directory], {
          cwd: new URL('..', import.meta.url).pathname,
        });
        return stdout.trim().split('\n');
      };
      expect(await run()).toHaveLength(1);
      const second = await run();
      expect(second).toHaveLength(2);
      expect(second[1]).toMatch(/^run at \d{4}-/);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }, 60_000);
});
