import type { Command } from 'commander';
import type { FileMetadata } from '../../../kernel/fs/types.ts';
import { onTarget, targetCommand, type CliContext } from './command-support.ts';

/** `nexus mkdir [-p] PATH...`. */
export function mkdirCommand(context: CliContext): Command {
  return targetCommand(context, 'mkdir')
    .description('create directories')
    .argument('<paths...>', 'absolute paths')
    .option('-p, --parents', 'create missing parents too, and accept directories that exist')
    .addHelpText('after', '\nWithout -p: ENOENT when the parent is missing, EEXIST when the path exists. With --json: an array of the directories\' metadata.')
    .action(async (paths: string[], options: { parents?: boolean }, command: Command) => {
      const parents = options.parents === true;
      await onTarget(context, command, async (target, output) => {
        const created: FileMetadata[] = [];
        for (const path of paths) created.push(await target.fs.mkdir(path, { parents, existOk: parents }));
        output.result(created, () => '');
      });
    });
}
