import { concatChunks } from '../../kernel/contracts/bytes.ts';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import { HttpStatusError } from './wire.ts';

/**
 * Request bodies, read within bounds: a body read whole is refused once it passes its limit (413)
 * without buffering the rest, a declared Content-Length over the limit is refused before reading,
 * and an upload streams through a counter that fails the stream at the limit.
 */

export function payloadTooLarge(bytesMax: number, what: string): HttpStatusError {
  return new HttpStatusError(413, new InvalidArgumentError(`${what} holds at most ${bytesMax} bytes`));
}

/** Refuses a malformed Content-Length, or one over `bytesMax`, before a byte is read. */
export function checkDeclaredLength(request: Request, bytesMax: number, what: string): void {
  const declared = request.headers.get('content-length');
  if (declared === null) return;
  if (!/^\d{1,20}$/.test(declared)) throw new InvalidArgumentError(`invalid Content-Length header ${JSON.stringify(declared.slice(0, 40))}`);
  if (Number(declared) > bytesMax) throw payloadTooLarge(bytesMax, what);
}

/** The whole body, at most `bytesMax` bytes (413 beyond). */
export async function readBodyBytes(request: Request, bytesMax: number, what: string): Promise<Uint8Array> {
  checkDeclaredLength(request, bytesMax, what);
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let totalBytes = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    totalBytes += value.byteLength;
    if (totalBytes > bytesMax) {
      await reader.cancel().catch(() => {});
      throw payloadTooLarge(bytesMax, what);
    }
    chunks.push(value);
  }
  // A chunk read from the body's stream is the reader's to keep: one needs no copy.
  return chunks.length === 1 ? chunks[0]! : concatChunks(chunks);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A JSON body: at most `bytesMax` bytes of UTF-8, nested at most `depthMax` deep, well-formed. */
export async function readJsonBody(request: Request, limits: { bytesMax: number; depthMax: number }): Promise<unknown> {
  const bytes = await readBodyBytes(request, limits.bytesMax, 'a JSON request body');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new InvalidArgumentError('the JSON request body is not valid UTF-8');
  }
  if (text.trim() === '') throw new InvalidArgumentError('this route needs a JSON request body');
  checkJsonDepth(text, limits.depthMax);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidArgumentError(`the request body is not well-formed JSON: ${(error as Error).message}`);
  }
}

/**
 * Refuses JSON nested deeper than `depthMax` before parsing it, in one pass over the text (brackets
 * inside strings do not count), so a hostile body cannot make the parser or a validator recurse.
 */
export function checkJsonDepth(text: string, depthMax: number): void {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const character = text.charCodeAt(index);
    if (inString) {
      if (character === 0x5c) index++; // a backslash escapes the next character
      else if (character === 0x22) inString = false;
    } else if (character === 0x22) {
      inString = true;
    } else if (character === 0x5b || character === 0x7b) {
      if (++depth > depthMax) throw new InvalidArgumentError(`the JSON request body is nested deeper than ${depthMax} levels`);
    } else if (character === 0x5d || character === 0x7d) {
      depth--;
    }
  }
}

/** An upload stream with a byte counter, and whether it passed its limit. */
export interface LimitedUpload {
  readonly stream: ReadableStream<Uint8Array>;
  /** True once the body passed `bytesMax` (the stream has then errored). */
  exceeded(): boolean;
}

/**
 * The upload stream with a byte counter: past `bytesMax` the stream errors, which fails the write
 * that consumes it (its blob is never referenced and is reclaimed). The caller answers 413 when
 * `exceeded()`, whatever error the ObjectStore made of the stream's failure.
 */
export function limitUpload(body: ReadableStream<Uint8Array>, bytesMax: number): LimitedUpload {
  let totalBytes = 0;
  const stream = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        totalBytes += chunk.byteLength;
        if (totalBytes > bytesMax) controller.error(payloadTooLarge(bytesMax, 'an uploaded file'));
        else controller.enqueue(chunk);
      },
    }),
  );
  return { stream, exceeded: () => totalBytes > bytesMax };
}
