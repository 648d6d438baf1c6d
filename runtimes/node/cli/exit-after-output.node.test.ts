import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { exitAfterOutput } from './exit-after-output.ts';

/** A stream whose writes complete only when the test says so, as a pipe to a slow reader's. */
function slowStream(): { stream: Writable; release(): void } {
  const pending: (() => void)[] = [];
  const stream = new Writable({
    write(_chunk, _encoding, done) {
      pending.push(done);
    },
  });
  return { stream, release: () => pending.splice(0).forEach((done) => done()) };
}

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

describe('exitAfterOutput', () => {
  it('exits only once what stdout and stderr hold is written', async () => {
    const stdout = slowStream();
    const stderr = slowStream();
    const exits: number[] = [];
    stdout.stream.write('the end of a file');
    stderr.stream.write('a warning');
    const exiting = exitAfterOutput(3, { stdout: stdout.stream, stderr: stderr.stream }, (code) => exits.push(code));
    await settled();
    expect(exits).toEqual([]);
    stdout.release();
    await settled();
    expect(exits, 'stderr still holds its line').toEqual([]);
    // Each release completes the writes queued so far: the exit's own empty writes come after them.
    for (let round = 0; round < 3; round += 1) {
      stderr.release();
      stdout.release();
      await settled();
    }
    await exiting;
    expect(exits).toEqual([3]);
  });

  it('exits when a stream has failed, rather than wait for writes that will never end', async () => {
    const stdout = slowStream();
    const exits: number[] = [];
    stdout.stream.destroy();
    await exitAfterOutput(0, { stdout: stdout.stream, stderr: promptStream() }, (code) => exits.push(code));
    expect(exits).toEqual([0]);
  });
});

/** A stream whose writes complete at once. */
function promptStream(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}
