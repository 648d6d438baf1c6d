import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import { ENTRY_PAYLOAD_SIZE_BYTES_MAX, ProposalDroppedError } from '../../kernel/raft/index.ts';
import { TestCluster } from './test-cluster.ts';

const encoder = new TextEncoder();

describe('RawNode.proposeBatch', () => {
  it('appends every payload in one append message per follower, and commits them in order', () => {
    const cluster = new TestCluster([1, 2, 3]);
    cluster.elect(1);
    cluster.raw(1).proposeBatch(['a', 'b', 'c'].map((text) => encoder.encode(text)));
    const ready = cluster.processReady(1)!;
    const appends = ready.messages.filter((message) => message.type === 'append');
    expect(appends).toHaveLength(2);
    for (const append of appends) expect(append.type === 'append' && append.entries.map((entry) => new TextDecoder().decode(entry.data))).toEqual(['a', 'b', 'c']);
    cluster.stabilize();
    const log = cluster.raw(2).logEntries(Infinity).map((entry) => new TextDecoder().decode(entry.data)).filter((text) => text.length > 0);
    expect(log).toEqual(['a', 'b', 'c']);
  });

  it('accepts none when one payload is too large, and none without a leader', () => {
    const cluster = new TestCluster([1, 2, 3]);
    expect(() => cluster.raw(1).proposeBatch([encoder.encode('a')])).toThrow(ProposalDroppedError);
    cluster.elect(1);
    const lastIndex = cluster.raw(1).status().lastIndex;
    expect(() => cluster.raw(1).proposeBatch([encoder.encode('a'), new Uint8Array(ENTRY_PAYLOAD_SIZE_BYTES_MAX + 1)])).toThrow(InvalidArgumentError);
    cluster.raw(1).proposeBatch([]);
    expect(cluster.raw(1).status().lastIndex).toBe(lastIndex);
  });
});
