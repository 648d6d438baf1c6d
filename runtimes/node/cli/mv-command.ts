import type { Command } from 'commander';
import { onTarget, targetCommand, type CliContext } from './command-support.ts';

/** `nexus mv FROM TO`: a rename, metadata only (blobs are never copied). */
export function mvCommand(context: CliContext): Command {
  return targetCommand(context, 'mv')
    .description('move or rename a file or a whole directory (metadata only: no bytes are copied)')
    .argument('<from>', 'absolute path of what to move')
    .argument('<to>', 'absolute path it gets (not a directory to move into)')
    .option('--overwrite', 'replace TO when both are files')
    .addHelpText('after', '\nEEXIST when TO exists (without --overwrite), EXDEV across mounts. With --json: the moved entry\'s metadata.')
    .action(async (from: string, to: string, options: { overwrite?: boolean }, command: Command) => {
      await onTarget(context, command, async (target, output) => {
        const moved = await target.fs.rename(from, to, { overwrite: options.overwrite === true });
        output.result(moved, (metadata) => `moved ${from} to ${metadata.path}`);
      });
    });
}
