/**
 * A 3-member etcd cluster on 127.0.0.1 for bench:raft: the `etcd` binary (Debian's etcd-server,
 * `apt-get install -y etcd-server`), distinct ports, data directories in a temporary directory,
 * stopped by PID. Driven with the etcd3 gRPC client, connected to the leader (as our client is),
 * so neither side pays a forwarding hop.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort } from '../test/zone/process/nexus-process.ts';

export const ETCD_BINARY = 'etcd';

export interface EtcdCluster {
  readonly version: string;
  /** A client connected to the leader. */
  readonly leader: Etcd3;
  stop(): Promise<void>;
}

export function etcdAvailable(): string | undefined {
  const result = spawnSync(ETCD_BINARY, ['--version'], { encoding: 'utf8' });
  if (result.status !== 0) return undefined;
  return /etcd Version: (\S+)/.exec(result.stdout)?.[1] ?? 'unknown';
}

export async function startEtcdCluster(directory: string, version: string): Promise<EtcdCluster> {
  const members = await Promise.all(
    [1, 2, 3].map(async (number) => ({ name: `m${number}`, clientPort: await freePort(), peerPort: await freePort() })),
  );
  const initialCluster = members.map((member) => `${member.name}=http://127.0.0.1:${member.peerPort}`).join(',');
  const children: ChildProcess[] = members.map((member) =>
    spawn(
      ETCD_BINARY,
      [
        '--name', member.name,
        '--data-dir', join(directory, member.name),
        '--listen-client-urls', `http://127.0.0.1:${member.clientPort}`,
        '--advertise-client-urls', `http://127.0.0.1:${member.clientPort}`,
        '--listen-peer-urls', `http://127.0.0.1:${member.peerPort}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${member.peerPort}`,
        '--initial-cluster', initialCluster,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', 'nexusfs-bench',
        '--logger', 'zap',
        '--log-level', 'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    ),
  );
  const clients = members.map((member) => new Etcd3({ hosts: `http://127.0.0.1:${member.clientPort}` }));
  const stop = async (): Promise<void> => {
    for (const client of clients) client.close();
    await Promise.all(children.map((child) => stopChild(child)));
  };
  try {
    const leader = await waitForLeader(clients);
    return { version, leader, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitForLeader(clients: Etcd3[]): Promise<Etcd3> {
  const deadlineMs = Date.now() + 30_000;
  for (;;) {
    for (const client of clients) {
      try {
        const status = await client.maintenance.status();
        if (status.leader !== '0' && status.leader === status.header.member_id) {
          await client.put('bench/warmup').value('ok');
          return client;
        }
      } catch {
        // Not up yet.
      }
    }
    if (Date.now() > deadlineMs) throw new Error('the etcd cluster elected no leader within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** SIGTERM by PID, then SIGKILL if it lingers. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
