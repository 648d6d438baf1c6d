import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { InvalidArgumentError } from './errors.ts';

/**
 * Content ids are the lowercase hex SHA-256 of a blob's bytes.
 *
 * Large buffers are hashed with WebCrypto, which every runtime has and which is native code; small
 * ones with @noble/hashes (see CONTENT_ID_SYNC_BYTES_MAX). Streams are hashed incrementally with
 * @noble/hashes, because WebCrypto has no incremental digest and a stream may be far larger than
 * memory.
 */
export const CONTENT_ID_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Below this size the pure-JS hash is faster than a WebCrypto round trip: WebCrypto's digest is
 * asynchronous (a thread hop in Node, a task in browsers) and costs tens of microseconds however
 * small the input, while hashing 64 KiB in JS takes a few hundred.
 */
export const CONTENT_ID_SYNC_BYTES_MAX = 64 * 1024;

export async function contentIdOf(bytes: Uint8Array): Promise<string> {
  if (bytes.byteLength <= CONTENT_ID_SYNC_BYTES_MAX) return bytesToHex(sha256(bytes));
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return bytesToHex(new Uint8Array(digest));
}

/** An incremental hasher: `update` with each chunk, then `digest` once. */
export class ContentHasher {
  readonly #hash = sha256.create();
  #sizeBytes = 0;

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#sizeBytes += chunk.byteLength;
  }

  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  digest(): string {
    return bytesToHex(this.#hash.digest());
  }
}

export function assertContentId(id: string): void {
  if (typeof id !== 'string' || !CONTENT_ID_PATTERN.test(id)) {
    throw new InvalidArgumentError(`malformed content id ${JSON.stringify(id)}: expected 64 lowercase hex digits`);
  }
}
