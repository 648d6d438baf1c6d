import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, it } from 'vitest';

/**
 * The HTTP API and its clients run unchanged in Node, Deno, Workers and browsers, so their source
 * (tests and `testing/` aside) imports no Node built-in, no runtime adapter (@hono/node-server) and
 * nothing from another runtime's folder, and touches no runtime-only global. Parsed with the
 * TypeScript compiler, so comments and strings cannot cause false hits.
 */

const FOLDER = fileURLToPath(new URL('.', import.meta.url));
const FORBIDDEN_GLOBALS = new Set(['Deno', 'process', 'Bun', 'Buffer', 'require', 'window', 'document', '__dirname', '__filename', 'global']);
const FORBIDDEN_PACKAGES = ['@hono/node-server', 'ws'];

function violationsOf(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const at = (node: ts.Node): string => `${file}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      const specifier = node.moduleSpecifier.text;
      if (specifier.startsWith('node:')) found.push(`${at(node)} imports ${specifier}`);
      if (FORBIDDEN_PACKAGES.some((name) => specifier === name || specifier.startsWith(`${name}/`))) found.push(`${at(node)} imports ${specifier}`);
      if (/^\.\.\/(node|deno|workers|browser)\//.test(specifier) || specifier.includes('/drivers/node-fs')) found.push(`${at(node)} imports ${specifier}`);
    }
    if (ts.isIdentifier(node) && FORBIDDEN_GLOBALS.has(node.text)) {
      const parent = node.parent;
      const isPropertyName = (ts.isPropertyAccessExpression(parent) && parent.name === node) || (ts.isPropertyAssignment(parent) && parent.name === node);
      if (!isPropertyName) found.push(`${at(node)} uses the global ${node.text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

it('the HTTP API and its clients import no runtime built-in or adapter and touch no runtime global', async () => {
  const files = (await readdir(FOLDER)).filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts')).sort();
  expect(files).toContain('http-api.ts');
  expect(files).toContain('remote-nexus-fs.ts');
  const violations: string[] = [];
  for (const file of files) violations.push(...violationsOf(file, await readFile(`${FOLDER}/${file}`, 'utf8')));
  expect(violations).toEqual([]);
});

it('the check finds what it looks for', () => {
  const planted = "import { readFile } from 'node:fs/promises';\nimport { serve } from '@hono/node-server';\nconst home = process.env.HOME;\nconst { x } = { process: 1 } as never;";
  expect(violationsOf('planted.ts', planted)).toEqual(['planted.ts:1 imports node:fs/promises', 'planted.ts:2 imports @hono/node-server', 'planted.ts:3 uses the global process']);
});
