import type { Command } from 'commander';
import { integerParser, onTarget, targetCommand, type CliContext } from './command-support.ts';

/** `nexus glob PATTERN`: matching paths, one a line. */
export function globCommand(context: CliContext): Command {
  return targetCommand(context, 'glob')
    .description('list the paths that match a glob pattern (*, **, ?, [...], {a,b}), in path order')
    .argument('<pattern>', 'matched against full paths, e.g. "**/*.md" or "/notes/*.txt"')
    .option('--path <dir>', 'only below this directory')
    .option('--limit <count>', 'at most this many paths', integerParser(1))
    .addHelpText('after', '\nWith --json: an array of paths.')
    .action(async (pattern: string, options: { path?: string; limit?: number }, command: Command) => {
      await onTarget(context, command, async (target, output) => {
        output.result(await target.fs.glob(pattern, { path: options.path, limit: options.limit }), (paths) => paths.join('\n'));
      });
    });
}
