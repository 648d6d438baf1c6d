import type { Command } from 'commander';
import type { Edit } from '../../../kernel/fs/types.ts';
import { integerParser, onTarget, targetCommand, usageError, type CliContext } from './command-support.ts';

interface EditCommandOptions {
  search: string[];
  replace: string[];
  all?: boolean;
  ifMatch?: number;
}

/** `nexus edit PATH --search S --replace R [--all]`: search/replace, atomically, in order. */
export function editCommand(context: CliContext): Command {
  return targetCommand(context, 'edit')
    .description('replace text in a file: each --search must occur exactly once (or at least once with --all); all edits apply or none')
    .argument('<path>', 'absolute path of a text file')
    .requiredOption('--search <text>', 'text to find (repeat with --replace for several edits, applied in order)', collect)
    .requiredOption('--replace <text>', 'its replacement (one per --search)', collect)
    .option('--all', 'replace every occurrence of each search text')
    .option('--if-match <version>', 'only if the file is at this version (ECONFLICT otherwise)', integerParser(0))
    .addHelpText('after', '\nEINVAL when a search text does not occur (or occurs more than once without --all); nothing changes then.\nWith --json: {metadata, replacements}.')
    .action(async (path: string, options: EditCommandOptions, command: Command) => {
      if (options.search.length !== options.replace.length) {
        usageError(command, `${options.search.length} --search but ${options.replace.length} --replace: give one --replace for each --search`);
      }
      const edits: Edit[] = options.search.map((search, index) => ({ search, replace: options.replace[index]!, replaceAll: options.all === true }));
      await onTarget(context, command, async (target, output) => {
        const result = await target.fs.edit(path, edits, { ifMatch: options.ifMatch });
        const count = result.replacements.reduce((sum, replaced) => sum + replaced, 0);
        output.result(result, () => `edited ${result.metadata.path}: ${count} ${count === 1 ? 'replacement' : 'replacements'}, version ${result.metadata.version}`);
      });
    });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
