import type { Command } from 'commander';
import type { FileMetadata, FileSystem } from '../../../kernel/fs/types.ts';
import { onTarget, targetCommand, type CliContext } from './command-support.ts';
import { baseName, entrySuffix, formatTable, formatTime, pathBelow } from './format.ts';

interface LsOptions {
  long?: boolean;
  recursive?: boolean;
}

/** `nexus ls [PATH] [-l] [-R]`: a directory's entries (a file lists as itself, as `ls` does). */
export function lsCommand(context: CliContext): Command {
  return targetCommand(context, 'ls')
    .description('list a directory (a file lists as itself)')
    .argument('[path]', 'absolute path', '/')
    .option('-l, --long', 'columns: type, size in bytes, version, modified time (UTC), name')
    .option('-R, --recursive', 'the whole tree below, as paths relative to PATH')
    .addHelpText('after', '\nWith --json: an array of the entries\' metadata (path, type, sizeBytes, version, ...).')
    .action(async (path: string, options: LsOptions, command: Command) => {
      await onTarget(context, command, async (target, output) => {
        const root = await target.fs.stat(path);
        const entries = root.type === 'REG' ? [root] : await listAll(target.fs, root.path, options.recursive === true);
        const name = (entry: FileMetadata): string => (entry === root ? baseName(entry.path) : pathBelow(root.path, entry.path)) + entrySuffix(entry);
        output.result(entries, (all) => (options.long === true ? formatLong(all, name) : all.map(name).join('\n')));
      });
    });
}

/** Every page of the listing: the kernel bounds each page, the cursor walks them all. */
export async function listAll(fs: FileSystem, path: string, recursive: boolean): Promise<FileMetadata[]> {
  const entries: FileMetadata[] = [];
  let cursor: string | undefined;
  do {
    const page = await fs.list(path, { recursive, cursor });
    entries.push(...page.entries);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return entries;
}

const TYPE_LETTERS: Record<FileMetadata['type'], string> = { REG: '-', DIR: 'd', MOUNT: 'm', LINK: 'l' };

function formatLong(entries: readonly FileMetadata[], name: (entry: FileMetadata) => string): string {
  if (entries.length === 0) return '';
  const rows = entries.map((entry) => [TYPE_LETTERS[entry.type], String(entry.sizeBytes), String(entry.version), formatTime(entry.modifiedAtMs), name(entry)]);
  return formatTable(['TYPE', 'SIZE', 'VERSION', 'MODIFIED', 'NAME'], rows);
}
