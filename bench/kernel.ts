/**
 * `npm run bench:kernel`: the NexusFS file API in memory, side by side in one process with two
 * in-memory file systems people use in JavaScript today: memfs (Node's fs API in memory) and ZenFS
 * (a virtual file system for browsers and Node, InMemory backend), through their promise APIs.
 * NexusFS runs twice: on the KV engine over a memory StorageFile (`nexusfs/kv`, the in-memory
 * configuration to use) and on the reference MemoryMetastore (`nexusfs/array`, a sorted array
 * that is written to be obviously right, not fast). Blobs are in a MemoryObjectStore for both.
 *
 * It is not a like-for-like race: every NexusFS write hashes its content (SHA-256), deduplicates
 * the blob, commits metadata atomically and appends to a change log that `watch` replays, none of
 * which the peers do. The table shows what that costs per operation and where we stand.
 *
 * Usage: npm run bench:kernel [-- --files N]
 */
import { configureSingle, InMemory, promises as zenfs } from '@zenfs/core';
import { Volume } from 'memfs';
import { parseArgs } from 'node:util';
import { MemoryMetastore, MemoryObjectStore, MemoryStorageFile } from '../drivers/memory/index.ts';
import type { Metastore } from '../kernel/contracts/metastore.ts';
import { NexusFS } from '../kernel/index.ts';
import { openKvStore } from '../kernel/kv/index.ts';

const { values } = parseArgs({ options: { files: { type: 'string', default: '5000' } } });
const FILES = Number(values.files);
const DIRECTORIES = 50;
const RENAMED_TREE_FILES = 1000;
const FILE_BYTES = 1024;

/** The few calls every workload needs, over each file system's own API. */
interface Subject {
  name: string;
  mkdir(path: string): Promise<void>;
  write(path: string, data: Uint8Array): Promise<void>;
  read(path: string): Promise<Uint8Array>;
  stat(path: string): Promise<unknown>;
  list(path: string): Promise<unknown[]>;
  rename(from: string, to: string): Promise<void>;
  removeTree(path: string): Promise<void>;
}

async function nexusSubject(name: string, metastore: Metastore): Promise<Subject> {
  const nexusFS = new NexusFS({ metastore });
  await nexusFS.mount('/', new MemoryObjectStore());
  return {
    name,
    mkdir: async (path) => void (await nexusFS.mkdir(path, { parents: true })),
    write: async (path, data) => void (await nexusFS.write(path, data)),
    read: (path) => nexusFS.read(path),
    stat: (path) => nexusFS.stat(path),
    list: async (path) => (await nexusFS.list(path, { limit: 10_000 })).entries,
    rename: async (from, to) => void (await nexusFS.rename(from, to)),
    removeTree: (path) => nexusFS.delete(path, { recursive: true }),
  };
}

function memfsSubject(): Subject {
  const volume = new Volume().promises;
  return {
    name: 'memfs',
    mkdir: async (path) => void (await volume.mkdir(path, { recursive: true })),
    write: (path, data) => volume.writeFile(path, data),
    read: async (path) => (await volume.readFile(path)) as Uint8Array,
    stat: (path) => volume.stat(path),
    list: (path) => volume.readdir(path),
    rename: (from, to) => volume.rename(from, to),
    removeTree: (path) => volume.rm(path, { recursive: true }),
  };
}

async function zenfsSubject(): Promise<Subject> {
  await configureSingle({ backend: InMemory });
  return {
    name: 'zenfs',
    mkdir: async (path) => void (await zenfs.mkdir(path, { recursive: true })),
    write: (path, data) => zenfs.writeFile(path, data),
    read: (path) => zenfs.readFile(path),
    stat: (path) => zenfs.stat(path),
    list: (path) => zenfs.readdir(path),
    rename: (from, to) => zenfs.rename(from, to),
    removeTree: (path) => zenfs.rm(path, { recursive: true }),
  };
}

