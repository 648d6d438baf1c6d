import { describe, expect, it } from 'vitest';
import { CONTENT_ID_SYNC_BYTES_MAX, ContentHasher, contentIdOf } from './content-id.ts';

/** FIPS 180-2's one-block vector: SHA-256 of "abc". */
const ABC_ID = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

/** Bytes that differ at every position, so a hash of a shifted or truncated view would not match. */
function patterned(sizeBytes: number): Uint8Array {
  const bytes = new Uint8Array(sizeBytes);
  for (let index = 0; index < sizeBytes; index++) bytes[index] = (index * 31 + (index >>> 8)) & 0xff;
  return bytes;
}

/** The id by WebCrypto alone, whatever size: the reference for the pure-JS path. */
async function webCryptoId(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The id by the incremental hasher, in uneven chunks: the reference for the WebCrypto path. */
function incrementalId(bytes: Uint8Array): string {
  const hasher = new ContentHasher();
  for (let offset = 0; offset < bytes.byteLength; offset += 10_007) hasher.update(bytes.subarray(offset, offset + 10_007));
  return hasher.digest();
}

describe('contentIdOf', () => {
  it('is the lowercase hex SHA-256 of the bytes', async () => {
    expect(await contentIdOf(new TextEncoder().encode('abc'))).toBe(ABC_ID);
  });

  // Small buffers are hashed in JS and large ones by WebCrypto: both sides of the threshold, and
  // the threshold itself, must give the same id as the other implementation.
  for (const sizeBytes of [0, 1, 55, 56, 64, CONTENT_ID_SYNC_BYTES_MAX - 1, CONTENT_ID_SYNC_BYTES_MAX, CONTENT_ID_SYNC_BYTES_MAX + 1, 3 * CONTENT_ID_SYNC_BYTES_MAX + 17]) {
    it(`agrees with WebCrypto and the incremental hasher for ${sizeBytes} bytes`, async () => {
      const bytes = patterned(sizeBytes);
      const id = await contentIdOf(bytes);
      expect(id).toBe(await webCryptoId(bytes));
      expect(id).toBe(incrementalId(bytes));
    });
  }

  it('hashes only the bytes of a view, not the rest of its buffer', async () => {
    const whole = patterned(CONTENT_ID_SYNC_BYTES_MAX * 3);
    for (const view of [whole.subarray(7, 107), whole.subarray(5, 5 + CONTENT_ID_SYNC_BYTES_MAX * 2)]) {
      expect(await contentIdOf(view)).toBe(await contentIdOf(view.slice()));
    }
  });
});
