import { SingleBar } from 'cli-progress';
import type { OutputStream } from './command-support.ts';
import { formatBytes } from './format.ts';

/** Bytes and files moved by import and export, shown as a bar on a terminal only. */
export interface TransferProgress {
  addBytes(bytes: number): void;
  fileDone(): void;
  stop(): void;
}

/** A bar is for people, and every redraw costs a write. */
const REDRAWS_PER_SECOND_MAX = 10;

/**
 * A bar on `stream` when it is a terminal and the output is for people; otherwise nothing at all,
 * so pipes, files and `--json` get clean output.
 */
export function startProgress(options: { stream: OutputStream; enabled: boolean; label: string; totalBytes: number; totalFiles: number }): TransferProgress {
  if (!options.enabled || options.stream.isTTY !== true) return { addBytes: () => {}, fileDone: () => {}, stop: () => {} };
  const bar = new SingleBar({
    stream: options.stream,
    format: `${options.label} [{bar}] {percentage}% | {bytes} of {totalBytesText} | {files}/{totalFiles} files`,
    fps: REDRAWS_PER_SECOND_MAX,
    hideCursor: true,
    clearOnComplete: false,
  });
  let bytes = 0;
  let files = 0;
  const payload = (): Record<string, string | number> => ({ bytes: formatBytes(bytes), totalBytesText: formatBytes(options.totalBytes), files, totalFiles: options.totalFiles });
  // An empty transfer still draws a full bar: cli-progress takes a total of 0 as 0%.
  bar.start(Math.max(options.totalBytes, 1), 0, payload());
  return {
    addBytes(count) {
      bytes += count;
      bar.update(Math.min(bytes, Math.max(options.totalBytes, 1)), payload());
    },
    fileDone() {
      files += 1;
      bar.update(payload());
    },
    stop() {
      // A transfer that moved everything shows 100%, an empty one included.
      if (bytes >= options.totalBytes) bar.update(Math.max(options.totalBytes, 1), payload());
      bar.stop();
    },
  };
}

/** Passes chunks through unchanged, counting their bytes into `progress`. */
export function countingStream(progress: TransferProgress): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      progress.addBytes(chunk.byteLength);
      controller.enqueue(chunk);
    },
  });
}
