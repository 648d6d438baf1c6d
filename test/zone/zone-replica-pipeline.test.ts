import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import { describe, expect, it } from 'vitest';
import type { KvStore } from '../../kernel/kv/index.ts';
import { MemoryRaftStorage } from '../../kernel/raft/memory-storage.ts';
import type { Message } from '../../kernel/raft/message.ts';
import type { RaftPersistRequest } from '../../kernel/raft/storage.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { ZoneTestCluster } from './zone-cluster.ts';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/**
 * A MemoryRaftStorage whose writes can be held: while `hold()` is in force, a persist has updated
 * nothing yet and resolves only at `release()`, as a slow disk would. Tests use it to see what a
 * replica sends before and after its own write.
 */
class HeldRaftStorage extends MemoryRaftStorage {
  private holding = false;
  private readonly held: (() => void)[] = [];

  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    for (const resume of this.held.splice(0)) resume();
  }

  /** Lets the oldest held write complete; later ones are still held. */
  releaseOne(): void {
    this.held.shift()?.();
  }

  get heldCount(): number {
    return this.held.length;
  }

  override async persist(request: RaftPersistRequest): Promise<void> {
    if (this.holding) await new Promise<void>((resume) => this.held.push(resume));
    await super.persist(request);
  }
}

async function withHeldCluster(body: (cluster: ZoneTestCluster, storages: Map<NodeId, HeldRaftStorage>) => Promise<void>): Promise<void> {
  const storages = new Map<NodeId, HeldRaftStorage>();
  let opened = 0;
  const cluster = await ZoneTestCluster.start({
    openRaftStorage: async () => {
      opened++;
      const storage = new HeldRaftStorage();
      storages.set(opened, storage);
      return storage;
    },
  });
  try {
    await body(cluster, storages);
  } finally {
    for (const storage of storages.values()) storage.release();
    await cluster.close();
  }
}

/**
 * Holds the KvStore commits of a store while `holding`: each waits, in call order, until
 * `release()`, as a commit still in the writer's queue would. Reads go straight through.
 */
class CommitGate {
  holding = false;
  private readonly held: (() => void)[] = [];

