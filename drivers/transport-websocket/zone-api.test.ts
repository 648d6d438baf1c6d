import { afterEach, describe, expect, it } from 'vitest';
import { AccessDeniedError, BusyError, ConflictError, InvalidArgumentError, RemoteApiError } from '../../kernel/errors.ts';
import { ZoneTestCluster } from '../../test/zone/zone-cluster.ts';
import { packValue } from './frame-codec.ts';
import { generateNodeKeyPair } from './node-key.ts';
import { createZoneSecret, formatJoinToken, parseJoinToken } from './join-token.ts';
import { createZoneApi, ZONE_API_PATH, nodeStatusOf, type ZoneNodeStatus } from './zone-api-app.ts';
import { ZoneApiClient } from './zone-api-client.ts';
import { decodeApiBody, encodeApiBody, ZONE_API_CONTENT_TYPE, ZONE_API_FORMAT_VERSION } from './zone-api-codec.ts';
import { signAdminRequest, type AdminSigner } from './admin-request.ts';
import { ADMIN_CHALLENGE_LIFETIME_MS } from './limits.ts';

/**
 * The ZoneApi on real zone replicas (a three-node zone in one process on the memory transport,
 * driven tick by tick), through the real client, in every runtime.
 */

const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);
const text = (value: Uint8Array): string => new TextDecoder().decode(value);

let cluster: ZoneTestCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

interface ApiSetUp {
  cluster: ZoneTestCluster;
  token: string;
  client: (nodeId: number, tokenOverride?: string) => ZoneApiClient;
  /** A raw request to a node's app, driven like the client's. */
  request: (nodeId: number, path: string, init?: RequestInit) => Promise<Response>;
}

/** `now`: the clock the apps issue and expire admin challenges by. */
async function setUp(now?: () => number): Promise<ApiSetUp> {
  const started = await ZoneTestCluster.start();
  cluster = started;
  const token = formatJoinToken({ zoneId: started.zoneId, zoneSecret: createZoneSecret() });
  const apps = new Map<number, ReturnType<typeof createZoneApi>>();
  const appOf = (nodeId: number): ReturnType<typeof createZoneApi> => {
    let app = apps.get(nodeId);
    if (app === undefined) {
      const replica = started.replica(nodeId);
      const status = (): ZoneNodeStatus => ({ ...nodeStatusOf(replica.status()), ticks: 0, tickIntervalMs: 1, electionTimeoutTicks: 10, peers: [] });
      app = createZoneApi({ replica, token: parseJoinToken(token), status, ...(now === undefined ? {} : { now }) });
      apps.set(nodeId, app);
    }
    return app;
  };
  // Each request is driven: the cluster ticks until the app has answered.
  const request = (nodeId: number, path: string, init?: RequestInit): Promise<Response> =>
    started.drive(Promise.resolve(appOf(nodeId).request(path, init)));
  const client = (nodeId: number, tokenOverride?: string): ZoneApiClient =>
    new ZoneApiClient(`http://node-${nodeId}`, tokenOverride ?? token, { fetch: (input, init) => request(nodeId, String(input), init) });
  return { cluster: started, token, client, request };
}

