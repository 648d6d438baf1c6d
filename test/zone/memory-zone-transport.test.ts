import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import { describe, expect, it } from 'vitest';
import { MemoryZoneNetwork } from '../../drivers/memory/zone-transport.ts';
import type { Message } from '../../kernel/raft/message.ts';
import { runZoneTransportSuite } from './zone-transport-suite.ts';

runZoneTransportSuite('MemoryZoneNetwork endpoints', async () => {
  const network = new MemoryZoneNetwork();
  const first = network.endpoint('memory:first');
  const second = network.endpoint('memory:second');
  return {
    first,
    firstAddress: 'memory:first',
    second,
    secondAddress: 'memory:second',
    async close() {
      await first.close();
      await second.close();
    },
  };
});

function heartbeat(from: number, to: number): Message {
  return { type: 'heartbeat', from, to, term: 1, commit: 0, context: undefined };
}

describe('MemoryZoneNetwork fault controls', () => {
  async function connected() {
    const network = new MemoryZoneNetwork();
    const a = network.endpoint('a');
    const b = network.endpoint('b');
    const received: ZoneMessage[] = [];
    b.listen({ zoneId: 'z', nodeId: 2, receive: (message) => received.push(message) });
    a.setPeer('z', 2, 'b');
    return { network, a, b, received };
  }

  it('drops every message of an isolated endpoint until healed', async () => {
    const { network, a, received } = await connected();
    network.isolate('a');
    a.send('z', heartbeat(1, 2));
    await network.settle();
    expect(received).toHaveLength(0);
    network.heal();
    a.send('z', heartbeat(1, 2));
    await network.settle();
    expect(received).toHaveLength(1);
    expect([network.deliveredCount, network.droppedCount]).toEqual([1, 1]);
  });

  it('cuts links between partitioned groups in both directions, and one direction with cutLink', async () => {
    const { network, a, b, received } = await connected();
    const back: ZoneMessage[] = [];
    a.listen({ zoneId: 'z', nodeId: 1, receive: (message) => back.push(message) });
    b.setPeer('z', 1, 'a');
    network.partition(['a'], ['b']);
    a.send('z', heartbeat(1, 2));
    b.send('z', heartbeat(2, 1));
    await network.settle();
    expect([received.length, back.length]).toEqual([0, 0]);
    network.heal();
    network.cutLink('a', 'b');
    a.send('z', heartbeat(1, 2));
    b.send('z', heartbeat(2, 1));
    await network.settle();
    expect([received.length, back.length]).toEqual([0, 1]);
  });

  it('drops what the drop rule chooses', async () => {
    const { network, a, received } = await connected();
    network.dropRule = (delivery) => delivery.message.type === 'heartbeat';
    a.send('z', heartbeat(1, 2));
    a.send('z', { type: 'timeout-now', from: 1, to: 2, term: 1 });
    await network.settle();
    expect(received.map((message) => message.type)).toEqual(['timeout-now']);
  });

  it('tells the sender that a peer without an address is unreachable', async () => {
    const network = new MemoryZoneNetwork();
    const a = network.endpoint('a');
    const unreachable: number[] = [];
    a.listen({ zoneId: 'z', nodeId: 1, receive: () => {}, unreachable: (peer) => unreachable.push(peer) });
    a.send('z', heartbeat(1, 5));
    expect(unreachable).toEqual([5]);
  });

  it('refuses a second open endpoint at one address with EBUSY', () => {
    const network = new MemoryZoneNetwork();
    network.endpoint('a');
    expect(() => network.endpoint('a')).toThrow(expect.objectContaining({ code: 'EBUSY' }));
  });
});
