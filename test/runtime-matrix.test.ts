import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Kysely } from 'kysely';
import { minimatch } from 'minimatch';
import { describe, expect, inject, it } from 'vitest';

/**
 * Proves that each vitest project really runs in the runtime it is named after. The expected
 * runtime is provided by the project's configuration (`provide: { expectedRuntime }` in
 * vite.config.ts and vitest.deno.config.ts); the actual one is detected from globals. A project
 * that silently fell back to Node would fail here.
 */

export type RuntimeName = 'node' | 'deno' | 'workerd' | 'chromium';

declare module 'vitest' {
  export interface ProvidedContext {
    expectedRuntime: RuntimeName;
  }
}

interface RuntimeGlobals {
  Deno?: { version?: { deno?: string } };
  process?: { versions?: { node?: string } };
  navigator?: { userAgent?: string };
  document?: unknown;
}

/** Detects the runtime from its globals. Order matters: Deno and workerd also define `process`. */
export function detectRuntime(): RuntimeName | 'unknown' {
  const runtimeGlobals = globalThis as RuntimeGlobals;
  if (runtimeGlobals.Deno?.version?.deno !== undefined) return 'deno';
  if (runtimeGlobals.navigator?.userAgent === 'Cloudflare-Workers') return 'workerd';
  if (runtimeGlobals.document !== undefined && /Chrome\//.test(runtimeGlobals.navigator?.userAgent ?? '')) {
    return 'chromium';
  }
  if (runtimeGlobals.process?.versions?.node !== undefined) return 'node';
  return 'unknown';
}

describe('runtime matrix', () => {
  it('runs in the runtime its project is named after', () => {
    const expectedRuntime = inject('expectedRuntime');
    expect(['node', 'deno', 'workerd', 'chromium']).toContain(expectedRuntime);
    expect(detectRuntime()).toBe(expectedRuntime);
  });

  it('has WebCrypto SHA-256', async () => {
    const bytes = new TextEncoder().encode('abc');
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    const hex = Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
    expect(hex).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('has TextEncoder and TextDecoder for UTF-8', () => {
    const bytes = new TextEncoder().encode('héllo €');
    expect(Array.from(bytes.subarray(0, 3))).toEqual([0x68, 0xc3, 0xa9]);
    expect(new TextDecoder().decode(bytes)).toBe('héllo €');
  });

  it('resolves the npm packages the kernel depends on', () => {
    expect(bytesToHex(sha256(new TextEncoder().encode('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(minimatch('/notes/todo.md', '/notes/**/*.md')).toBe(true);
    expect(typeof Kysely).toBe('function');
  });
});
