import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.ts';

const encoder = new TextEncoder();

describe('crc32c', () => {
  it('matches the published check values', () => {
    // RFC 3720 (iSCSI) appendix B.4 and the CRC catalogue's check value for "123456789".
    expect(crc32c(encoder.encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, index) => index))).toBe(0x46dd794e);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('agrees with the bytewise definition at every length and alignment', () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, index) => (index * 131 + 7) & 0xff);
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= bytes.length; end += 7) {
        const slice = bytes.subarray(start, end);
        expect(crc32c(slice)).toBe(bytewiseCrc32c(slice));
      }
    }
  });
});

function bytewiseCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
