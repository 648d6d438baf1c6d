import { readdir, readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The kernel is pure TypeScript over web standards (DESIGN.md §1): it never imports a Node
 * built-in, a driver or a runtime, and never touches a runtime's globals. This test parses every
 * kernel source file with the TypeScript compiler, so comments and strings cannot cause false
 * hits, and a local variable that happens to be called `process` is not a global.
 */

/** Node's built-in modules, as bare specifiers; `node:`-prefixed ones are caught by prefix. */
const NODE_BUILTIN_MODULES = new Set([
  'assert', 'async_hooks', 'buffer', 'child_process', 'cluster', 'console', 'constants', 'crypto',
  'dgram', 'diagnostics_channel', 'dns', 'domain', 'events', 'fs', 'http', 'http2', 'https',
  'inspector', 'module', 'net', 'os', 'path', 'perf_hooks', 'process', 'punycode', 'querystring',
  'readline', 'repl', 'stream', 'string_decoder', 'sys', 'timers', 'tls', 'trace_events', 'tty',
  'url', 'util', 'v8', 'vm', 'wasi', 'worker_threads', 'zlib',
]);

/** Globals that exist in some runtimes only. Reaching one makes the kernel runtime-specific. */
const FORBIDDEN_GLOBALS = new Set([
  'Deno', 'process', 'Bun', 'require', 'window', 'document', 'navigator', 'localStorage',
  'sessionStorage', 'indexedDB', 'Buffer', '__dirname', '__filename', 'global', 'caches',
  'importScripts', 'self',
]);

/** Objects through which a global can be reached as a property: `globalThis.process`. */
const GLOBAL_OBJECTS = new Set(['globalThis', 'self', 'window', 'global']);

/** Top-level folders the kernel must never import from (dependencies point inward). */
const FORBIDDEN_FOLDERS = ['drivers', 'runtimes'];

/** Bounds the walk of kernel/, so a symlink loop cannot hang the test. */
const KERNEL_DEPTH_MAX = 16;

export interface PurityViolation {
  /** Path relative to the repository root, `/`-separated. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  message: string;
}

/**
 * Checks one kernel source file. `file` is its path relative to the repository root (e.g.
 * `kernel/fs/nexus-fs.ts`); relative imports are resolved against it to find imports that reach
 * into drivers/ or runtimes/.
 */
export function findPurityViolations(file: string, sourceText: string): PurityViolation[] {
  const violations: PurityViolation[] = [];
  const sourceFile = ts.createSourceFile(file, sourceText, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const checker = createChecker(sourceFile);

  const report = (node: ts.Node, message: string): void => {
    const start = node.getStart(sourceFile);
    const { line, character } = sourceFile.getLineAndCharacterOfPosition(start);
    violations.push({ file, line: line + 1, column: character + 1, message });
  };

  const checkSpecifier = (node: ts.Node, specifier: string): void => {
    const problem = forbiddenImportReason(file, specifier);
    if (problem !== undefined) report(node, problem);
  };

  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      checkSpecifier(node.moduleSpecifier, node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const expression = node.moduleReference.expression;
      if (ts.isStringLiteralLike(expression)) checkSpecifier(expression, expression.text);
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument) && ts.isStringLiteral(argument.literal)) {
        checkSpecifier(argument.literal, argument.literal.text);
      }
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument !== undefined && ts.isStringLiteralLike(argument)) {
        checkSpecifier(argument, argument.text);
      } else {
        report(node, 'dynamic import() with a computed specifier: the kernel imports only what it names');
      }
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require') {
      // `require('fs')`: the callee is reported as a global below, the module here.
      const [argument] = node.arguments;
      if (argument !== undefined && ts.isStringLiteralLike(argument)) checkSpecifier(argument, argument.text);
    } else if (ts.isIdentifier(node) && FORBIDDEN_GLOBALS.has(node.text) && isGlobalReference(node, checker)) {
      report(node, `uses the runtime global '${node.text}'`);
    } else if (ts.isPropertyAccessExpression(node) && isGlobalObject(node.expression, checker)) {
      if (FORBIDDEN_GLOBALS.has(node.name.text)) report(node, `uses the runtime global '${node.name.text}'`);
    } else if (
      ts.isElementAccessExpression(node) &&
      isGlobalObject(node.expression, checker) &&
      ts.isStringLiteralLike(node.argumentExpression) &&
      FORBIDDEN_GLOBALS.has(node.argumentExpression.text)
    ) {
      report(node, `uses the runtime global '${node.argumentExpression.text}'`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return violations;
}

function forbiddenImportReason(file: string, specifier: string): string | undefined {
  if (specifier.startsWith('node:')) return `imports the Node built-in '${specifier}'`;
  const firstSegment = specifier.split('/')[0] ?? specifier;
  if (NODE_BUILTIN_MODULES.has(firstSegment)) return `imports the Node built-in '${specifier}'`;
  if (specifier.startsWith('.') || specifier.startsWith('/')) {
    const resolved = posix.normalize(specifier.startsWith('/') ? specifier : posix.join(posix.dirname(file), specifier));
    const topFolder = resolved.replace(/^\/+/, '').split('/')[0];
    if (topFolder !== undefined && FORBIDDEN_FOLDERS.includes(topFolder)) {
      return `imports '${specifier}', which is under ${topFolder}/: the kernel never depends on ${topFolder}`;
    }
  }
  for (const folder of FORBIDDEN_FOLDERS) {
    if (specifier.startsWith(`nexusfs/${folder}`)) {
      return `imports '${specifier}', which is under ${folder}/: the kernel never depends on ${folder}`;
    }
  }
  return undefined;
}

/**
 * A checker over this one file alone, with no lib and no imports resolved: any identifier that
 * does not resolve to a declaration inside the file is a global (or comes from outside).
 */
function createChecker(sourceFile: ts.SourceFile): ts.TypeChecker {
  const options: ts.CompilerOptions = { noLib: true, noResolve: true, types: [], target: ts.ScriptTarget.Latest };
  const host: ts.CompilerHost = {
    getSourceFile: (name) => (name === sourceFile.fileName ? sourceFile : undefined),
    getDefaultLibFileName: () => 'lib.d.ts',
    writeFile: () => {},
    getCurrentDirectory: () => '/',
    getCanonicalFileName: (name) => name,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => '\n',
    fileExists: (name) => name === sourceFile.fileName,
    readFile: () => undefined,
  };
  return ts.createProgram([sourceFile.fileName], options, host).getTypeChecker();
}

/** True when `identifier` is a reference (not a declaration or property name) to a global. */
function isGlobalReference(identifier: ts.Identifier, checker: ts.TypeChecker): boolean {
  const parent = identifier.parent;
  // Names that are not references: `a.process`, `{ process: 1 }`, `class { process() {} }`,
  // `import { process } from`, `{ process } = ...` (as a binding name), labels, and so on.
  if (ts.isPropertyAccessExpression(parent) && parent.name === identifier) return false;
  if (ts.isQualifiedName(parent) && parent.right === identifier) return false;
  if (
    (ts.isPropertyAssignment(parent) ||
      ts.isPropertyDeclaration(parent) ||
      ts.isPropertySignature(parent) ||
      ts.isMethodDeclaration(parent) ||
      ts.isMethodSignature(parent) ||
      ts.isGetAccessorDeclaration(parent) ||
      ts.isSetAccessorDeclaration(parent) ||
      ts.isEnumMember(parent)) &&
    parent.name === identifier
  ) {
    return false;
  }
  if (ts.isBindingElement(parent) && parent.propertyName === identifier) return false;
  if ((ts.isImportSpecifier(parent) || ts.isExportSpecifier(parent)) && parent.propertyName === identifier) return false;
  if (ts.isLabeledStatement(parent) || ts.isBreakOrContinueStatement(parent)) return false;
  if (ts.isJsxAttribute(parent)) return false;
  const symbol = ts.isShorthandPropertyAssignment(parent)
    ? checker.getShorthandAssignmentValueSymbol(parent)
    : checker.getSymbolAtLocation(identifier);
  if (symbol === undefined) return true;
  const declarations = symbol.declarations ?? [];
  return declarations.length === 0 || declarations.every((declaration) => declaration.getSourceFile() !== identifier.getSourceFile());
}

function isGlobalObject(expression: ts.Expression, checker: ts.TypeChecker): boolean {
  return ts.isIdentifier(expression) && GLOBAL_OBJECTS.has(expression.text) && isGlobalReference(expression, checker);
}

export function formatViolation(violation: PurityViolation): string {
  return `${violation.file}:${violation.line}:${violation.column} ${violation.message}`;
}

const REPOSITORY_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Kernel source files (not tests), relative to the repository root, `/`-separated, sorted. */
async function listKernelSourceFiles(): Promise<string[]> {
  const files: string[] = [];
  const walk = async (folder: string, depth: number): Promise<void> => {
    if (depth > KERNEL_DEPTH_MAX) throw new Error(`kernel/ is nested deeper than ${KERNEL_DEPTH_MAX} at ${folder}`);
    const entries = await readdir(posix.join(REPOSITORY_ROOT, folder), { withFileTypes: true });
    for (const entry of entries) {
      const path = posix.join(folder, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') await walk(path, depth + 1);
      } else if (/\.(m|c)?tsx?$/.test(entry.name) && !/\.test\.(m|c)?tsx?$/.test(entry.name)) {
        files.push(path);
      }
    }
  };
  await walk('kernel', 0);
  return files.sort();
}

describe('kernel purity', () => {
  it('kernel/ imports no Node built-in, driver or runtime, and touches no runtime global', async () => {
    const files = await listKernelSourceFiles();
    // Guards against a walk that silently finds nothing (wrong root, renamed folder).
    expect(files).toContain('kernel/errors.ts');
    const violations: string[] = [];
    for (const file of files) {
      const sourceText = await readFile(posix.join(REPOSITORY_ROOT, file), 'utf8');
      violations.push(...findPurityViolations(file, sourceText).map(formatViolation));
    }
    expect(violations, 'the kernel must stay pure (DESIGN.md §1); move runtime code to drivers/ or runtimes/').toEqual([]);
  });

  it('the checker reports each kind of forbidden thing (self-test)', () => {
    const badSource = [
      "import { readFile } from 'node:fs/promises';", // 1
      "import path from 'path';", // 2
      "import { createHash } from 'crypto';", // 3
      "export { pipeline } from 'stream/promises';", // 4
      "import { MemoryMetastore } from '../../drivers/memory/index.ts';", // 5
      "import type { NodeRuntime } from '../../runtimes/node/index.ts';", // 6
      "const fs = require('fs');", // 7
      'const home = Deno.env.get("HOME");', // 8
      'const cwd = process.cwd();', // 9
      'const isBun = typeof Bun !== "undefined";', // 10
      'const title = window.document.title;', // 11
      'const agent = navigator.userAgent;', // 12
      'localStorage.setItem("a", "b"); sessionStorage.clear();', // 13
      'const request = indexedDB.open("x");', // 14
      'const bytes = Buffer.from("x");', // 15
      'const here = __dirname;', // 16
      'const cache = caches.default;', // 17
      'importScripts("x.js");', // 18
      'const viaGlobal = globalThis.process;', // 19
      'const viaIndex = globalThis["Deno"];', // 20
      "const lazy = await import('node:os');", // 21
      "import * as drivers from 'nexusfs/drivers/memory';", // 22
      'const doc = document.body;', // 23
      'const wrapped = { process };', // 24
      'let scratch: Buffer | undefined;', // 25
    ].join('\n');
    const found = findPurityViolations('kernel/fs/bad.ts', badSource).map(formatViolation);
    const expected: Array<[number, string]> = [
      [1, "Node built-in 'node:fs/promises'"],
      [2, "Node built-in 'path'"],
      [3, "Node built-in 'crypto'"],
      [4, "Node built-in 'stream/promises'"],
      [5, 'under drivers/'],
      [6, 'under runtimes/'],
      [7, "runtime global 'require'"],
      [7, "Node built-in 'fs'"],
      [8, "runtime global 'Deno'"],
      [9, "runtime global 'process'"],
      [10, "runtime global 'Bun'"],
      [11, "runtime global 'window'"],
      [12, "runtime global 'navigator'"],
      [13, "runtime global 'localStorage'"],
      [13, "runtime global 'sessionStorage'"],
      [14, "runtime global 'indexedDB'"],
      [15, "runtime global 'Buffer'"],
      [16, "runtime global '__dirname'"],
      [17, "runtime global 'caches'"],
      [18, "runtime global 'importScripts'"],
      [19, "runtime global 'process'"],
      [20, "runtime global 'Deno'"],
      [21, "Node built-in 'node:os'"],
      [22, 'under drivers/'],
      [23, "runtime global 'document'"],
      [24, "runtime global 'process'"],
      [25, "runtime global 'Buffer'"],
    ];
    for (const [line, text] of expected) {
      const hit = found.some((message) => message.startsWith(`kernel/fs/bad.ts:${line}:`) && message.includes(text));
      expect(hit, `line ${line} should be reported for ${text}; reported:\n${found.join('\n')}`).toBe(true);
    }
  });

  it('the checker ignores comments, strings, property names and local bindings', () => {
    const cleanSource = [
      '// process.cwd() and Deno.env in a comment are fine',
      "/* import fs from 'node:fs'; */",
      "const message = 'require(\"fs\") and window.document in a string are fine';",
      'const template = `Buffer ${message} navigator`;',
      'const options = { process: 1, document: 2, caches: 3 };',
      'const value = options.process + options.document;',
      'class Job { process(): void {} window = 1; }',
      'function handle(navigator: string, document: number): string { return navigator + document; }',
      'const { process: renamed } = options;',
      "import { Metastore } from '../contracts/metastore.ts';",
      "import { sha256 } from '@noble/hashes/sha2.js';",
      "export { NotFoundError } from './errors.ts';",
      'interface Runtime { Deno: string; Buffer: Uint8Array }',
      'type Local = { self: number };',
      'const self = 1; const doubled = self * 2;',
      'enum Stage { process, window }',
      'const process = 1; const wrapped = { process };',
    ].join('\n');
    const found = findPurityViolations('kernel/fs/clean.ts', cleanSource).map(formatViolation);
    expect(found).toEqual([]);
  });
});
