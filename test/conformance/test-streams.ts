import { concatChunks } from '../../kernel/contracts/bytes.ts';

/** A stream that yields `chunks` one per pull, then ends. */
export function streamOfChunks(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < chunks.length) controller.enqueue(chunks[next++]!);
      else controller.close();
    },
  });
}

/** A stream that yields `chunks`, then errors with `error` instead of ending. */
export function failingStream(chunks: readonly Uint8Array[], error: Error): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < chunks.length) controller.enqueue(chunks[next++]!);
      else controller.error(error);
    },
  });
}

/** `bytes` cut into chunks of `chunkBytes` (the last one shorter). */
export function chunksOf(bytes: Uint8Array, chunkBytes: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
    chunks.push(bytes.slice(offset, offset + chunkBytes));
  }
  return chunks;
}

/** Reads a stream to its end; returns its bytes and how many chunks carried them. */
export async function readStream(stream: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; chunkCount: number }> {
  const chunks: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!(value instanceof Uint8Array)) throw new TypeError(`stream chunk is ${typeof value}, not a Uint8Array`);
    chunks.push(value);
  }
  return { bytes: concatChunks(chunks), chunkCount: chunks.length };
}
