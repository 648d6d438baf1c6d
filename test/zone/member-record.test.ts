import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand, type MemberCommand } from '../../kernel/zone/command-codec.ts';
import { NODE_PUBLIC_KEY_BYTES } from '../../kernel/zone/constants.ts';
import { decodeMemberRecord, encodeMemberRecord } from '../../kernel/zone/member-record.ts';

/** The zone's membership records and commands with and without a node's public key (versioned encodings). */
const publicKey = new Uint8Array(NODE_PUBLIC_KEY_BYTES).map((_, index) => index);

describe('member records and commands', () => {
  it('round-trips a member command with and without a public key, promoted or not', () => {
    for (const key of [undefined, publicKey]) {
      for (const promote of [false, true]) {
        const command: MemberCommand = { kind: 'member', proposalId: 'p1', nodeId: 4, address: 'http://127.0.0.1:7004', publicKey: key, promote };
        expect(decodeCommand(encodeCommand(command))).toEqual(command);
      }
    }
  });

  it('reads a record without a key as the bare address of zones before node identity, and one with a key in its versioned form', () => {
    const legacy = new TextEncoder().encode('http://127.0.0.1:7001');
    expect(encodeMemberRecord({ address: 'http://127.0.0.1:7001' })).toEqual(legacy);
    expect(decodeMemberRecord(legacy)).toEqual({ address: 'http://127.0.0.1:7001' });
    const withKey = encodeMemberRecord({ address: 'http://127.0.0.1:7001', publicKey });
    expect(withKey[0]).toBe(0);
    expect(decodeMemberRecord(withKey)).toEqual({ address: 'http://127.0.0.1:7001', publicKey });
  });

  it('refuses a record no replica wrote with ECORRUPT: another format, a short key, trailing bytes, a bad address', () => {
    const good = encodeMemberRecord({ address: 'http://127.0.0.1:7001', publicKey });
    const otherFormat = Uint8Array.from(good);
    otherFormat[1] = 9;
    const shortKey = encodeMemberRecord({ address: 'http://127.0.0.1:7001', publicKey: publicKey.subarray(1) });
    const trailing = Uint8Array.of(...good, 0);
    const controlCharacter = new TextEncoder().encode('http://x\n');
    for (const bad of [otherFormat, shortKey, trailing, controlCharacter, new Uint8Array(0)]) {
      expect(() => decodeMemberRecord(bad)).toThrow(expect.objectContaining({ code: 'ECORRUPT' }));
    }
  });
});
