import type { Command } from 'commander';
import type { ChangeEvent } from '../../../kernel/fs/types.ts';
import { integerParser, onTarget, targetCommand, type CliContext } from './command-support.ts';
import { formatTime } from './format.ts';

/** Any interval keeps the process up; a long one costs nothing. */
const KEEP_ALIVE_INTERVAL_MS = 60 * 60 * 1000;

/** `nexus watch [PATH] [--since REVISION]`: one line per change until Ctrl-C (SIGINT) or SIGTERM. */
export function watchCommand(context: CliContext): Command {
  return targetCommand(context, 'watch')
    .description('print one line per change below a path until Ctrl-C')
    .argument('[path]', 'absolute path watched with everything below it', '/')
    .option('--since <revision>', 'first replay the changes after this revision (0: from the start of the change log)', integerParser(0))
    .addHelpText(
      'after',
      [
        '',
        'Each line: revision, time (UTC), type (write, mkdir, delete, rename, mount, unmount), path.',
        'With --json: one JSON object per line and event (revision, type, path, fromPath, metadata, timestampMs).',
        'On a local data directory, watch holds the directory: other commands cannot open it meanwhile; watch a server to see others\' changes live.',
      ].join('\n'),
    )
    .action(async (path: string, options: { since?: number }, command: Command) => {
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      // A local watch waits on a promise alone, which does not keep Node running: this timer does.
      const keepAlive = setInterval(() => {}, KEEP_ALIVE_INTERVAL_MS);
      try {
        await onTarget(context, command, async (target, output) => {
          for await (const event of target.fs.watch(path, { since: options.since, signal: stop.signal })) {
            output.line(output.json ? JSON.stringify(event) : formatEvent(event));
          }
        });
      } catch (error) {
        if (!stop.signal.aborted) throw error;
      } finally {
        clearInterval(keepAlive);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

function formatEvent(event: ChangeEvent): string {
  const from = event.fromPath === undefined ? '' : ` (from ${event.fromPath})`;
  return `${event.revision}  ${formatTime(event.timestampMs)}  ${event.type.padEnd(7)}  ${event.path}${from}`;
}
