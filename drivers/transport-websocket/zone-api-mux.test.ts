import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import { ZoneTestCluster } from '../../test/zone/zone-cluster.ts';
import { packValue } from './frame-codec.ts';
import { createZoneSecret, formatJoinToken, parseJoinToken } from './join-token.ts';
import { createZoneApiCore, nodeStatusOf, type ZoneApiCore, type ZoneNodeStatus } from './zone-api-app.ts';
import { batchRequestPayload, decodeApiBody, encodeApiBody } from './zone-api-codec.ts';
import {
  decodeMuxAnswers,
  decodeMuxCalls,
  encodeMuxAnswers,
  encodeMuxCalls,
  ZONE_API_MUX_BUFFERED_BYTES_MAX,
  ZONE_API_MUX_CALLS_PER_MESSAGE_MAX,
  ZONE_API_MUX_VERSION,
  ZoneApiMuxSession,
  type ZoneApiMuxAnswer,
} from './zone-api-mux.ts';

/**
 * The ZoneApi mux channel's messages and the node's session, in every runtime: a session runs
 * calls through a real ZoneApiCore of a zone in one process (memory transport). The channel over
 * real sockets is runtimes/node/node-mux-exchange.node.test.ts.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let cluster: ZoneTestCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function zoneCore(): Promise<{ core: ZoneApiCore; token: string }> {
  cluster = await ZoneTestCluster.start();
  const replica = cluster.replica(1);
  const token = formatJoinToken({ zoneId: cluster.zoneId, zoneSecret: createZoneSecret() });
  const status = (): ZoneNodeStatus => ({ ...nodeStatusOf(replica.status()), ticks: 0, tickIntervalMs: 1, electionTimeoutTicks: 10, peers: [] });
  return { core: createZoneApiCore({ replica, token: parseJoinToken(token), status }), token };
}

/** A session whose socket records what it sends and reports `buffered()` bytes unsent. */
function session(core: ZoneApiCore, token: string, buffered: () => number): { session: ZoneApiMuxSession; answers: () => Promise<ZoneApiMuxAnswer[]>; closes: [number, string][] } {
  const sent: Uint8Array[] = [];
  const closes: [number, string][] = [];
  const muxSession = new ZoneApiMuxSession({
    core,
    authorization: `Bearer ${token}`,
    socket: { send: (bytes) => sent.push(bytes), close: (code, reason) => closes.push([code, reason]), bufferedBytes: buffered },
    scheduleFlush: (flush) => setTimeout(flush, 0),
  });
  const answers = async (): Promise<ZoneApiMuxAnswer[]> => {
    while (sent.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    return decodeMuxAnswers(sent.shift()!);
  };
  return { session: muxSession, answers, closes };
}

describe('ZoneApi mux session', () => {
  it('runs the calls of a message through the core, answering those settled in one turn in one message, errors as the POST routes answer them', async () => {
    const { core, token } = await zoneCore();
    const { session: mux, answers } = session(core, token, () => 0);
    mux.receive(
      encodeMuxCalls([
        { id: 1, route: 'batch', body: encodeApiBody(batchRequestPayload({ consistency: 'strong', operations: [{ type: 'put', key: encoder.encode('k'), value: encoder.encode('v') }], preconditions: [] })) },
        { id: 2, route: 'remove-node', body: encodeApiBody({}) },
        { id: 3, route: 'nope', body: encodeApiBody({}) },
      ]),
    );
    // The two refusals settle in the same turn, so they leave in one message; the commit follows.
    const first = await answers();
    expect(first.map((answer) => answer.id).filter((id) => id !== 1).sort()).toEqual([2, 3]);
    const received = [...first];
    while (received.length < 3) received.push(...(await answers()));
    const byId = new Map(received.map((answer) => [answer.id, answer]));
    expect(byId.get(1)!.status).toBe(200);
    expect(decodeApiBody(byId.get(1)!.body).version).toBeGreaterThan(0);
    expect([byId.get(2)!.status, JSON.parse(decoder.decode(byId.get(2)!.body)).error.code]).toEqual([400, 'EINVAL']);
    expect([byId.get(3)!.status, JSON.parse(decoder.decode(byId.get(3)!.body)).error.code]).toEqual([404, 'ENOENT']);
  });

  it('answers 503 EBUSY while its socket holds more answers unread than ZONE_API_MUX_BUFFERED_BYTES_MAX, and serves again once they are read', async () => {
    const { core, token } = await zoneCore();
    let buffered = ZONE_API_MUX_BUFFERED_BYTES_MAX + 1;
    const { session: mux, answers } = session(core, token, () => buffered);
    const get = (id: number): Uint8Array => encodeMuxCalls([{ id, route: 'get', body: encodeApiBody({ key: encoder.encode('absent') }) }]);
    mux.receive(get(1));
    const [busy] = await answers();
    expect(busy).toMatchObject({ id: 1, status: 503 });
    expect(JSON.parse(decoder.decode(busy!.body))).toMatchObject({ error: { code: 'EBUSY', message: expect.stringContaining('has not read') } });
    buffered = 0;
    mux.receive(get(2));
    expect(await answers()).toMatchObject([{ id: 2, status: 200 }]);
  });

  it('closes with 4007 and the reason on a message it cannot read, and then ignores the socket', async () => {
    const { core, token } = await zoneCore();
    const { session: mux, closes } = session(core, token, () => 0);
    mux.receive(packValue([ZONE_API_MUX_VERSION + 1, []]));
    expect(closes).toHaveLength(1);
    expect(closes[0]![0]).toBe(4007);
    expect(closes[0]![1]).toMatch(new RegExp(`version ${ZONE_API_MUX_VERSION + 1}`));
    mux.receive(Uint8Array.of(0x92, 0x01));
    expect(closes).toHaveLength(1);
  });
});

describe('ZoneApi mux messages', () => {
  it('round-trip, and what is not one is refused with EINVAL naming the field', () => {
    const calls = [{ id: 1, route: 'get', body: Uint8Array.of(1, 2) }];
    expect(decodeMuxCalls(encodeMuxCalls(calls))).toEqual(calls);
    const answers = [{ id: 9, status: 503, body: Uint8Array.of(3) }];
    expect(decodeMuxAnswers(encodeMuxAnswers(answers))).toEqual(answers);
    expect(() => decodeMuxCalls(packValue([ZONE_API_MUX_VERSION, [[-1, 'get', Uint8Array.of()]]]))).toThrow(InvalidArgumentError);
    expect(() => decodeMuxCalls(packValue([ZONE_API_MUX_VERSION, [[1, 'x'.repeat(65), Uint8Array.of()]]]))).toThrow(/call route/);
    const tooMany = Array.from({ length: ZONE_API_MUX_CALLS_PER_MESSAGE_MAX + 1 }, (_, id) => [id, 'get', Uint8Array.of()]);
    expect(() => decodeMuxCalls(packValue([ZONE_API_MUX_VERSION, tooMany]))).toThrow(new RegExp(`at most ${ZONE_API_MUX_CALLS_PER_MESSAGE_MAX}`));
    expect(() => decodeMuxAnswers(packValue([ZONE_API_MUX_VERSION, [[1, 99, Uint8Array.of()]]]))).toThrow(/HTTP status/);
    expect(() => decodeMuxAnswers(packValue([ZONE_API_MUX_VERSION + 1, []]))).toThrow(new RegExp(`version ${ZONE_API_MUX_VERSION + 1}`));
    expect(() => decodeMuxCalls(Uint8Array.of(0x92, 0x01))).toThrow(/not well-formed MessagePack/);
  });
});
