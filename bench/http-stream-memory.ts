/**
 * `npm run bench:stream-memory [-- --rounds N --megabytes M]`: the memory of the HTTP server while
 * a large file streams up and down through it, over many rounds, since one round says little: the
 * RSS a streaming Node server reaches depends on when V8 collects the body chunks node:http
 * allocates (a fresh ArrayBuffer per body segment, up to 32 MiB of them dead between two minor
 * GCs) and on what the allocator keeps of what was freed.
 *
 * Each round starts the streaming test's server child (runtimes/http-api/testing/
 * large-file-server.ts, started as the test starts it: large-file-server-child.ts) on a fresh directory, uploads M MiB through
 * RemoteNexusFS as a streamed body, downloads it again, and prints the server's RSS once listening,
 * its peak after the upload and after the download, the growth (peak minus listening, which the
 * test bounds at 64 MiB), and the V8 heap, external and ArrayBuffer bytes at the peak. Then the
 * minimum, median and maximum growth, and the load average.
 *
 * The client is this process: run it with Deno for a Deno client
 * (`npx deno run -A bench/http-stream-memory.ts`); the server is Node either way.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { RemoteNexusFS } from '../runtimes/http-api/remote-nexus-fs.ts';
import { generatedStream } from '../runtimes/http-api/testing/generated-stream.ts';
import { buildLargeFileServer, largeFileServerArguments, type ServerReport } from '../runtimes/http-api/testing/large-file-server-child.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' }, megabytes: { type: 'string', default: '256' } }, strict: true });
const ROUNDS = Number(values.rounds);
const TOTAL_BYTES = Number(values.megabytes) * 1024 * 1024;
const mebibytes = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);

async function round(): Promise<number> {
  const directory = await mkdtemp(join(tmpdir(), 'nexus-stream-memory-'));
  // Node runs the server whichever runtime runs this.
  const node = process.execPath.includes('deno') ? 'node' : process.execPath;
  const child = spawn(node, largeFileServerArguments(directory), { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const nextLine = async <T>(): Promise<T> => JSON.parse((await lines.next()).value as string) as T;
    const { url, key, listeningRssBytes } = await nextLine<{ url: string; key: string; listeningRssBytes: number }>();
    const remote = new RemoteNexusFS({ url, token: key });
    await remote.write('/large.bin', generatedStream(TOTAL_BYTES));
    child.stdin.write('report\n');
    const afterUpload = await nextLine<ServerReport>();
    const reader = (await remote.readStream('/large.bin')).getReader();
    let downloadedBytes = 0;
    for (let read = await reader.read(); !read.done; read = await reader.read()) downloadedBytes += read.value.byteLength;
    if (downloadedBytes !== TOTAL_BYTES) throw new Error(`downloaded ${downloadedBytes} bytes of ${TOTAL_BYTES}`);
    child.stdin.write('report\n');
    const report = await nextLine<ServerReport>();
    const growthBytes = report.peakRssBytes - listeningRssBytes;
    const { heapTotalBytes, externalBytes, arrayBuffersBytes } = report.atPeak;
    console.log(
      `listening ${mebibytes(listeningRssBytes)} MiB, peak after upload ${mebibytes(afterUpload.peakRssBytes)} MiB, after download ` +
        `${mebibytes(report.peakRssBytes)} MiB: growth ${mebibytes(growthBytes)} MiB (at the peak: V8 heap ${mebibytes(heapTotalBytes)} MiB, ` +
        `external ${mebibytes(externalBytes)} MiB, ArrayBuffers ${mebibytes(arrayBuffersBytes)} MiB)`,
    );
    return growthBytes;
  } finally {
    child.stdin.end();
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    await rm(directory, { recursive: true, force: true });
  }
}

const loadBefore = loadavg().map((load) => load.toFixed(2)).join(', ');
await buildLargeFileServer();
const growths: number[] = [];
for (let index = 0; index < ROUNDS; index++) growths.push(await round());
growths.sort((a, b) => a - b);
console.log(
  `server RSS growth over ${ROUNDS} rounds of ${mebibytes(TOTAL_BYTES)} MiB up and down: min ${mebibytes(growths[0]!)} MiB, ` +
    `median ${mebibytes(growths[growths.length >> 1]!)} MiB, max ${mebibytes(growths.at(-1)!)} MiB; ` +
    `load average (1, 5, 15 min): ${loadBefore} before, ${loadavg().map((load) => load.toFixed(2)).join(', ')} after`,
);
