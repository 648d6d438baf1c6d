import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, expect, it } from 'vitest';
import { NODE_EXECUTABLE } from '../../test/zone/process/nexus-process.ts';
import { RemoteNexusFS } from './remote-nexus-fs.ts';
import { generatedStream } from './testing/generated-stream.ts';
import { buildLargeFileServer, largeFileServerArguments, type ServerReport } from './testing/large-file-server-child.ts';

/**
 * A large file streams through a real server process with bounded memory: RemoteNexusFS uploads
 * STREAM_TEST_BYTES as a streamed request body and downloads it again as a streamed response; the
 * bytes' SHA-256 round-trips (and is the file's content id), and the server's own peak RSS, sampled
 * in the server process, stays under SERVER_RSS_BYTES_MAX and grows by less than
 * SERVER_RSS_GROWTH_BYTES_MAX over what it held once listening. Node and Deno (the server child is
 * Node either way).
 *
 * 256 MiB by default: more than the RSS bound, so a server that buffered the body would fail, and
 * short enough for every CI run (the server hashes uploads with the kernel's pure-JS SHA-256). The
 * full 1 GiB: `NEXUS_STREAM_TEST_BYTES=1073741824 npx vitest run --project node <this file>`.
 *
 * What the growth is: not bytes in flight (a few 64 KiB chunks; the server reads a chunk when it
 * has written the last), but chunks already dead: node:http copies each body segment into a fresh
 * ArrayBuffer, V8 lets up to 32 MiB of them die before a minor GC frees them, and the allocator
 * keeps the pages. So it varies with GC timing (21-52 MiB over 40 rounds of bench:stream-memory);
 * the server child therefore runs with a 1 MiB young generation (testing/large-file-server-child.ts),
 * which took it to 18-24 MiB.
 * The log line shows the V8 heap, external and ArrayBuffer bytes at the peak.
 */

const STREAM_TEST_BYTES = Number(process.env.NEXUS_STREAM_TEST_BYTES ?? 256 * 1024 * 1024);
const SERVER_RSS_BYTES_MAX = 200_000_000;
const SERVER_RSS_GROWTH_BYTES_MAX = 64 * 1024 * 1024;
/** Generous: a loaded two-core machine has moved as little as 4 MiB/s each way. */
const STREAM_TEST_TIMEOUT_MS = Math.max(120_000, (STREAM_TEST_BYTES / (1024 * 1024)) * 500);
let child: ChildProcessWithoutNullStreams | undefined;
let directory: string | undefined;

afterEach(async () => {
  child?.stdin.end();
  if (child !== undefined && child.exitCode === null) await new Promise((resolve) => child!.once('exit', resolve));
  child = undefined;
  if (directory !== undefined) await rm(directory, { recursive: true, force: true });
});

it(
  `streams ${STREAM_TEST_BYTES} bytes up and down through a server process whose RSS stays under 200 MB`,
  async () => {
    directory = await mkdtemp(join(tmpdir(), 'nexus-stream-'));
    await buildLargeFileServer();
    const started = spawn(NODE_EXECUTABLE, largeFileServerArguments(directory), { stdio: ['pipe', 'pipe', 'pipe'] });
    child = started;
    const lines = createInterface({ input: started.stdout })[Symbol.asyncIterator]();
    const nextLine = async (): Promise<Record<string, unknown>> => {
      const { value, done } = await lines.next();
      if (done === true) throw new Error('the server process ended early');
      return JSON.parse(value) as Record<string, unknown>;
    };
    const { url, key, listeningRssBytes } = (await nextLine()) as { url: string; key: string; listeningRssBytes: number };
    const remote = new RemoteNexusFS({ url, token: key });

    const uploadHash = createHash('sha256');
    const uploadStartMs = performance.now();
    const metadata = await remote.write('/large.bin', generatedStream(STREAM_TEST_BYTES, (chunk) => uploadHash.update(chunk)));
    const uploadMs = performance.now() - uploadStartMs;
    const uploaded = uploadHash.digest('hex');
    expect(metadata.sizeBytes).toBe(STREAM_TEST_BYTES);
    expect(metadata.contentId).toBe(uploaded);

    const downloadHash = createHash('sha256');
    const downloadStartMs = performance.now();
    let downloadedBytes = 0;
    const reader = (await remote.readStream('/large.bin')).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      downloadHash.update(value);
      downloadedBytes += value.byteLength;
    }
    const downloadMs = performance.now() - downloadStartMs;
    expect(downloadedBytes).toBe(STREAM_TEST_BYTES);
    expect(downloadHash.digest('hex')).toBe(uploaded);

    started.stdin.write('report\n');
    const { peakRssBytes, samples, nowRssBytes, atPeak } = (await nextLine()) as unknown as ServerReport;
    const mebibytes = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);
    console.log(
      `streaming ${mebibytes(STREAM_TEST_BYTES)} MiB: upload ${(uploadMs / 1000).toFixed(1)} s, download ${(downloadMs / 1000).toFixed(1)} s, ` +
        `server RSS listening ${mebibytes(listeningRssBytes)} MiB, peak ${mebibytes(peakRssBytes)} MiB (${samples} samples; V8 heap ` +
        `${mebibytes(atPeak.heapTotalBytes)} MiB, external ${mebibytes(atPeak.externalBytes)} MiB of which ArrayBuffers ` +
        `${mebibytes(atPeak.arrayBuffersBytes)} MiB), after ${mebibytes(nowRssBytes)} MiB`,
    );
    expect(samples).toBeGreaterThan(0);
    expect(peakRssBytes).toBeLessThan(SERVER_RSS_BYTES_MAX);
    expect(peakRssBytes - listeningRssBytes).toBeLessThan(SERVER_RSS_GROWTH_BYTES_MAX);
  },
  STREAM_TEST_TIMEOUT_MS,
);
