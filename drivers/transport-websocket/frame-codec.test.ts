import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import { decodeFrame, encodeFrame, FRAME_FORMAT_VERSION, packValue, type Frame } from './frame-codec.ts';
import { SNAPSHOT_CHUNK_ENCODED_BYTES_MAX } from '../../kernel/zone/constants.ts';
import { FRAME_BYTES_MAX } from './limits.ts';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const nonce = (fill: number): Uint8Array => new Uint8Array(32).fill(fill);
const header = { from: 1, to: 2, term: 7 };

/** One message of every type, with every optional field both present and absent somewhere. */
const EVERY_MESSAGE: ZoneMessage[] = [
  {
    ...header,
    type: 'append',
    logIndex: 10,
    logTerm: 6,
    commit: 9,
    entries: [
      { term: 7, index: 11, type: 'normal', data: bytes(1, 2, 3) },
      { term: 7, index: 12, type: 'config-change', data: bytes() },
    ],
  },
  { ...header, type: 'append-response', index: 12, reject: true, rejectHint: 8, hintTerm: 5 },
  { ...header, type: 'vote', lastLogIndex: 3, lastLogTerm: 2, transfer: false },
  { ...header, type: 'pre-vote', lastLogIndex: 3, lastLogTerm: 2, transfer: true },
  { ...header, type: 'vote-response', reject: false, commit: 4, commitTerm: 2 },
  { ...header, type: 'pre-vote-response', reject: true, commit: 0, commitTerm: 0 },
  { ...header, type: 'heartbeat', commit: 5, context: undefined },
  { ...header, type: 'heartbeat', commit: 5, context: 'read-17' },
  { ...header, type: 'heartbeat-response', context: 'read-17' },
  { ...header, type: 'heartbeat-response', context: undefined },
  {
    ...header,
    type: 'snapshot',
    snapshot: { metadata: { index: 100, term: 6, confState: { voters: [1, 2, 3], learners: [4] } }, data: bytes(9, 9) },
  },
  {
    ...header,
    type: 'snapshot',
    snapshot: {
      metadata: {
        index: 100,
        term: 6,
        confState: { voters: [1, 2], learners: [], votersOutgoing: [1, 2, 3], learnersNext: [3], autoLeave: true },
      },
      data: bytes(),
    },
  },
  { from: 2, to: 1, term: 0, type: 'propose', entries: [{ term: 0, index: 0, type: 'normal', data: bytes(42) }] },
  { from: 2, to: 1, term: 0, type: 'read-index', context: 'c1' },
  { ...header, type: 'read-index-response', index: 40, context: 'c1' },
  { ...header, type: 'transfer-leader', transferee: 3 },
  { ...header, type: 'timeout-now' },
  {
    ...header,
    type: 'snapshot-chunk',
    transferId: 3,
    snapshot: { metadata: { index: 100, term: 6, confState: { voters: [1, 2, 3], learners: [] } }, data: bytes(2) },
    chunk: 0,
    last: false,
    data: bytes(1, 2, 3, 4),
  },
  {
    ...header,
    type: 'snapshot-chunk',
    transferId: 3,
    snapshot: { metadata: { index: 100, term: 6, confState: { voters: [1], learners: [2] } }, data: bytes(2) },
    chunk: 41,
    last: true,
    data: bytes(),
  },
  { ...header, type: 'snapshot-chunk-response', transferId: 3, chunk: 41, reject: false },
  { ...header, type: 'snapshot-chunk-response', transferId: 4, chunk: 2, reject: true },
  { ...header, type: 'snapshot-chunk-response', transferId: 5, chunk: 6, reject: false, resumeAfter: Uint8Array.of(0x2f, 0x61) },
];

