/** Keys and ranges that both the range tests and the paging tests of the Metastore suite scan. */
import type { MetastoreScanOptions } from '../../../kernel/contracts/metastore.ts';
import { bytes, utf8 } from '../test-bytes.ts';

export const RANGE_KEYS = ['a', 'a/', 'a/1', 'a/2', 'a/2/x', 'a/3', 'a0', 'b', 'b/1', 'c'];

/** Scan options and the keys they select from RANGE_KEYS, in forward order. */
export const RANGE_CASES: { title: string; options: MetastoreScanOptions; expected: string[] }[] = [
  { title: 'no bounds', options: {}, expected: RANGE_KEYS },
  { title: 'prefix', options: { prefix: utf8('a/') }, expected: ['a/', 'a/1', 'a/2', 'a/2/x', 'a/3'] },
  { title: 'prefix equal to a whole key', options: { prefix: utf8('a/2') }, expected: ['a/2', 'a/2/x'] },
  { title: 'empty prefix', options: { prefix: new Uint8Array(0) }, expected: RANGE_KEYS },
  { title: 'prefix matching nothing', options: { prefix: utf8('zz') }, expected: [] },
  { title: 'start inclusive, end exclusive', options: { start: utf8('a/2'), end: utf8('b') }, expected: ['a/2', 'a/2/x', 'a/3', 'a0'] },
  { title: 'start only', options: { start: utf8('b') }, expected: ['b', 'b/1', 'c'] },
  { title: 'start between keys', options: { start: utf8('a/25') }, expected: ['a/3', 'a0', 'b', 'b/1', 'c'] },
  { title: 'end only', options: { end: utf8('a/') }, expected: ['a'] },
  { title: 'empty start', options: { start: new Uint8Array(0), end: utf8('a/') }, expected: ['a'] },
  { title: 'start equal to end', options: { start: utf8('a/2'), end: utf8('a/2') }, expected: [] },
  { title: 'start after the last key', options: { start: utf8('d') }, expected: [] },
  { title: 'prefix narrowed by start', options: { prefix: utf8('a/'), start: utf8('a/2') }, expected: ['a/2', 'a/2/x', 'a/3'] },
  { title: 'prefix narrowed by end', options: { prefix: utf8('a/'), end: utf8('a/3') }, expected: ['a/', 'a/1', 'a/2', 'a/2/x'] },
  {
    title: 'prefix with bounds outside it',
    options: { prefix: utf8('a/'), start: utf8('a'), end: utf8('z') },
    expected: ['a/', 'a/1', 'a/2', 'a/2/x', 'a/3'],
  },
  { title: 'prefix with start beyond it', options: { prefix: utf8('a/'), start: utf8('b') }, expected: [] },
  { title: 'prefix with end before it', options: { prefix: utf8('a/'), end: utf8('a') }, expected: [] },
];

/** Keys that end in 0xff bytes, where "the first key after this prefix" has to carry. */
export const HIGH_BYTE_KEYS = [
  bytes(0xfe),
  bytes(0xfe, 0xff),
  bytes(0xfe, 0xff, 0x00),
  bytes(0xfe, 0xff, 0xff),
  bytes(0xff),
  bytes(0xff, 0x00),
  bytes(0xff, 0xff),
  bytes(0xff, 0xff, 0x01),
];

export const HIGH_BYTE_CASES: { prefix: Uint8Array; expected: Uint8Array[] }[] = [
  { prefix: bytes(0xfe, 0xff), expected: [bytes(0xfe, 0xff), bytes(0xfe, 0xff, 0x00), bytes(0xfe, 0xff, 0xff)] },
  { prefix: bytes(0xff), expected: [bytes(0xff), bytes(0xff, 0x00), bytes(0xff, 0xff), bytes(0xff, 0xff, 0x01)] },
  { prefix: bytes(0xff, 0xff), expected: [bytes(0xff, 0xff), bytes(0xff, 0xff, 0x01)] },
  { prefix: bytes(0xfe), expected: [bytes(0xfe), bytes(0xfe, 0xff), bytes(0xfe, 0xff, 0x00), bytes(0xfe, 0xff, 0xff)] },
];
