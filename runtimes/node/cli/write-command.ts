import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { WriteOptions } from '../../../kernel/fs/types.ts';
import { integerParser, onTarget, targetCommand, type CliContext } from './command-support.ts';
import { formatBytes } from './format.ts';

interface WriteCommandOptions {
  ifMatch?: number;
  create?: boolean;
  mimeType?: string;
}

/** The argument that means "read stdin", as in most Unix tools. */
const STDIN_ARGUMENT = '-';

/** `nexus write PATH [FILE|-]`: creates or replaces a file from a local file or stdin, streamed. */
export function writeCommand(context: CliContext): Command {
  return targetCommand(context, 'write')
    .description('create or replace a file with the bytes of a local file, or of stdin (missing parent directories are created)')
    .argument('<path>', 'absolute path of the file to write')
    .argument('[file]', `local file to read; "${STDIN_ARGUMENT}" or none reads stdin`, STDIN_ARGUMENT)
    .option('--if-match <version>', 'only if the file is at this version (ECONFLICT otherwise)', integerParser(0))
    .option('--create', 'only if the file does not exist yet (ECONFLICT otherwise)')
    .option('--mime-type <type>', 'the file\'s MIME type, e.g. text/markdown')
    .addHelpText('after', '\nPrints the path, size and new version; with --json the file\'s metadata.')
    .action(async (path: string, file: string, options: WriteCommandOptions, command: Command) => {
      const writeOptions: WriteOptions = { ifMatch: options.ifMatch, ifNoneMatch: options.create === true ? '*' : undefined, mimeType: options.mimeType };
      await onTarget(context, command, async (target, output) => {
        const source = file === STDIN_ARGUMENT ? context.streams.stdin : createReadStream(file);
        const metadata = await target.fs.write(path, webStream(source), writeOptions);
        output.result(metadata, (written) => `wrote ${written.path} (${formatBytes(written.sizeBytes)}, version ${written.version})`);
      });
    });
}

/**
 * A Node stream as the web stream the file API takes, read one chunk per pull, so the reading never
 * runs ahead of the consumer by more than the source's own buffer. A local file's open error
 * surfaces on the first pull.
 */
export function webStream(source: Readable): ReadableStream<Uint8Array> {
  // The iterator listens only from its first pull; until then this keeps an early error (a missing
  // file) from being unhandled. The stream keeps the error, and the first pull rejects with it.
  source.on('error', () => {});
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { value, done } = await chunks.next();
        if (done === true) controller.close();
        else controller.enqueue(typeof value === 'string' ? new TextEncoder().encode(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      },
      async cancel() {
        await chunks.return?.();
        source.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}
