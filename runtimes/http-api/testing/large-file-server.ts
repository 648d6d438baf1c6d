/**
 * A child process for the streaming test: serves the HTTP API over an embedded NexusFS on the KV
 * engine and LocalObjectStore in the directory given as its argument, and watches its own memory.
 *
 * It prints one JSON line `{"url", "key", "listeningRssBytes"}` once it listens. It samples its
 * memory every RSS_SAMPLE_INTERVAL_MS; on the stdin line `report` it prints
 * `{"peakRssBytes", "samples", "nowRssBytes", "atPeak"}`, `atPeak` being the V8 heap, external
 * and ArrayBuffer bytes at the sample of the peak RSS (what grew, when the bound fails); on
 * `exit` (or stdin closing) it closes its stores and exits.
 */
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createMemoryRecordStore } from '../../../drivers/memory/index.ts';
import { LocalObjectStore, openFileKvStore } from '../../../drivers/node-fs/index.ts';
import { NexusFS } from '../../../kernel/fs/nexus-fs.ts';
import { ApiKeys } from '../../../kernel/services/api-keys.ts';
import { createHttpApi } from '../http-api.ts';
import { listen } from './node-server.ts';

const RSS_SAMPLE_INTERVAL_MS = 20;

const directory = process.argv[2];
if (directory === undefined) throw new Error('usage: large-file-server.ts DIRECTORY');

let peak = process.memoryUsage();
let samples = 0;
const sampler = setInterval(() => {
  const usage = process.memoryUsage();
  if (usage.rss > peak.rss) peak = usage;
  samples++;
}, RSS_SAMPLE_INTERVAL_MS);

const metastore = await openFileKvStore(join(directory, 'metastore.kv'));
const objectStore = new LocalObjectStore({ directory: join(directory, 'blobs') });
const nexusFS = new NexusFS({ metastore });
await nexusFS.mount('/', objectStore);
const records = await createMemoryRecordStore();
const apiKeys = await ApiKeys.open(records);
const { key } = await apiKeys.create({ name: 'stream-test' });
const server = await listen(createHttpApi({ fs: nexusFS, authenticate: apiKeys.authenticate, keys: apiKeys }));
process.stdout.write(`${JSON.stringify({ url: server.url, key, listeningRssBytes: process.memoryUsage.rss() })}\n`);

async function exit(): Promise<void> {
  clearInterval(sampler);
  await server.close();
  await nexusFS.close();
  await objectStore.close();
  await metastore.close();
  await records.close();
  process.exit(0);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line === 'report') {
    const atPeak = { heapTotalBytes: peak.heapTotal, externalBytes: peak.external, arrayBuffersBytes: peak.arrayBuffers };
    process.stdout.write(`${JSON.stringify({ peakRssBytes: peak.rss, samples, nowRssBytes: process.memoryUsage.rss(), atPeak })}\n`);
  }
  if (line === 'exit') void exit();
});
lines.on('close', () => void exit());
