import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_EXECUTABLE } from '../test/zone/process/nexus-process.ts';
import { bundleHeader, CLI_BUNDLE, freshBundle, inputsDigest } from './cli-bundle.js';

/**
 * The CLI bundle and its freshness check: the test run's own bundle (built by the globalSetup) is
 * fresh and made of the sources and the dependencies; a bundle runs only while each file it came
 * from has the bytes it had, and bin/nexus.js's runNexusCli otherwise runs the sources.
 */

let directory: string;
let bundle: URL;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'nexus-cli-bundle-'));
  bundle = pathToFileURL(join(directory, 'out', 'bundle.mjs'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** A bundle in `directory/out` made of `directory/input.ts` as it is now, which prints `text`. */
async function writeBundle(text: string): Promise<void> {
  const input = { path: '../input.ts', bytes: await readFile(join(directory, 'input.ts')) };
  await mkdir(join(directory, 'out'), { recursive: true });
  await writeFile(bundle, bundleHeader({ inputs: [input.path], sha256: inputsDigest([input]) }) + `console.log(${JSON.stringify(text)});\n`);
}

function manifestOf(text: string): { inputs: string[]; sha256: string } {
  return JSON.parse(text.slice(text.indexOf('{'), text.indexOf('\n'))) as { inputs: string[]; sha256: string };
}

describe('CLI bundle', () => {
  it('the test run built a fresh bundle of the sources and their dependencies', async () => {
    expect(freshBundle(CLI_BUNDLE)?.href).toBe(CLI_BUNDLE.href);
    const { inputs } = manifestOf(await readFile(CLI_BUNDLE, 'utf8'));
    for (const path of ['../../../runtimes/node/cli/main.ts', '../../../kernel/fs/nexus-fs.ts', '../../../package.json', '../../commander/lib/command.js']) {
      expect(inputs, path).toContain(path);
    }
  });

  it('is fresh while every input has the bytes it was bundled from, whatever their times', async () => {
    await writeFile(join(directory, 'input.ts'), 'export const a = 1;\n');
    await writeBundle('bundled');
    expect(freshBundle(bundle)?.href).toBe(bundle.href);

    await writeFile(join(directory, 'input.ts'), 'export const a = 2;\n');
    expect(freshBundle(bundle), 'an input changed').toBeUndefined();
    await writeFile(join(directory, 'input.ts'), 'export const a = 1;\n');
    expect(freshBundle(bundle)?.href, 'the same bytes again, written later').toBe(bundle.href);

    await rm(join(directory, 'input.ts'));
    expect(freshBundle(bundle), 'an input is gone').toBeUndefined();
  });

  it('is not run without a header that names its inputs, or when it does not exist', async () => {
    await writeFile(join(directory, 'input.ts'), 'export const a = 1;\n');
    await writeBundle('bundled');
    const text = await readFile(bundle, 'utf8');
    await writeFile(bundle, text.slice(text.indexOf('\n') + 1));
    expect(freshBundle(bundle), 'no header').toBeUndefined();
    await writeFile(bundle, text.replace('"inputs":[', '"inputs":[1,'));
    expect(freshBundle(bundle), 'a header that is not a manifest').toBeUndefined();
    await writeFile(bundle, text.replace(/"sha256":"[0-9a-f]+"/, '"sha256":"0"'));
    expect(freshBundle(bundle), 'another digest').toBeUndefined();
    expect(freshBundle(pathToFileURL(join(directory, 'no-such-bundle.mjs')))).toBeUndefined();
  });

  it('runNexusCli runs a fresh bundle, and the TypeScript sources through tsx once it is stale', async () => {
    await writeFile(join(directory, 'input.ts'), 'export const a = 1;\n');
    await writeBundle('from the bundle');
    const script = join(directory, 'run-nexus.mjs');
    const entry = new URL('./cli-bundle.js', import.meta.url).href;
    await writeFile(script, `import { runNexusCli } from ${JSON.stringify(entry)};\nawait runNexusCli(new URL(${JSON.stringify(bundle.href)}));\n`);
    const run = async () => (await promisify(execFile)(NODE_EXECUTABLE, [script, '--help'])).stdout;

    expect(await run()).toBe('from the bundle\n');
    await writeFile(join(directory, 'input.ts'), 'export const a = 2;\n');
    expect(await run()).toMatch(/^Usage: nexus \[options\] \[command\]\n/);
  }, 60_000);
});
