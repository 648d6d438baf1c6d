/**
 * Our side of bench:raft: a zone of three node processes started with the `nexus` CLI (zone create,
 * then zone join twice), each a ZoneReplica on a KvStore file with KvRaftStorage, the WebSocket
 * ZoneTransport and the ZoneApi over HTTP on one port (runtimes/node). Driven with ZoneApiClient,
 * its calls on one ZoneApi mux channel to the leader (runtimes/node/node-mux-exchange.ts), as
 * etcd's client puts its calls on one HTTP/2 connection. Stopped by PID.
 *
 * With NEXUS_ZONE_PROFILE=<ms> in the bench's environment, each node reports its loop profile
 * every that many milliseconds (runtimes/node/zone-profile.ts), and its stderr is written to
 * PROFILE_DIRECTORY/node-N.log when the cluster stops.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCliBundle } from '../scripts/build-cli-bundle.ts';
import { ZONE_PROFILE_ENVIRONMENT_VARIABLE } from '../runtimes/node/zone-profile.ts';
import { ZoneApiClient } from '../drivers/transport-websocket/zone-api-client.ts';
import { createNodeMuxExchange } from '../runtimes/node/node-mux-exchange.ts';
import { freePort, spawnNexus, type NexusProcess } from '../test/zone/process/nexus-process.ts';
import { stopChild } from './raft-etcd.ts';

const STARTUP_TIMEOUT_MS = 60_000;

/** Where the nodes' stderr goes when they were profiled (see the file comment). */
export const PROFILE_DIRECTORY = join(tmpdir(), 'nexusfs-bench-raft-profile');

export interface NexusCluster {
  /** A client connected to the leader. */
  readonly leader: ZoneApiClient;
  stop(): Promise<void>;
}

interface RunningNode {
  readonly process: NexusProcess;
  readonly address: string;
}

export async function startNexusCluster(directory: string): Promise<NexusCluster> {
  // Through tsx the nodes' 1-client write latency was 10-20% higher than from the bundle (p50
  // 1.25-1.32 ms vs 1.05-1.11 ms against etcd's 0.93-0.98 ms): the nodes run what a user's `nexus`
  // runs once built, the bundle built from the sources as they are now (bin/nexus.js runs it while
  // its digest matches them).
  await buildCliBundle();
  console.log('nexus nodes run from the CLI bundle, built from the sources now');
  const nodes: RunningNode[] = [];
  const mux = createNodeMuxExchange();
  const stop = async (): Promise<void> => {
    mux.close();
    await Promise.all(nodes.map((node) => stopChild(node.process.child)));
    if (profileIntervalMs() !== undefined) await saveProfiles(nodes);
  };
  try {
    const first = await startNode(nodes, (listen) => ['zone', 'create', '--data', join(directory, 'node-1'), '--listen', listen, '--zone-id', 'bench']);
    const token = (await first.process.waitForOutput(/join token \(shown once, keep it secret\): (\S+)/, STARTUP_TIMEOUT_MS))[1]!;
    // A member accepts a join once it leads (a one-member zone elects itself within a timeout).
    await waitForLeader([first], token, 1);
    for (const number of [2, 3]) {
      const node = await startNode(nodes, (listen) => ['zone', 'join', '--data', join(directory, `node-${number}`), '--listen', listen, '--peer', first.address, '--token', token]);
      await node.process.waitForOutput(/joined zone bench as node \d+/, STARTUP_TIMEOUT_MS);
    }
    const leaderAddress = await waitForLeader(nodes, token, 3);
    return { leader: new ZoneApiClient(leaderAddress, token, { exchange: mux.exchange }), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startNode(nodes: RunningNode[], args: (listen: string) => string[]): Promise<RunningNode> {
  const port = await freePort();
  const interval = profileIntervalMs();
  const environment: Record<string, string> = interval === undefined ? {} : { [ZONE_PROFILE_ENVIRONMENT_VARIABLE]: interval };
  const node = { process: spawnNexus(`node ${nodes.length + 1}`, args(`127.0.0.1:${port}`), { nodeArguments: nodeArguments(), environment }), address: `http://127.0.0.1:${port}` };
  nodes.push(node);
  return node;
}

/**
 * Extra Node options for the node processes, from NEXUS_BENCH_NODE_ARGS (space-separated), e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them (Node refuses those in NODE_OPTIONS).
 */
function nodeArguments(): string[] {
  return (process.env.NEXUS_BENCH_NODE_ARGS ?? '').split(' ').filter((argument) => argument.length > 0);
}

/** NEXUS_ZONE_PROFILE as given to the bench (spawnNexus passes no NEXUS_ variable on by itself). */
export function profileIntervalMs(): string | undefined {
  return process.env[ZONE_PROFILE_ENVIRONMENT_VARIABLE] || undefined;
}

async function saveProfiles(nodes: readonly RunningNode[]): Promise<void> {
  await mkdir(PROFILE_DIRECTORY, { recursive: true });
  for (const [position, node] of nodes.entries()) await writeFile(join(PROFILE_DIRECTORY, `node-${position + 1}.log`), node.process.stderr());
  console.log(`nexus nodes' profiles: ${PROFILE_DIRECTORY}/node-*.log`);
}

async function waitForLeader(nodes: RunningNode[], token: string, memberCount: number): Promise<string> {
  const deadlineMs = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    for (const node of nodes) {
      try {
        const client = new ZoneApiClient(node.address, token);
        const status = await client.status();
        if (status.role === 'leader' && status.members.length === memberCount && status.members.every((member) => member.lagEntries === 0)) return node.address;
      } catch {
        // Not up yet.
      }
    }
    if (Date.now() > deadlineMs) throw new Error(`the nexus zone had no leader with ${memberCount} caught-up members within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
