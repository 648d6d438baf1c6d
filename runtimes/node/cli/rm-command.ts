import type { Command } from 'commander';
import { onTarget, targetCommand, type CliContext } from './command-support.ts';

/** `nexus rm [-r] PATH...`: without -r, a non-empty directory fails with ENOTEMPTY, as in the kernel. */
export function rmCommand(context: CliContext): Command {
  return targetCommand(context, 'rm')
    .description('remove files and empty directories; with -r whole trees')
    .argument('<paths...>', 'absolute paths')
    .option('-r, --recursive', 'remove directories and everything below them')
    .addHelpText('after', '\nWithout -r a non-empty directory fails with ENOTEMPTY. With --json: {"removed": [paths]}.')
    .action(async (paths: string[], options: { recursive?: boolean }, command: Command) => {
      await onTarget(context, command, async (target, output) => {
        const removed: string[] = [];
        for (const path of paths) {
          await target.fs.delete(path, { recursive: options.recursive === true });
          removed.push(path);
        }
        output.result({ removed }, () => '');
      });
    });
}
