import type { Command } from 'commander';
import type { GrepMatch } from '../../../kernel/fs/types.ts';
import { integerParser, onTarget, targetCommand, type CliContext } from './command-support.ts';

interface GrepCommandOptions {
  ignoreCase?: boolean;
  glob?: string;
  context?: number;
  maxResults?: number;
}

/** `nexus grep PATTERN [PATH]`: matching lines as `path:line:text`, like `grep -rn`. */
export function grepCommand(context: CliContext): Command {
  return targetCommand(context, 'grep')
    .description('search files for lines matching a regular expression (JavaScript syntax)')
    .argument('<pattern>', 'regular expression')
    .argument('[path]', 'a file, or a directory searched recursively', '/')
    .option('-i, --ignore-case', 'match regardless of case')
    .option('--glob <pattern>', 'only files whose path matches this glob')
    .option('-C, --context <lines>', 'lines of context before and after each match', integerParser(0))
    .option('--max-results <count>', 'at most this many matches', integerParser(1))
    .addHelpText('after', '\nPrints path:line:text per match (context lines as path-line-text, groups apart with --).\nWith --json: an array of {path, lineNumber, line, before, after}.')
    .action(async (pattern: string, path: string, options: GrepCommandOptions, command: Command) => {
      await onTarget(context, command, async (target, output) => {
        const matches = await target.fs.grep(pattern, {
          path,
          glob: options.glob,
          ignoreCase: options.ignoreCase === true,
          contextLines: options.context,
          maxResults: options.maxResults,
        });
        output.result(matches, (all) => formatMatches(all, (options.context ?? 0) > 0));
      });
    });
}

function formatMatches(matches: readonly GrepMatch[], withContext: boolean): string {
  const groups = matches.map((match) => {
    const lines = match.before.map((line, index) => `${match.path}-${match.lineNumber - match.before.length + index}-${line}`);
    lines.push(`${match.path}:${match.lineNumber}:${match.line}`);
    lines.push(...match.after.map((line, index) => `${match.path}-${match.lineNumber + 1 + index}-${line}`));
    return lines.join('\n');
  });
  return groups.join(withContext ? '\n--\n' : '\n');
}
