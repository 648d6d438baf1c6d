import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64url, encodeBase64url } from './base64url.ts';

describe('base64url', () => {
  it('encodes the RFC 4648 test vectors, without padding', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [text, encoded] of vectors) {
      expect(encodeBase64url(new TextEncoder().encode(text))).toBe(encoded);
      expect(decodeBase64url(encoded)).toEqual(new TextEncoder().encode(text));
    }
  });

  it('uses - and _ where base64 uses + and /', () => {
    expect(encodeBase64url(new Uint8Array([0xfb, 0xff]))).toBe('-_8');
  });

  it('round-trips every byte string', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (value) => {
        expect(decodeBase64url(encodeBase64url(value))).toEqual(Uint8Array.from(value));
      }),
    );
  });

  it('accepts only canonical encodings', () => {
    for (const text of ['Zg==', 'Z', 'Zh', 'Zm+v', 'Zm/v', 'Zm9v\n', 'Zm 9v', '\u00e9\u00e9']) {
      expect(decodeBase64url(text), JSON.stringify(text)).toBeUndefined();
    }
  });
});
