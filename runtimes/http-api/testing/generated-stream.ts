/** How many bytes each chunk of a generated stream holds. */
export const GENERATED_CHUNK_BYTES = 1024 * 1024;
/** The most bytes one `crypto.getRandomValues` call fills. */
const RANDOM_VALUES_BYTES_MAX = 65_536;

/**
 * `totalBytes` of pseudo-random bytes as a stream, made a chunk at a time when the reader pulls
 * (nothing is held beyond the chunk being read), every chunk different (its offset in its first
 * eight bytes). `onChunk` sees each chunk as it is produced (to hash it, say).
 */
export function generatedStream(totalBytes: number, onChunk: (chunk: Uint8Array) => void = () => {}): ReadableStream<Uint8Array> {
  const block = new Uint8Array(GENERATED_CHUNK_BYTES);
  for (let offset = 0; offset < block.length; offset += RANDOM_VALUES_BYTES_MAX) crypto.getRandomValues(block.subarray(offset, offset + RANDOM_VALUES_BYTES_MAX));
  let sentBytes = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sentBytes >= totalBytes) {
        controller.close();
        return;
      }
      const chunk = block.slice(0, Math.min(GENERATED_CHUNK_BYTES, totalBytes - sentBytes));
      new DataView(chunk.buffer).setFloat64(0, sentBytes);
      onChunk(chunk);
      sentBytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
}
