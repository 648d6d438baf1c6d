import type { Command } from 'commander';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { InvalidArgumentError } from '../../../kernel/errors.ts';
import type { FileMetadata } from '../../../kernel/fs/types.ts';
import { onTarget, targetCommand, type CliContext } from './command-support.ts';
import { baseName, pathBelow } from './format.ts';
import { formatSummary, type TransferSummary } from './import-command.ts';
import { listAll } from './ls-command.ts';
import { countingStream, startProgress } from './progress.ts';

/** `nexus export PATH DIR`: a tree of the file system into a local directory, each file streamed. */
export function exportCommand(context: CliContext): Command {
  return targetCommand(context, 'export')
    .description('copy a directory tree (or one file) of the file system into a local directory (files are streamed, a progress bar shows on a terminal)')
    .argument('<path>', 'absolute path of a directory or a file')
    .argument('<dir>', 'local directory to fill (created when missing; files there are replaced)')
    .addHelpText('after', '\nA directory\'s contents go into DIR; a file goes into DIR under its name. With --json: {from, to, files, directories, bytes, skipped}.')
    .action(async (path: string, dir: string, _options: unknown, command: Command) => {
      await onTarget(context, command, async (target, output) => {
        const root = await target.fs.stat(path);
        const entries = root.type === 'REG' ? [root] : await listAll(target.fs, root.path, true);
        const relative = (entry: FileMetadata): string => (entry === root ? baseName(entry.path) : pathBelow(root.path, entry.path));
        const files = entries.filter((entry) => entry.type === 'REG');
        const directories = entries.filter((entry) => entry.type === 'DIR' || entry.type === 'MOUNT');
        const summary: TransferSummary = {
          from: root.path,
          to: dir,
          files: files.length,
          directories: directories.length,
          bytes: files.reduce((sum, file) => sum + file.sizeBytes, 0),
          skipped: entries.filter((entry) => !files.includes(entry) && !directories.includes(entry)).map((entry) => entry.path),
        };
        await mkdir(dir, { recursive: true });
        // Listed depth first in path order, so a directory comes before what it holds.
        for (const directory of directories) await mkdir(localPathInside(dir, relative(directory)), { recursive: true });
        const progress = startProgress({ stream: context.streams.stderr, enabled: !output.json, label: 'export', totalBytes: summary.bytes, totalFiles: files.length });
        try {
          for (const file of files) {
            const stream = (await target.fs.readStream(file.path)).pipeThrough(countingStream(progress));
            await pipeline(Readable.fromWeb(stream as NodeReadableStream<Uint8Array>), createWriteStream(localPathInside(dir, relative(file))));
            progress.fileDone();
          }
        } finally {
          progress.stop();
        }
        output.result(summary, formatSummary('exported'));
      });
    });
}

/** Refuses a path that would land outside `dir`: the kernel never lists one, but a server could send one. */
function localPathInside(dir: string, relativePath: string): string {
  const base = resolve(dir);
  const local = resolve(base, relativePath);
  if (!local.startsWith(base + sep)) throw new InvalidArgumentError(`cannot export ${relativePath}: it would land outside ${dir}`);
  return local;
}
