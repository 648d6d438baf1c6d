import { Command } from 'commander';
import { reportError, zoneCommand } from './zone-command.ts';

/**
 * The `nexus` command line. One module per command group (zone-command.ts: `nexus zone ...`);
 * the file commands will join as their own group.
 */
export function nexusProgram(): Command {
  const program = new Command('nexus')
    .description('nexusfs: a filesystem kernel for AI agents')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });
  program.addCommand(zoneCommand());
  return program;
}

await nexusProgram().parseAsync(process.argv).catch(reportError);
