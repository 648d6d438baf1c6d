import type { Command } from 'commander';
import { createReadStream, type Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { NotDirectoryError } from '../../../kernel/errors.ts';
import { onTarget, targetCommand, type CliContext } from './command-support.ts';
import { formatBytes } from './format.ts';
import { countingStream, startProgress } from './progress.ts';
import { webStream } from './write-command.ts';

/** A local tree to import: directories before what they hold, every list in name order. */
interface LocalTree {
  directories: string[];
  files: { relativePath: string; sizeBytes: number }[];
  /** Symbolic links, sockets, devices: not files, so not imported. */
  skipped: string[];
}

export interface TransferSummary {
  from: string;
  to: string;
  files: number;
  directories: number;
  bytes: number;
  skipped: string[];
}

/** `nexus import DIR PATH`: a local directory tree into the file system, each file streamed. */
export function importCommand(context: CliContext): Command {
  return targetCommand(context, 'import')
    .description('copy a local directory tree into the file system (files are streamed, a progress bar shows on a terminal)')
    .argument('<dir>', 'local directory to read')
    .argument('<path>', 'absolute path of the directory to fill (created when missing; files there are replaced)')
    .addHelpText('after', '\nSymbolic links and other special files are skipped and listed. With --json: {from, to, files, directories, bytes, skipped}.')
    .action(async (dir: string, path: string, _options: unknown, command: Command) => {
      const tree = await scanLocalTree(dir);
      await onTarget(context, command, async (target, output) => {
        const root = (await target.fs.mkdir(path, { parents: true, existOk: true })).path;
        const below = (relativePath: string): string => (root === '/' ? `/${relativePath}` : `${root}/${relativePath}`);
        for (const directory of tree.directories) await target.fs.mkdir(below(directory), { parents: true, existOk: true });
        const totalBytes = tree.files.reduce((sum, file) => sum + file.sizeBytes, 0);
        const progress = startProgress({ stream: context.streams.stderr, enabled: !output.json, label: 'import', totalBytes, totalFiles: tree.files.length });
        try {
          for (const file of tree.files) {
            const bytes = webStream(createReadStream(join(dir, file.relativePath))).pipeThrough(countingStream(progress));
            await target.fs.write(below(file.relativePath), bytes);
            progress.fileDone();
          }
        } finally {
          progress.stop();
        }
        const summary: TransferSummary = { from: dir, to: root, files: tree.files.length, directories: tree.directories.length, bytes: totalBytes, skipped: tree.skipped };
        output.result(summary, formatSummary('imported'));
      });
    });
}

async function scanLocalTree(dir: string): Promise<LocalTree> {
  if (!(await lstat(dir)).isDirectory()) throw new NotDirectoryError(`cannot import ${dir}: not a local directory`);
  const tree: LocalTree = { directories: [], files: [], skipped: [] };
  const pending = [''];
  while (pending.length > 0) {
    const relativeDirectory = pending.shift()!;
    const entries = await readdir(join(dir, relativeDirectory), { withFileTypes: true });
    entries.sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
    for (const entry of entries) await addEntry(tree, { dir, relativePath: relativeDirectory === '' ? entry.name : `${relativeDirectory}/${entry.name}`, entry, pending });
  }
  return tree;
}

async function addEntry(tree: LocalTree, options: { dir: string; relativePath: string; entry: Dirent; pending: string[] }): Promise<void> {
  const { entry, relativePath } = options;
  if (entry.isDirectory()) {
    tree.directories.push(relativePath);
    options.pending.push(relativePath);
  } else if (entry.isFile()) {
    tree.files.push({ relativePath, sizeBytes: (await lstat(join(options.dir, relativePath))).size });
  } else {
    tree.skipped.push(relativePath);
  }
}

export function formatSummary(verb: string): (summary: TransferSummary) => string {
  return (summary) => {
    const lines = [`${verb} ${summary.files} files (${formatBytes(summary.bytes)}) and ${summary.directories} directories from ${summary.from} to ${summary.to}`];
    for (const path of summary.skipped) lines.push(`skipped ${path} (not a file or directory)`);
    return lines.join('\n');
  };
}
