import { Command } from 'commander';
import { configureCommand, ENVIRONMENT, reportFailure, type CliContext, type CliStreams, type TargetOpener } from './command-support.ts';
import { fileCommands } from './file-commands.ts';
import { serveCommand } from './serve-command.ts';
import { zoneCommand } from './zone-command.ts';

/**
 * The `nexus` command line. One module per command (ls-command.ts, ...) or group (zone-command.ts:
 * `nexus zone ...`, keys-command.ts: `nexus keys ...`).
 */
export function nexusProgram(context: CliContext): Command {
  const program = configureCommand(context, new Command('nexus'))
    .description('nexusfs: a filesystem kernel for AI agents')
    .addHelpText('after', PROGRAM_HELP_AFTER);
  for (const command of fileCommands(context)) program.addCommand(command);
  program.addCommand(serveCommand(context));
  program.addCommand(zoneCommand());
  return program;
}

const PROGRAM_HELP_AFTER = `
Every file and key command acts on a local data directory (--data DIR, or ${ENVIRONMENT.data};
default ./nexus-data) or on a nexus server (--remote URL --token KEY, or ${ENVIRONMENT.url} and
${ENVIRONMENT.token}); a flag beats its variable. Paths are absolute, e.g. /notes/todo.md.
--json prints one JSON document on stdout, and errors as {"error":{"code","message"}} on stderr.

Exit codes: 0 done, 1 operating error (printed with its code, e.g. ENOENT), 2 usage error.
Run nexus COMMAND --help for a command's arguments and options.`;

/**
 * Runs one command line (`argv` without the node executable and script) and returns its exit code;
 * errors are printed on `streams.stderr`, never thrown.
 */
export async function runNexus(argv: readonly string[], options: { streams: CliStreams; openTarget: TargetOpener }): Promise<number> {
  const context: CliContext = { ...options, jsonRequested: jsonRequested(argv) };
  try {
    await nexusProgram(context).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    return reportFailure(context, error);
  }
}

/** `--json` among the options, that is before a `--` that ends them. */
function jsonRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}