describe('ZoneApi', () => {
  it('commits SC batches at the leader and at a follower, and reads them linearizably', async () => {
    const { client } = await setUp();
    const version = await client(1).commit([{ type: 'put', key: bytes('a'), value: bytes('1') }]);
    const followerVersion = await client(2).commit([
      { type: 'put', key: bytes('b'), value: bytes('2') },
      { type: 'put', key: bytes('c'), value: bytes('3') },
    ]);
    expect(followerVersion).toBeGreaterThan(version);
    const entry = await client(3).get(bytes('a'));
    expect(entry && { key: text(entry.key), value: text(entry.value), version: entry.version }).toEqual({ key: 'a', value: '1', version });
    expect(await client(3).get(bytes('missing'))).toBeUndefined();
    const page = await client(2).scan({ prefix: bytes(''), limit: 2 });
    expect(page.entries.map((item) => text(item.key))).toEqual(['a', 'b']);
    const rest = await client(2).scan({ limit: 2, cursor: page.cursor! });
    expect(rest.entries.map((item) => text(item.key))).toEqual(['c']);
    expect(rest.cursor).toBeUndefined();
  });

  it('checks preconditions and answers ECONFLICT', async () => {
    const { client } = await setUp();
    const version = await client(1).commit([{ type: 'put', key: bytes('k'), value: bytes('v1') }], [{ key: bytes('k'), version: null }]);
    await expect(client(1).commit([{ type: 'put', key: bytes('k'), value: bytes('v2') }], [{ key: bytes('k'), version: null }])).rejects.toThrow(ConflictError);
    await client(1).commit([{ type: 'delete', key: bytes('k') }], [{ key: bytes('k'), version }]);
    expect(await client(2).get(bytes('k'))).toBeUndefined();
  });

  it('takes EC writes at the leader only and answers their outcome by token', async () => {
    const { client } = await setUp();
    const token = await client(1).write([{ type: 'put', key: bytes('ec'), value: bytes('x') }]);
    expect(await client(1).waitFor(token)).toBe(token.index);
    await expect(client(2).write([{ type: 'put', key: bytes('ec'), value: bytes('y') }])).rejects.toThrow(BusyError);
  });

  it('adds a joining node with the next node id and removes a node', async () => {
    const { cluster: zone, client } = await setUp();
    const members = zone.replica(1).status().members.map(({ nodeId, address }) => ({ nodeId, address }));
    const joiner = await zone.openNode(4, { peers: members });
    const { publicKey, privateKey } = await generateNodeKeyPair();
    const answer = await client(2).join(joiner.address, publicKey);
    expect(answer.nodeId).toBe(4);
    expect(answer.members.map((member) => member.nodeId)).toEqual([1, 2, 3, 4]);
    // It joins as a learner (nothing has ticked yet), which the leader promotes once caught up.
    const roleOf4 = async (): Promise<unknown> => (await client(1).status()).members.find((member) => member.nodeId === 4);
    expect(await roleOf4()).toMatchObject({ role: 'learner', promotionPending: true });
    // Joining again with the same address is answered with the same id, not a second member.
    expect((await client(1).join(joiner.address, publicKey)).nodeId).toBe(4);
    expect((await client(1).status()).members.map((member) => member.nodeId)).toEqual([1, 2, 3, 4]);
    // The same address with another key is another node: it cannot take node 4's id.
    const other = await generateNodeKeyPair();
    await expect(client(1).join(joiner.address, other.publicKey)).rejects.toMatchObject({ code: 'EEXIST', message: expect.stringContaining('with another public key') });
    // Every member's record holds node 4's key.
    await zone.waitUntil(() => [1, 2, 3].every((nodeId) => zone.replica(nodeId).status().members.find((member) => member.nodeId === 4)?.publicKey !== undefined), 'every replica to record node 4');
    for (const nodeId of [1, 2, 3, 4]) expect(zone.replica(nodeId).status().members.find((member) => member.nodeId === 4)?.publicKey).toEqual(publicKey);
    await zone.waitUntil(() => zone.replica(1).status().members.find((member) => member.nodeId === 4)?.role === 'voter', 'the leader to promote node 4');
    expect(await roleOf4()).toMatchObject({ role: 'voter', promotionPending: false });
    expect((await client(1).join(joiner.address, publicKey)).nodeId).toBe(4);
    // Removing is an admin call: node 4, now a voter, signs it with its key.
    await client(1).removeNode(3, { zoneId: zone.zoneId, nodeId: 4, privateKey });
    expect((await client(1).status()).members.map((member) => member.nodeId)).toEqual([1, 2, 4]);
    // Node 4 removes itself: the highest id is free, but a removed node's id is never given again.
    await client(1).removeNode(4, { zoneId: zone.zoneId, nodeId: 4, privateKey });
    expect(await client(1).status()).toMatchObject({ removedNodeIds: [3, 4] });
    const newcomer = await generateNodeKeyPair();
    expect((await client(1).join('http://node-new', newcomer.publicKey)).nodeId).toBe(5);
    expect((await client(1).status()).members.map((member) => member.nodeId)).toEqual([1, 2, 5]);
  });

  it('refuses missing, malformed and wrong tokens with 401 EACCES', async () => {
    const { cluster: zone, client } = await setUp();
    const wrong = formatJoinToken({ zoneId: zone.zoneId, zoneSecret: createZoneSecret() });
    const otherZone = formatJoinToken({ zoneId: 'other', zoneSecret: createZoneSecret() });
    for (const token of [wrong, otherZone, 'nzt1.zone-test.short', 'garbage']) {
      await expect(client(1, token).commit([{ type: 'put', key: bytes('x'), value: bytes('y') }])).rejects.toThrow(AccessDeniedError);
      await expect(client(1, token).status()).rejects.toThrow(AccessDeniedError);
    }
    expect(await zone.drive(client(1).get(bytes('x')))).toBeUndefined();
  });

  it('answers malformed bodies with 400 EINVAL as JSON, naming what was wrong', async () => {
    const { client, token, request } = await setUp();
    const cases: [Uint8Array, string][] = [
      [new Uint8Array([0x92, 0x01]), 'not well-formed MessagePack'],
      [packValue([ZONE_API_FORMAT_VERSION + 1, {}]), `format version ${ZONE_API_FORMAT_VERSION + 1}`],
      [encodeApiBody({ consistency: 'strong', operations: [['put', 'not bytes', new Uint8Array()]] }), 'cannot decode key'],
      [encodeApiBody({ consistency: 'sometimes', operations: [] }), 'cannot decode batch consistency'],
      [encodeApiBody([1, 2, 3]), 'cannot decode ZoneApi payload'],
    ];
    for (const [body, message] of cases) {
      const response = await request(1, `${ZONE_API_PATH}/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': ZONE_API_CONTENT_TYPE },
        body: body as Uint8Array<ArrayBuffer>,
      });
      expect(response.status, message).toBe(400);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      expect(error.code, message).toBe('EINVAL');
      expect(error.message).toContain(message);
    }
    // A join from a node without a key (a version before node identity), or with a key of the wrong size.
    for (const [body, message] of [
      [encodeApiBody({ address: 'http://127.0.0.1:7009' }), "a join must carry the node's public key"],
      [encodeApiBody({ address: 'http://127.0.0.1:7009', publicKey: new Uint8Array(31) }), 'public key'],
    ] as const) {
      const response = await request(1, `${ZONE_API_PATH}/join`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': ZONE_API_CONTENT_TYPE },
        body: body as Uint8Array<ArrayBuffer>,
      });
      expect(response.status, message).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: 'EINVAL', message: expect.stringContaining(message) } });
    }
    expect(cluster!.replica(1).status().members).toHaveLength(3);
    const unauthenticated = await request(1, `${ZONE_API_PATH}/status`);
    expect(unauthenticated.status).toBe(401);
    expect(await unauthenticated.json()).toMatchObject({ error: { code: 'EACCES' } });
    await expect(client(1).commit([{ type: 'put', key: new Uint8Array(0), value: bytes('v') }])).rejects.toThrow(InvalidArgumentError);
  });

  it('gives an error code outside the kernel\'s, and an answer that is not JSON (a proxy page, with any status), as RemoteApiError', async () => {
    const token = formatJoinToken({ zoneId: 'z', zoneSecret: createZoneSecret() });
    const answering = (status: number, body: string) => new ZoneApiClient('http://127.0.0.1:1', token, { fetch: async () => new Response(body, { status }) });
    const internal = await answering(500, JSON.stringify({ error: { code: 'EINTERNAL', message: 'a bug' } })).status().catch((error: unknown) => error);
    expect(internal).toBeInstanceOf(RemoteApiError);
    expect(internal).toMatchObject({ code: 'EINTERNAL', message: 'a bug', status: 500 });
    const proxy = await answering(502, '<html>bad gateway</html>').status().catch((error: unknown) => error);
    expect(proxy).toBeInstanceOf(RemoteApiError);
    expect(proxy).toMatchObject({ code: 'EPROTO', message: 'HTTP 502: <html>bad gateway</html>', status: 502 });
    await expect(answering(503, JSON.stringify({ error: { code: 'EBUSY', message: 'starting' } })).status()).rejects.toThrow(BusyError);
    const page = await answering(200, '<html>a login page</html>').status().catch((error: unknown) => error);
    expect(page).toBeInstanceOf(RemoteApiError);
    expect(page).toMatchObject({ code: 'EPROTO', status: 200 });
  });
});

describe('ZoneApi admin calls', () => {
  /**
   * A zone on a clock the test moves, whose node 4 joined with its own key and is a voter (the test
   * cluster's members 1-3 have no keys), so node 4 can sign admin calls.
   */
  async function withKeyedVoter(): Promise<ApiSetUp & { signer: AdminSigner; clock: { nowMs: number } }> {
    const clock = { nowMs: 1_000_000 };
    const setUpApi = await setUp(() => clock.nowMs);
    const { cluster: zone, client } = setUpApi;
    const joiner = await zone.openNode(4, { peers: zone.replica(1).status().members.map(({ nodeId, address }) => ({ nodeId, address })) });
    const { publicKey, privateKey } = await generateNodeKeyPair();
    await client(1).join(joiner.address, publicKey);
    await zone.waitUntil(() => zone.replica(1).status().members.find((member) => member.nodeId === 4)?.role === 'voter', 'the leader to promote node 4');
    return { ...setUpApi, signer: { zoneId: zone.zoneId, nodeId: 4, privateKey }, clock };
  }

  const removeNode3 = encodeApiBody({ nodeId: 3 });

  async function challengeOf(api: ApiSetUp, nodeId: number): Promise<Uint8Array> {
    const response = await api.request(nodeId, `${ZONE_API_PATH}/admin-challenge`, { method: 'POST', headers: { 'content-type': ZONE_API_CONTENT_TYPE }, body: encodeApiBody({}) as Uint8Array<ArrayBuffer> });
    expect(response.status).toBe(200);
    return decodeApiBody(new Uint8Array(await response.arrayBuffer())).challenge as Uint8Array;
  }

  async function sendRemove(api: ApiSetUp, nodeId: number, body: Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
    const response = await api.request(nodeId, `${ZONE_API_PATH}/remove-node`, { method: 'POST', headers: { 'content-type': ZONE_API_CONTENT_TYPE, ...headers }, body: body as Uint8Array<ArrayBuffer> });
    return { status: response.status, json: response.status === 200 ? decodeApiBody(new Uint8Array(await response.arrayBuffer())) : await response.json() };
  }

  const refused = (message: string): object => ({ status: 401, json: { error: { code: 'EACCES', message: expect.stringContaining(message) } } });
  const memberIds = (api: ApiSetUp): number[] => api.cluster.replica(1).status().members.map((member) => member.nodeId);

  it('refuses the token, strangers, learners, other zones, and expired, foreign or replayed challenges with EACCES, changing nothing', async () => {
    const api = await withKeyedVoter();
    const { client, signer, token, clock } = api;
    // A learner that never catches up (nothing serves its address): node 5.
    const learnerKey = await generateNodeKeyPair();
    expect((await client(1).join('http://node-9', learnerKey.publicKey)).nodeId).toBe(5);
    const members = memberIds(api);
    expect(members).toEqual([1, 2, 3, 4, 5]);

    // The token alone, as every call took it before: refused, naming what the call needs.
    expect(await sendRemove(api, 1, removeNode3, { authorization: `Bearer ${token}` })).toMatchObject(refused('is an admin call'));
    const stranger = await generateNodeKeyPair();
    const refusals: [AdminSigner, string][] = [
      [{ ...signer, privateKey: stranger.privateKey }, 'does not verify with the key zone zone-test records for node 4'],
      [{ ...signer, nodeId: 99, privateKey: stranger.privateKey }, 'node 99 is not a member of zone zone-test'],
      [{ ...signer, nodeId: 5, privateKey: learnerKey.privateKey }, 'node 5 is a learner'],
      [{ ...signer, zoneId: 'other-zone' }, 'signed for zone other-zone'],
    ];
    for (const [who, message] of refusals) {
      await expect(client(1).removeNode(3, who), message).rejects.toMatchObject({ code: 'EACCES', message: expect.stringContaining(message) });
    }
    // A signature of the wrong size admits to nothing either.
    const short = await signAdminRequest({ route: 'remove-node', challenge: await challengeOf(api, 1), request: removeNode3, signer });
    expect(await sendRemove(api, 1, encodeApiBody({ ...short, signature: short.signature.subarray(0, 10) }))).toMatchObject(refused('is malformed'));
    // A challenge past its lifetime, and one that another node issued.
    const stale = await challengeOf(api, 1);
    clock.nowMs += ADMIN_CHALLENGE_LIFETIME_MS + 1;
    const staleRequest = await signAdminRequest({ route: 'remove-node', challenge: stale, request: removeNode3, signer });
    expect(await sendRemove(api, 1, encodeApiBody(staleRequest))).toMatchObject(refused('expired 1 ms ago'));
    const foreign = await signAdminRequest({ route: 'remove-node', challenge: await challengeOf(api, 2), request: removeNode3, signer });
    expect(await sendRemove(api, 1, encodeApiBody(foreign))).toMatchObject(refused('was not issued by this node'));
    // A signature for another route, or over another body, does not carry over.
    const forOtherRoute = await signAdminRequest({ route: 'join', challenge: await challengeOf(api, 1), request: removeNode3, signer });
    expect(await sendRemove(api, 1, encodeApiBody(forOtherRoute))).toMatchObject(refused('does not verify'));
    const signedFor5 = await signAdminRequest({ route: 'remove-node', challenge: await challengeOf(api, 1), request: encodeApiBody({ nodeId: 5 }), signer });
    expect(await sendRemove(api, 1, encodeApiBody({ ...signedFor5, request: removeNode3 }))).toMatchObject(refused('does not verify'));
    expect(memberIds(api)).toEqual(members);

    // The signed request runs once; sent again, to this node or another, it is refused.
    const once = encodeApiBody(signedFor5);
    expect(await sendRemove(api, 1, once)).toEqual({ status: 200, json: {} });
    expect(memberIds(api)).toEqual([1, 2, 3, 4]);
    expect(await sendRemove(api, 1, once)).toMatchObject(refused('was used already'));
    expect(await sendRemove(api, 2, once)).toMatchObject(refused('was not issued by this node'));
    expect(memberIds(api)).toEqual([1, 2, 3, 4]);
  });

  it("refuses a removed member's key", async () => {
    const api = await withKeyedVoter();
    await api.client(1).removeNode(4, api.signer);
    await api.cluster.waitUntil(() => api.cluster.replica(2).status().members.length === 3, 'node 2 to apply the removal');
    for (const nodeId of [1, 2]) {
      await expect(api.client(nodeId).removeNode(3, api.signer)).rejects.toMatchObject({ code: 'EACCES', message: expect.stringContaining('node 4 is not a member of zone zone-test') });
    }
    expect(memberIds(api)).toEqual([1, 2, 3]);
  });
});
