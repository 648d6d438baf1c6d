import type { Command } from 'commander';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadOptions } from '../../../kernel/fs/types.ts';
import { integerParser, onTarget, targetCommand, type CliContext } from './command-support.ts';

interface CatOptions {
  offset?: number;
  length?: number;
}

/** `nexus cat PATH`: the file's raw bytes on stdout, streamed (never held whole). */
export function catCommand(context: CliContext): Command {
  return targetCommand(context, 'cat')
    .description('write a file\'s bytes to stdout, as they are')
    .argument('<path>', 'absolute path of a file')
    .option('--offset <bytes>', 'start at this byte', integerParser(0))
    .option('--length <bytes>', 'at most this many bytes', integerParser(0))
    .addHelpText('after', '\nWith --json: {"path", "encoding": "utf8" or "base64", "content"} (the file is read whole).')
    .action(async (path: string, options: CatOptions, command: Command) => {
      const range: ReadOptions = { offset: options.offset, length: options.length };
      await onTarget(context, command, async (target, output) => {
        if (output.json) {
          output.result({ path, ...encodeContent(await target.fs.read(path, range)) }, () => '');
          return;
        }
        const stream = await target.fs.readStream(path, range);
        try {
          await pipeline(Readable.fromWeb(stream as import('node:stream/web').ReadableStream<Uint8Array>), output.stream, { end: false });
        } catch (error) {
          // The reader went away (`nexus cat big | head`): stop, as `cat` does, without an error.
          if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
        }
      });
    });
}

/** Text when the bytes are valid UTF-8, base64 otherwise, so JSON never garbles binary content. */
function encodeContent(bytes: Uint8Array): { encoding: 'utf8' | 'base64'; content: string } {
  try {
    return { encoding: 'utf8', content: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { encoding: 'base64', content: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
  }
}