  wrap(store: KvStore): KvStore {
    return new Proxy(store, {
      get: (target, property) => {
        if (property === 'commit') {
          return async (...args: Parameters<KvStore['commit']>) => {
            if (this.holding) await new Promise<void>((resume) => this.held.push(resume));
            return await target.commit(...args);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  release(): void {
    this.holding = false;
    for (const resume of this.held.splice(0)) resume();
  }

  get heldCount(): number {
    return this.held.length;
  }
}

/** Records the messages the network carries from now on (dropping none). */
function tapMessages(cluster: ZoneTestCluster): ZoneMessage[] {
  const seen: ZoneMessage[] = [];
  cluster.network.dropRule = (delivery) => {
    seen.push(delivery.message);
    return false;
  };
  return seen;
}

describe('zone replica pipeline: a leader sends before it persists', () => {
  it('replicates a write to the followers while the leader is still writing it, and commits once its write completes', async () => {
    await withHeldCluster(async (cluster, storages) => {
      const leaderStorage = storages.get(1)!;
      const lastIndexBefore = leaderStorage.lastIndex();
      leaderStorage.hold();
      const write = cluster.replica(1).commit([{ type: 'put', key: utf8('k'), value: utf8('v') }]);
      let resolved = false;
      void write.then(() => (resolved = true), () => {});
      await cluster.network.settle();
      // The leader's write of the entry has not completed, yet both followers hold it durably.
      expect(leaderStorage.heldCount).toBe(1);
      expect(leaderStorage.lastIndex()).toBe(lastIndexBefore);
      for (const follower of [2, 3]) expect(storages.get(follower)!.lastIndex()).toBe(lastIndexBefore + 1);
      expect(resolved).toBe(false);
      leaderStorage.release();
      const version = await cluster.drive(write, 'the write');
      expect(version).toBe(lastIndexBefore + 1);
    });
  });

  it('keeps a follower from acknowledging an append before its own write completes', async () => {
    await withHeldCluster(async (cluster, storages) => {
      const sent = tapMessages(cluster);
      const followers = [storages.get(2)!, storages.get(3)!];
      for (const storage of followers) storage.hold();
      const write = cluster.replica(1).commit([{ type: 'put', key: utf8('k'), value: utf8('v') }]);
      let resolved = false;
      void write.then(() => (resolved = true), () => {});
      await cluster.network.settle();
      expect(followers.map((storage) => storage.heldCount)).toEqual([1, 1]);
      expect(sent.some((message) => message.type === 'append-response' && message.from !== 1)).toBe(false);
      expect(resolved).toBe(false);
      for (const storage of followers) storage.release();
      await cluster.drive(write, 'the write');
      expect(sent.some((message) => message.type === 'append-response')).toBe(true);
    });
  });

  it('sends nothing of a new term before that term is written: a lone voter elected in one Ready waits for its write', async () => {
    const storages: HeldRaftStorage[] = [];
    const cluster = await ZoneTestCluster.start({
      nodeIds: [1],
      // A snapshot after every entry: the restarted voter knows its learner from the snapshot's
      // membership before any log entry is committed again.
      snapshotIntervalEntries: 1,
      // Nodes 1 and 2 get storages of their own; node 1's restart finds its storage again.
      openRaftStorage: async () => {
        const storage = storages.length === 2 ? storages[0]! : new HeldRaftStorage();
        if (storages.length < 2) storages.push(storage);
        return storage;
      },
    });
    try {
      await cluster.openNode(2, { peers: [{ nodeId: 1, address: ZoneTestCluster.address(1) }] });
      await cluster.drive(cluster.replica(1).addMember({ nodeId: 2, address: ZoneTestCluster.address(2) }, { role: 'learner' }));
      await cluster.crash(1);
      await cluster.restart(1);
      const voterStorage = storages[0]!;
      const termBefore = voterStorage.initialState().hardState.term;
      const sent = tapMessages(cluster);
      voterStorage.hold();
      await cluster.replica(1).campaign();
      await cluster.network.settle();
      expect(cluster.replica(1).status()).toMatchObject({ role: 'leader', term: termBefore + 1 });
      expect(voterStorage.heldCount).toBe(1);
      expect(sent.filter((message) => message.from === 1)).toEqual([]);
      voterStorage.release();
      await cluster.waitUntil(() => sent.some((message) => message.from === 1 && message.term === termBefore + 1), 'the new leader to send');
    } finally {
      for (const storage of storages) storage.release();
      await cluster.close();
    }
  });
});

describe('zone replica pipeline: applying while persisting', () => {
  it('answers a committed write while the next write of the leader is still being persisted', async () => {
    await withHeldCluster(async (cluster, storages) => {
      const leaderStorage = storages.get(1)!;
      const outcomes: string[] = [];
      leaderStorage.hold();
      const first = cluster.replica(1).commit([{ type: 'put', key: utf8('a'), value: utf8('1') }]);
      void first.then(() => outcomes.push('first'));
      await cluster.network.settle();
      // Arrives while the first is being persisted: proposed in the next Ready.
      const second = cluster.replica(1).commit([{ type: 'put', key: utf8('b'), value: utf8('2') }]);
      void second.then(() => outcomes.push('second'));
      expect(leaderStorage.heldCount).toBe(1);
      leaderStorage.releaseOne();
      await cluster.network.settle();
      // The next Ready persists the second write (held) and commits the first, which is applied
      // and answered without waiting for that write.
      expect(leaderStorage.heldCount).toBe(1);
      expect(outcomes).toEqual(['first']);
      leaderStorage.release();
      await cluster.drive(second, 'the second write');
      expect(outcomes).toEqual(['first', 'second']);
    });
  });
});

describe('zone replica pipeline: answering before the applied state is written', () => {
  it('answers an SC write once its outcome is decided, before the KvStore commit of the applied state; a crash then loses nothing and applies it once', async () => {
    const gate = new CommitGate();
    // Only node 1's first store is held; after its restart it writes freely.
    let wrapped = false;
    const cluster = await ZoneTestCluster.start({
      wrapStore: (nodeId, store) => {
        if (nodeId !== 1 || wrapped) return store;
        wrapped = true;
        return gate.wrap(store);
      },
    });
    try {
      gate.holding = true;
      // Must-not-exist: applied twice, the second application would be refused.
      const write = cluster.replica(1).commit([{ type: 'put', key: utf8('k'), value: utf8('v') }], [{ key: utf8('k'), version: null }]);
      const version = await cluster.drive(write, 'the write, while the applied state is held');
      expect(gate.heldCount).toBe(1);
      // Decided, answered, but not yet applied here: reads through node 1 would still wait.
      expect(cluster.replica(1).status().appliedIndex).toBeLessThan(version);
      const imageWithoutTheApply = cluster.nodes.get(1)!.file.image();
      const crashed = cluster.crash(1, imageWithoutTheApply);
      gate.release();
      await crashed;
      await cluster.restart(1);
      await cluster.waitUntil(() => cluster.replica(1).status().appliedIndex >= version, 'node 1 to apply the write again');
      for (const nodeId of [1, 2, 3]) {
        const entry = await cluster.drive(cluster.replica(nodeId).metastore.get(utf8('k')), `a read at node ${nodeId}`);
        expect({ nodeId, value: entry && new TextDecoder().decode(entry.value), version: entry?.version }).toEqual({ nodeId, value: 'v', version });
      }
      // The stored version is the acknowledged one: a write conditional on it succeeds.
      const next = await cluster.drive(cluster.replica(cluster.leaderId()!).commit([{ type: 'put', key: utf8('k'), value: utf8('w') }], [{ key: utf8('k'), version }]));
      expect(next).toBeGreaterThan(version);
    } finally {
      gate.release();
      await cluster.close();
    }
  });
});

describe('zone replica pipeline: reads', () => {
  it('answers the reads that arrive together with one ReadIndex round, each seeing every write acknowledged before it', async () => {
    await withHeldCluster(async (cluster) => {
      const leader = cluster.replica(1);
      await cluster.drive(leader.commit([{ type: 'put', key: utf8('k'), value: utf8('v1') }]));
      const sent = tapMessages(cluster);
      const reads = Array.from({ length: 20 }, () => leader.metastore.get(utf8('k')));
      const entries = await cluster.drive(Promise.all(reads), 'twenty reads');
      expect(entries.map((entry) => entry && new TextDecoder().decode(entry.value))).toEqual(Array(20).fill('v1'));
      // The first read starts a round at once (an idle loop steps it at the call); the other
      // nineteen arrive while it runs and share the next: two rounds of one heartbeat per follower.
      const heartbeats = sent.filter((message) => message.type === 'heartbeat' && message.context !== undefined);
      expect(heartbeats.length).toBe(4);
    });
  });
});

describe('zone replica pipeline: the commit index', () => {
  it('writes no hard state whose commit index alone changed: a follower that learns a commit keeps the older one stored', async () => {
    await withHeldCluster(async (cluster, storages) => {
      const followerStorage = storages.get(2)!;
      const version = await cluster.drive(cluster.replica(1).commit([{ type: 'put', key: utf8('k'), value: utf8('v') }]), 'the write');
      await cluster.waitUntil(() => followerStorage.lastIndex() === version, 'node 2 to persist the entry');
      await cluster.waitUntil(() => cluster.replica(2).status().appliedIndex === version, 'node 2 to learn the commit and apply');
      expect(followerStorage.initialState().hardState.commit).toBeLessThan(version);
    });
  });
});

describe('zone replica pipeline: a follower writes before it applies', () => {
  it('starts the raft write of an append before the KvStore commit of the entries that append commits, so its acknowledgement does not queue behind that commit', async () => {
    const events: string[] = [];
    class RecordingRaftStorage extends MemoryRaftStorage {
      override async persist(request: RaftPersistRequest): Promise<void> {
        if (request.entries.length > 0) events.push(`persist ${request.entries.at(-1)!.index}`);
        await super.persist(request);
      }
    }
    const recordApplies = (store: KvStore): KvStore =>
      new Proxy(store, {
        get: (target, property) => {
          if (property === 'commit') {
            return (...args: Parameters<KvStore['commit']>) => {
              for (const operation of args[0]) if (['a', 'b'].includes(new TextDecoder().decode(operation.key))) events.push(`apply ${new TextDecoder().decode(operation.key)}`);
              return target.commit(...args);
            };
          }
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    let opened = 0;
    const cluster = await ZoneTestCluster.start({
      openRaftStorage: async () => (++opened === 2 ? new RecordingRaftStorage() : new MemoryRaftStorage()),
      wrapStore: (nodeId, store) => (nodeId === 2 ? recordApplies(store) : store),
    });
    try {
      const first = await cluster.drive(cluster.replica(1).commit([{ type: 'put', key: utf8('a'), value: utf8('1') }]), 'the first write');
      const second = await cluster.drive(cluster.replica(1).commit([{ type: 'put', key: utf8('b'), value: utf8('2') }]), 'the second write');
      await cluster.waitUntil(() => cluster.replica(2).status().appliedIndex >= second, 'node 2 to apply both');
      // With lazy commit propagation the commit of the first reaches node 2 with the append of the second.
      expect(events.slice(events.indexOf(`persist ${first}`))).toEqual([`persist ${first}`, `persist ${second}`, 'apply a', 'apply b']);
    } finally {
      await cluster.close();
    }
  });
});
