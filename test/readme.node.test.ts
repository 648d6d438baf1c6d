import { readFile } from 'node:fs/promises';
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
});
