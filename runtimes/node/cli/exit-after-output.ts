import type { Writable } from 'node:stream';

/**
 * Exits with `code` once stdout and stderr have handed everything written to them to the OS.
 * process.exit drops writes still queued, and a reader slower than the CLI leaves some queued:
 * a parent busy with other work got `nexus cat` output without its end, and exit code 0.
 */
export async function exitAfterOutput(code: number, streams: { stdout: Writable; stderr: Writable }, exit: (code: number) => void): Promise<void> {
  await Promise.all([flushed(streams.stdout), flushed(streams.stderr)]);
  exit(code);
}

/** Resolves once what was written to `stream` before is written (or the stream failed: then it never will be). */
function flushed(stream: Writable): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}
