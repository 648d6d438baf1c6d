import type { Command } from 'commander';
import type { FileMetadata } from '../../../kernel/fs/types.ts';
import { onTarget, targetCommand, type CliContext } from './command-support.ts';
import { formatTime } from './format.ts';

/** `nexus stat PATH`: a path's metadata. */
export function statCommand(context: CliContext): Command {
  return targetCommand(context, 'stat')
    .description('show a path\'s metadata: type, size, version, content id, times, MIME type')
    .argument('<path>', 'absolute path')
    .addHelpText('after', '\nWith --json: the metadata object (path, type, sizeBytes, contentId, version, createdAtMs, modifiedAtMs, ...).')
    .action(async (path: string, _options: unknown, command: Command) => {
      await onTarget(context, command, async (target, output) => output.result(await target.fs.stat(path), formatMetadata));
    });
}

export function formatMetadata(metadata: FileMetadata): string {
  const fields: [string, string][] = [
    ['path', metadata.path],
    ['type', metadata.type],
    ['size', `${metadata.sizeBytes} bytes`],
    ['version', String(metadata.version)],
    ['content id', metadata.contentId ?? '-'],
    ['mime type', metadata.mimeType ?? '-'],
    ['created', formatTime(metadata.createdAtMs)],
    ['modified', formatTime(metadata.modifiedAtMs)],
    ['zone', metadata.zoneId],
  ];
  if (metadata.targetZone !== null) fields.push(['target zone', metadata.targetZone]);
  const width = Math.max(...fields.map(([name]) => name.length)) + 1;
  return fields.map(([name, value]) => `${`${name}:`.padEnd(width)} ${value}`).join('\n');
}
