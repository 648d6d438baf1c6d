import { PAGE_BYTES, WRITE_COALESCE_BYTES_MAX } from './constants.ts';
import type { PageWrite } from './write-transaction.ts';

/**
 * Joins writes of adjacent pages into one write of up to WRITE_COALESCE_BYTES_MAX bytes, so a
 * commit that filled a run of fresh pages at the end of the file costs one call, not one per page.
 * The writes never overlap (each page is written once per transaction).
 */
export function coalesceWrites(writes: readonly PageWrite[]): PageWrite[] {
  const sorted = [...writes].sort((a, b) => a.pageId - b.pageId);
  const result: PageWrite[] = [];
  let run: PageWrite[] = [];
  let runBytes = 0;
  const flush = (): void => {
    if (run.length === 0) return;
    result.push(run.length === 1 ? run[0]! : { pageId: run[0]!.pageId, bytes: concatenate(run, runBytes) });
    run = [];
    runBytes = 0;
  };
  for (const write of sorted) {
    const previous = run.at(-1);
    const adjacent = previous !== undefined && previous.pageId + previous.bytes.length / PAGE_BYTES === write.pageId;
    if (!adjacent || runBytes + write.bytes.length > WRITE_COALESCE_BYTES_MAX) flush();
    run.push(write);
    runBytes += write.bytes.length;
  }
  flush();
  return result;
}

function concatenate(run: readonly PageWrite[], totalBytes: number): Uint8Array {
  const bytes = new Uint8Array(totalBytes);
  let offset = 0;
  for (const write of run) {
    bytes.set(write.bytes, offset);
    offset += write.bytes.length;
  }
  return bytes;
}