describe('frame codec', () => {
  it('round-trips every zone message type (raft messages and snapshot chunks)', () => {
    const decoded = decodeFrame(encodeFrame({ kind: 'raft', messages: EVERY_MESSAGE }));
    expect(decoded).toEqual({ kind: 'raft', messages: EVERY_MESSAGE });
  });

  it('hands out entry data as plain Uint8Arrays', () => {
    const decoded = decodeFrame(encodeFrame({ kind: 'raft', messages: [EVERY_MESSAGE[0]!] }));
    assertKind(decoded, 'raft');
    const message = decoded.messages[0]!;
    assertKind(message, 'append');
    expect(message.entries[0]!.data.constructor).toBe(Uint8Array);
    expect([...message.entries[0]!.data]).toEqual([1, 2, 3]);
  });

  it('round-trips the handshake frames', () => {
    const frames: Frame[] = [
      { kind: 'hello', zoneId: 'zone-1', from: 3, to: 1, clientNonce: nonce(1) },
      { kind: 'challenge', serverNonce: nonce(2), serverProof: nonce(3), serverSignature: new Uint8Array(64).fill(5) },
      { kind: 'authenticate', clientProof: nonce(4), clientSignature: new Uint8Array(64).fill(6) },
      { kind: 'welcome' },
      { kind: 'refused', code: 'EACCES', message: 'wrong zone secret' },
      { kind: 'removed', removalProof: nonce(7), removalSignature: new Uint8Array(64).fill(8) },
    ];
    for (const frame of frames) expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
  });

  it('refuses another format version, naming both versions', () => {
    const frame = packValue([FRAME_FORMAT_VERSION + 1, 4]);
    expect(() => decodeFrame(frame)).toThrow(InvalidArgumentError);
    expect(() => decodeFrame(frame)).toThrow(`format version ${FRAME_FORMAT_VERSION + 1}: this node speaks version ${FRAME_FORMAT_VERSION}`);
  });

  it('refuses a frame of version 3 (before the removed frame) with EINVAL naming both versions', () => {
    const welcome = packValue([3, 4]);
    expect(() => decodeFrame(welcome)).toThrow(expect.objectContaining({ code: 'EINVAL', message: `cannot decode a frame of format version 3: this node speaks version ${FRAME_FORMAT_VERSION}` }));
  });

  it('refuses bytes that are not one MessagePack value', () => {
    const good = encodeFrame({ kind: 'welcome' });
    const cases: Uint8Array[] = [
      bytes(),
      bytes(0xc1), // never used in MessagePack
      good.subarray(0, good.length - 1), // truncated
      new Uint8Array([...good, 0x00]), // trailing bytes
      packValue([FRAME_FORMAT_VERSION, 6, [[1, 1, 2, 3, 0, 0, [[1, 1, 0, bytes(1)]]]]]).subarray(0, 12),
    ];
    for (const frame of cases) {
      expect(() => decodeFrame(frame), `frame ${[...frame].join(',')}`).toThrow(InvalidArgumentError);
    }
  });

  it('refuses frames of the wrong shape, naming the field', () => {
    const raft = (message: unknown[]): Uint8Array => packValue([FRAME_FORMAT_VERSION, 6, [message]]);
    const cases: [Uint8Array, string][] = [
      [packValue({ version: 1 }), 'frame'],
      [packValue([FRAME_FORMAT_VERSION, 99]), 'frame kind'],
      [packValue([FRAME_FORMAT_VERSION, 4, 'extra']), 'welcome frame'],
      [packValue([FRAME_FORMAT_VERSION, 1, 'Zone!', 1, 2, nonce(0)]), 'hello zone id'],
      [packValue([FRAME_FORMAT_VERSION, 1, 'zone', 0, 2, nonce(0)]), 'hello sender'],
      [packValue([FRAME_FORMAT_VERSION, 1, 'zone', 1, 2, bytes(1, 2)]), 'hello nonce'],
      [packValue([FRAME_FORMAT_VERSION, 7, nonce(1)]), 'removed frame'],
      [packValue([FRAME_FORMAT_VERSION, 7, bytes(1, 2), new Uint8Array(64)]), 'removal proof'],
      [packValue([FRAME_FORMAT_VERSION, 7, nonce(1), new Uint8Array(63)]), 'removal signature'],
      [raft([99, 1, 2, 0]), 'raft message type'],
      [raft([14, 0, 2, 0]), 'raft message sender'],
      [raft([14, 1, 2, -1]), 'raft message term'],
      [raft([14, 1, 2, 1.5]), 'raft message term'],
      [raft([14, 1, 2, 1, 'extra']), 'raft timeout-now message'],
      [raft([1, 1, 2, 1, 0, 0, [[1, 1, 7, bytes()]], 0]), 'raft entry type'],
      [raft([1, 1, 2, 1, 0, 0, [[1, 1, 0, 'text']], 0]), 'raft entry data'],
      [raft([2, 1, 2, 1, 0, 'yes', 0, 0]), 'append response reject'],
      [raft([11, 1, 2, 0, '']), 'read context'],
      [raft([11, 1, 2, 0, 'x'.repeat(257)]), 'read context'],
      [raft([9, 1, 2, 1, [1, 1, [[2, 1], [], null, null, null], bytes()]]), 'raft voters'],
      [raft([15, 1, 2, 1, 3, [1, 1, [[1], [], null, null, null], bytes()], 0, false, new Uint8Array(SNAPSHOT_CHUNK_ENCODED_BYTES_MAX + 1)]), 'snapshot chunk data'],
      [raft([16, 1, 2, 1, 3, -1, false]), 'snapshot chunk response number'],
    ];
    for (const [frame, field] of cases) {
      expect(() => decodeFrame(frame), field).toThrow(`cannot decode ${field}`);
    }
  });

  it('refuses frames above the size bound on both sides', () => {
    const oversized = new Uint8Array(FRAME_BYTES_MAX + 1);
    expect(() => decodeFrame(oversized)).toThrow(`at most ${FRAME_BYTES_MAX}`);
    const snapshot: ZoneMessage = {
      ...header,
      type: 'snapshot',
      snapshot: { metadata: { index: 1, term: 1, confState: { voters: [1], learners: [] } }, data: oversized },
    };
    expect(() => encodeFrame({ kind: 'raft', messages: [snapshot] })).toThrow(InvalidArgumentError);
  });
});

function assertKind<T extends { kind?: string; type?: string }, K extends string>(value: T, kind: K): asserts value is Extract<T, { kind: K } | { type: K }> {
  expect(value.kind ?? value.type).toBe(kind);
}
