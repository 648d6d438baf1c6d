import type { StorageFile } from '../contracts/storage-file.ts';
import type { CheckpointPacer } from './checkpoint-pacer.ts';
import { PAGE_BYTES, WRITE_COALESCE_BYTES_MAX } from './constants.ts';
import { pageOffsetBytes } from './page-format.ts';
import type { PageWrite } from './write-transaction.ts';

/**
 * Writes pages to `file`, joining adjacent pages into single writes of up to
 * WRITE_COALESCE_BYTES_MAX bytes, so a transaction that filled a run of fresh pages at the end of
 * the file costs one call, not one per page. The writes never overlap (each page is written once
 * per transaction).
 *
 * Joined pages are copied into one buffer that every joined write reuses, one write after
 * another (a StorageFile is done with `data` once `write` resolves): a fresh buffer per write made
 * a large merge allocate, zero and collect as many bytes again as it wrote.
 *
 * With `pacer` (a checkpoint's), the writes pause now and then between joined writes: a file on
 * Node writes synchronously, so a checkpoint's tens of megabytes would otherwise hold the event
 * loop. The pages are the caller's and stay as they are across a pause.
 */
export async function writePages(file: StorageFile, writes: readonly PageWrite[], pacer?: CheckpointPacer): Promise<void> {
  const sorted = [...writes].sort((a, b) => a.pageId - b.pageId);
  let joined: Uint8Array | undefined;
  let first = 0;
  while (first < sorted.length) {
    const { end, runBytes } = runFrom(sorted, first);
    const start = sorted[first]!;
    if (end === first + 1) {
      await file.write(pageOffsetBytes(start.pageId), start.bytes);
    } else {
      joined ??= new Uint8Array(WRITE_COALESCE_BYTES_MAX);
      let offset = 0;
      for (let index = first; index < end; index++) {
        joined.set(sorted[index]!.bytes, offset);
        offset += sorted[index]!.bytes.length;
      }
      await file.write(pageOffsetBytes(start.pageId), joined.subarray(0, runBytes));
    }
    if (pacer?.spend(runBytes) === true) await pacer.pause();
    first = end;
  }
}

/** The run of adjacent writes from `first` that fits one joined write: one past its end, and its bytes. */
function runFrom(sorted: readonly PageWrite[], first: number): { end: number; runBytes: number } {
  let runBytes = sorted[first]!.bytes.length;
  let end = first + 1;
  while (end < sorted.length) {
    const previous = sorted[end - 1]!;
    const next = sorted[end]!;
    if (previous.pageId + previous.bytes.length / PAGE_BYTES !== next.pageId || runBytes + next.bytes.length > WRITE_COALESCE_BYTES_MAX) break;
    runBytes += next.bytes.length;
    end++;
  }
  return { end, runBytes };
}
