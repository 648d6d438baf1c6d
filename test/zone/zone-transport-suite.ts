import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ZoneMessage, ZoneTransport } from '../../kernel/contracts/zone-transport.ts';
import type { Message } from '../../kernel/raft/message.ts';

/** Two transports that can reach each other (two processes, or two endpoints of one network). */
export interface ZoneTransportPair {
  readonly first: ZoneTransport;
  readonly firstAddress: string;
  readonly second: ZoneTransport;
  readonly secondAddress: string;
  /** Closes both transports and whatever else the pair opened. */
  close(): Promise<void>;
}

/** How long the suite waits for a message that should arrive (a network transport needs real time). */
const ARRIVAL_WAIT_MS_MAX = 5_000;
const POLL_INTERVAL_MS = 5;
/** How long the suite gives a message that must not arrive before it concludes it did not. */
const ABSENCE_WAIT_MS = 50;

const ZONE = 'suite-zone';

/**
 * The ZoneTransport conformance suite (kernel/contracts/zone-transport.ts): every transport's test
 * calls it with a factory of connected pairs, in every runtime where the transport exists. Each
 * test checks one sentence of the contract.
 */
export function runZoneTransportSuite(name: string, factory: () => Promise<ZoneTransportPair>): void {
  describe(`ZoneTransport conformance: ${name}`, () => {
    let pair: ZoneTransportPair;

    beforeEach(async () => {
      pair = await factory();
    });

    afterEach(async () => {
      await pair.close();
    });

    it('delivers a message to the receiver of (zone, message.to), with its entries intact', async () => {
      const received: ZoneMessage[] = [];
      pair.second.listen({ zoneId: ZONE, nodeId: 2, receive: (message) => received.push(message) });
      pair.first.setPeer(ZONE, 2, pair.secondAddress);
      const data = Uint8Array.from({ length: 300 }, (_, index) => index % 256);
      pair.first.send(ZONE, appendMessage(1, 2, data));
      await eventually(() => received.length === 1);
      const [message] = received;
      expect(message).toMatchObject({ type: 'append', from: 1, to: 2, term: 3, logIndex: 4, logTerm: 3, commit: 4 });
      expect(message!.type === 'append' && Array.from(message.entries[0]!.data)).toEqual(Array.from(data));
    });

    it('delivers nothing to another node or another zone than the one named', async () => {
      const wrongNode: ZoneMessage[] = [];
      const wrongZone: ZoneMessage[] = [];
      pair.second.listen({ zoneId: ZONE, nodeId: 3, receive: (message) => wrongNode.push(message) });
      pair.second.listen({ zoneId: 'other-zone', nodeId: 2, receive: (message) => wrongZone.push(message) });
      const right: ZoneMessage[] = [];
      pair.second.listen({ zoneId: ZONE, nodeId: 2, receive: (message) => right.push(message) });
      pair.first.setPeer(ZONE, 2, pair.secondAddress);
      pair.first.send(ZONE, heartbeat(1, 2));
      await eventually(() => right.length === 1);
      await pause(ABSENCE_WAIT_MS);
      expect([wrongNode.length, wrongZone.length]).toEqual([0, 0]);
    });

    it('never delivers from inside send', async () => {
      let insideSend = false;
      let deliveredInside = false;
      pair.second.listen({ zoneId: ZONE, nodeId: 2, receive: () => (deliveredInside ||= insideSend) });
      pair.first.listen({ zoneId: ZONE, nodeId: 1, receive: () => (deliveredInside ||= insideSend) });
      pair.first.setPeer(ZONE, 2, pair.secondAddress);
      insideSend = true;
      pair.first.send(ZONE, heartbeat(1, 2));
      insideSend = false;
      await pause(ABSENCE_WAIT_MS);
      expect(deliveredInside).toBe(false);
    });

    it('drops a message to a node without an address, and never throws for it', async () => {
      expect(() => pair.first.send(ZONE, heartbeat(1, 9))).not.toThrow();
    });

    it('stops delivering after the registration is removed, and after removePeer', async () => {
      const received: ZoneMessage[] = [];
      const stop = pair.second.listen({ zoneId: ZONE, nodeId: 2, receive: (message) => received.push(message) });
      pair.first.setPeer(ZONE, 2, pair.secondAddress);
      pair.first.send(ZONE, heartbeat(1, 2));
      await eventually(() => received.length === 1);
      stop();
      stop();
      pair.first.send(ZONE, heartbeat(1, 2));
      await pause(ABSENCE_WAIT_MS);
      expect(received).toHaveLength(1);
      pair.second.listen({ zoneId: ZONE, nodeId: 2, receive: (message) => received.push(message) });
      pair.first.removePeer(ZONE, 2);
      pair.first.removePeer(ZONE, 2);
      pair.first.send(ZONE, heartbeat(1, 2));
      await pause(ABSENCE_WAIT_MS);
      expect(received).toHaveLength(1);
    });

    it('refuses a second receiver for one (zone, node) with EBUSY, and malformed ids and addresses with EINVAL', () => {
      pair.first.listen({ zoneId: ZONE, nodeId: 1, receive: () => {} });
      expect(() => pair.first.listen({ zoneId: ZONE, nodeId: 1, receive: () => {} })).toThrow(expect.objectContaining({ code: 'EBUSY' }));
      expect(() => pair.first.listen({ zoneId: 'Not A Zone', nodeId: 1, receive: () => {} })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => pair.first.listen({ zoneId: ZONE, nodeId: 0, receive: () => {} })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => pair.first.setPeer(ZONE, 2, '')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => pair.first.setPeer(ZONE, 1.5, pair.secondAddress)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    });

    it('after close: listen and setPeer throw ECLOSED, send drops silently, close is idempotent', async () => {
      await pair.first.close();
      await pair.first.close();
      expect(() => pair.first.listen({ zoneId: ZONE, nodeId: 1, receive: () => {} })).toThrow(expect.objectContaining({ code: 'ECLOSED' }));
      expect(() => pair.first.setPeer(ZONE, 2, pair.secondAddress)).toThrow(expect.objectContaining({ code: 'ECLOSED' }));
      expect(() => pair.first.send(ZONE, heartbeat(1, 2))).not.toThrow();
    });
  });
}

function heartbeat(from: number, to: number): Message {
  return { type: 'heartbeat', from, to, term: 1, commit: 0, context: undefined };
}

function appendMessage(from: number, to: number, data: Uint8Array): Message {
  return { type: 'append', from, to, term: 3, logIndex: 4, logTerm: 3, commit: 4, entries: [{ index: 5, term: 3, type: 'normal', data }] };
}

async function eventually(condition: () => boolean): Promise<void> {
  for (let waited = 0; waited <= ARRIVAL_WAIT_MS_MAX; waited += POLL_INTERVAL_MS) {
    if (condition()) return;
    await pause(POLL_INTERVAL_MS);
  }
  throw new Error(`the message did not arrive within ${ARRIVAL_WAIT_MS_MAX} ms`);
}

function pause(durationMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, durationMs));
}
