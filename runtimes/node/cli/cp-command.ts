import type { Command } from 'commander';
import { onTarget, targetCommand, type CliContext } from './command-support.ts';

/** `nexus cp [-r] FROM TO`: within a mount the copy shares the blob. */
export function cpCommand(context: CliContext): Command {
  return targetCommand(context, 'cp')
    .description('copy a file, or a directory with -r (within a mount the copy shares the stored bytes)')
    .argument('<from>', 'absolute path of what to copy')
    .argument('<to>', 'absolute path of the copy (not a directory to copy into)')
    .option('-r, --recursive', 'copy a directory and everything below it')
    .option('--overwrite', 'replace TO when both are files')
    .addHelpText('after', '\nEISDIR for a directory without -r, EEXIST when TO exists. With --json: the copy\'s metadata.')
    .action(async (from: string, to: string, options: { recursive?: boolean; overwrite?: boolean }, command: Command) => {
      await onTarget(context, command, async (target, output) => {
        const copied = await target.fs.copy(from, to, { recursive: options.recursive === true, overwrite: options.overwrite === true });
        output.result(copied, (metadata) => `copied ${from} to ${metadata.path}`);
      });
    });
}