function filePath(index: number): string {
  return `/bench/d${index % DIRECTORIES}/f${index}.txt`;
}

function content(index: number, round: number): Uint8Array {
  const bytes = new Uint8Array(FILE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, index);
  view.setUint32(4, round);
  return bytes;
}

interface Workload {
  name: string;
  operations: number;
  run(subject: Subject): Promise<void>;
}

const workloads: Workload[] = [
  {
    name: `write ${FILES} new 1 KiB files`,
    operations: FILES,
    async run(subject) {
      for (let directory = 0; directory < DIRECTORIES; directory++) await subject.mkdir(`/bench/d${directory}`);
      for (let index = 0; index < FILES; index++) await subject.write(filePath(index), content(index, 0));
    },
  },
  {
    name: `stat ${FILES} files`,
    operations: FILES,
    async run(subject) {
      for (let index = 0; index < FILES; index++) await subject.stat(filePath(index));
    },
  },
  {
    name: `read ${FILES} files`,
    operations: FILES,
    async run(subject) {
      for (let index = 0; index < FILES; index++) await subject.read(filePath(index));
    },
  },
  {
    name: `list ${DIRECTORIES} directories`,
    operations: DIRECTORIES,
    async run(subject) {
      for (let directory = 0; directory < DIRECTORIES; directory++) await subject.list(`/bench/d${directory}`);
    },
  },
  {
    name: `overwrite ${FILES} files`,
    operations: FILES,
    async run(subject) {
      for (let index = 0; index < FILES; index++) await subject.write(filePath(index), content(index, 1));
    },
  },
  {
    name: `rename a tree of ${RENAMED_TREE_FILES} files`,
    operations: 1,
    async run(subject) {
      await subject.mkdir('/tree/a/b');
      for (let index = 0; index < RENAMED_TREE_FILES; index++) {
        await subject.write(`/tree/a/b/f${index}`, content(index, 2));
      }
      const started = performance.now();
      await subject.rename('/tree/a', '/tree/moved');
      renameTimes.set(subject.name, performance.now() - started);
    },
  },
  {
    name: `delete the tree of ${FILES} files`,
    operations: 1,
    async run(subject) {
      await subject.removeTree('/bench');
    },
  },
];

/** The rename row times only the rename itself, not the writes that set it up. */
const renameTimes = new Map<string, number>();

async function measure(subject: Subject, workload: Workload): Promise<number> {
  const started = performance.now();
  await workload.run(subject);
  const elapsed = renameTimes.get(subject.name) ?? performance.now() - started;
  renameTimes.delete(subject.name);
  return elapsed / workload.operations;
}

function format(milliseconds: number): string {
  if (milliseconds < 1) return `${(milliseconds * 1000).toFixed(1)} µs`;
  return `${milliseconds.toFixed(2)} ms`;
}

async function main(): Promise<void> {
  const subjects = [
    await nexusSubject('nexusfs/kv', await openKvStore(new MemoryStorageFile())),
    await nexusSubject('nexusfs/array', new MemoryMetastore()),
    memfsSubject(),
    await zenfsSubject(),
  ];
  console.log(`nexusfs kernel benchmark: ${FILES} files of ${FILE_BYTES} B in ${DIRECTORIES} directories, in memory\n`);
  const rows: string[][] = [['workload (time per operation)', ...subjects.map((subject) => subject.name), 'kv vs memfs', 'kv vs zenfs']];
  for (const workload of workloads) {
    const times: number[] = [];
    for (const subject of subjects) times.push(await measure(subject, workload));
    const [ours, , memfs, zen] = times as [number, number, number, number];
    rows.push([workload.name, ...times.map(format), `${(ours / memfs).toFixed(2)}x`, `${(ours / zen).toFixed(2)}x`]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  '));
  console.log('\nRatios are nexusfs time / peer time: below 1 means nexusfs is faster.');
}

await main();
