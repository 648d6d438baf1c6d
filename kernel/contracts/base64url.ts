/**
 * Base64url without padding (RFC 4648 section 5): bytes as text that is safe in URLs, headers and
 * JSON. Written here rather than through `btoa`/`Buffer` so the same code runs in every runtime and
 * decoding can be strict: only the canonical encoding of some byte string is accepted, so every
 * byte string has exactly one text form and a tampered or truncated string is detected.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const BITS_PER_CHARACTER = 6;
const BITS_PER_BYTE = 8;

const CHARACTER_VALUES: ReadonlyMap<string, number> = new Map(
  Array.from(ALPHABET, (character, value) => [character, value] as const),
);

export function encodeBase64url(bytes: Uint8Array): string {
  let text = '';
  let buffered = 0;
  let bufferedBits = 0;
  for (const byte of bytes) {
    buffered = (buffered << BITS_PER_BYTE) | byte;
    bufferedBits += BITS_PER_BYTE;
    while (bufferedBits >= BITS_PER_CHARACTER) {
      bufferedBits -= BITS_PER_CHARACTER;
      text += ALPHABET[(buffered >> bufferedBits) & 0x3f];
    }
    buffered &= (1 << bufferedBits) - 1;
  }
  if (bufferedBits > 0) text += ALPHABET[(buffered << (BITS_PER_CHARACTER - bufferedBits)) & 0x3f];
  return text;
}

/**
 * The bytes `text` encodes, or `undefined` when it is not the canonical unpadded base64url form of
 * any byte string (a character outside the alphabet, a length that no byte count produces, or
 * unused trailing bits that are not zero).
 */
export function decodeBase64url(text: string): Uint8Array | undefined {
  if (text.length % 4 === 1) return undefined;
  const bytes = new Uint8Array(Math.floor((text.length * BITS_PER_CHARACTER) / BITS_PER_BYTE));
  let buffered = 0;
  let bufferedBits = 0;
  let byteIndex = 0;
  for (const character of text) {
    const value = CHARACTER_VALUES.get(character);
    if (value === undefined) return undefined;
    buffered = (buffered << BITS_PER_CHARACTER) | value;
    bufferedBits += BITS_PER_CHARACTER;
    if (bufferedBits >= BITS_PER_BYTE) {
      bufferedBits -= BITS_PER_BYTE;
      bytes[byteIndex++] = (buffered >> bufferedBits) & 0xff;
      buffered &= (1 << bufferedBits) - 1;
    }
  }
  if (buffered !== 0) return undefined;
  return bytes;
}
