import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { ZoneApiClient } from '../../../drivers/transport-websocket/zone-api-client.ts';
import type { ZoneNodeStatus } from '../../../drivers/transport-websocket/zone-api-app.ts';
import { AccessDeniedError, NexusError } from '../../../kernel/errors.ts';
import { ELECTION_TIMEOUT_TICKS_DEFAULT } from '../../../kernel/raft/constants.ts';
import { readAdminSigner } from '../node-identity.ts';
import { zoneProfileIntervalMs } from '../zone-profile.ts';
import { createZone, isVoter, JOIN_PROMOTION_WAIT_MS_MAX, joinZone, startZone, TICK_INTERVAL_MS_DEFAULT, type ZoneNode } from '../zone-node.ts';

/** Environment variable read when `--token` is not given (keeps the token out of shell history). */
const TOKEN_ENVIRONMENT_VARIABLE = 'NEXUS_ZONE_TOKEN';

/** `nexus zone ...`: create, join, start, status, remove-node. */
export function zoneCommand(): Command {
  const zone = new Command('zone').description('create, join and inspect zones (Raft groups) across processes');

  withTiming(
    zone
      .command('create')
      .description('create a zone with this node as its first member, print its join token once, and serve until SIGTERM/SIGINT')
      .requiredOption('--data <dir>', 'data directory for this node (must not hold a node yet)')
      .requiredOption('--listen <host:port>', 'address to serve the ZoneApi and peer connections on, e.g. 127.0.0.1:7001')
      .option('--zone-id <id>', 'zone id (a-z, 0-9, ".", "_", "-"); random by default'),
  ).action(async (options: { data: string; listen: string; zoneId?: string; tickMs: number; electionTicks: number }) => {
    const node = await createZone({ dataDir: options.data, listen: options.listen, zoneId: options.zoneId, ...timing(options), log: logLine });
    const { zoneId, nodeId, address, token } = node.identity;
    process.stdout.write(`zone ${zoneId} created; node ${nodeId} serving at ${address}\n`);
    process.stdout.write(`join token (shown once, keep it secret): ${token}\n`);
    await serveUntilSignal(node);
  });

  withTiming(
    zone
      .command('join')
      .description('join an existing zone through any member, then serve until SIGTERM/SIGINT')
      .requiredOption('--data <dir>', 'data directory for this node (must not hold a node yet)')
      .requiredOption('--listen <host:port>', 'address to serve on, e.g. 127.0.0.1:7002')
      .requiredOption('--peer <url>', 'address of any member, e.g. http://127.0.0.1:7001')
      .addOption(tokenOption()),
  ).action(async (options: { data: string; listen: string; peer: string; token: string; tickMs: number; electionTicks: number }) => {
    const node = await joinZone({ dataDir: options.data, listen: options.listen, peer: options.peer, token: options.token, ...timing(options), log: logLine });
    process.stdout.write(joinedMessage(node, JOIN_PROMOTION_WAIT_MS_MAX));
    await serveUntilSignal(node);
  });

  withTiming(
    zone
      .command('start')
      .description('restart a node from its data directory (after a stop or a crash) and serve until SIGTERM/SIGINT')
      .requiredOption('--data <dir>', 'data directory of a node created or joined before'),
  ).action(async (options: { data: string; tickMs: number; electionTicks: number }) => {
    const node = await startZone({ dataDir: options.data, ...timing(options), log: logLine });
    // A node removed from its zone stops at once (serveUntilSignal says why).
    if (!node.replica.status().removed) process.stdout.write(`node ${node.identity.nodeId} of zone ${node.identity.zoneId} serving at ${node.identity.address}\n`);
    await serveUntilSignal(node);
  });

  zone
    .command('status')
    .description('show members, leader, term, commit index and each member\'s lag behind the leader')
    .requiredOption('--remote <url>', 'address of any member, e.g. http://127.0.0.1:7001')
    .addOption(tokenOption())
    .option('--json', 'print the status as JSON (the node\'s answer, plus the leader\'s when asked a follower)')
    .action(async (options: { remote: string; token: string; json?: boolean }) => {
      const status = await new ZoneApiClient(options.remote, options.token).status();
      const leaderStatus = await statusOfLeader(status, options.token);
      if (options.json === true) process.stdout.write(`${JSON.stringify({ node: status, leader: leaderStatus }, null, 2)}\n`);
      else process.stdout.write(formatStatus(status, leaderStatus));
    });

  zone
    .command('remove-node')
    .description(
      "remove a member from the zone: an admin call, signed with the key of a voting member's node (the join token does not admit to it)",
    )
    .argument('<node-id>', 'the node id to remove', parseNodeId)
    .requiredOption('--data <dir>', "data directory of a voting member's node, whose key signs the request (read only; the node may be running)")
    .option('--remote <url>', 'address of the member to send it to (default: the address of the node in --data)')
    // Not shown: remove-node took the token before it needed a member's key; say so instead of "unknown option".
    .addOption(new Option('--token <token>').hideHelp())
    .addHelpText(
      'after',
      '\nThe request is signed over a one-time challenge from the node it is sent to, so it cannot be replayed.\n' +
        'A stranger, a token holder that is not a member, a learner and a removed member are refused with EACCES.',
    )
    .action(async (nodeId: number, options: { data: string; remote?: string; token?: string }) => {
      if (options.token !== undefined) {
        throw new AccessDeniedError("remove-node is an admin call and the join token does not admit to it: leave out --token; --data <a voting member's data directory> signs it");
      }
      const { signer, address } = await readAdminSigner(options.data);
      await new ZoneApiClient(options.remote ?? address, undefined).removeNode(nodeId, signer);
      process.stdout.write(`node ${nodeId} removed\n`);
    });

  return zone;
}

/** What `zone join` prints once `joinZone` returns: a node still a learner after `promotionWaitMs` says so. */
export function joinedMessage(node: ZoneNode, promotionWaitMs: number): string {
  const role = isVoter(node) ? '' : ` (still a learner: not promoted to voter within ${promotionWaitMs / 1000} s; the leader promotes it once it has caught up)`;
  return `joined zone ${node.identity.zoneId} as node ${node.identity.nodeId}${role}, serving at ${node.identity.address}\n`;
}

function tokenOption(): Option {
  return new Option('--token <token>', `the zone's join token (printed by \`nexus zone create\`; it admits to join and status, not to remove-node)`).env(TOKEN_ENVIRONMENT_VARIABLE).makeOptionMandatory();
}

function withTiming(command: Command): Command {
  return command
    .option('--tick-ms <ms>', 'milliseconds per Raft tick', parsePositive, TICK_INTERVAL_MS_DEFAULT)
    .option('--election-ticks <ticks>', 'base election timeout in ticks (each election waits 1x to 2x this)', parsePositive, ELECTION_TIMEOUT_TICKS_DEFAULT);
}

/** The timing options, and the loop profile when NEXUS_ZONE_PROFILE asks for one. */
function timing(options: { tickMs: number; electionTicks: number }): { tickIntervalMs: number; electionTimeoutTicks: number; profileIntervalMs?: number } {
  const profileIntervalMs = zoneProfileIntervalMs(process.env);
  return { tickIntervalMs: options.tickMs, electionTimeoutTicks: options.electionTicks, ...(profileIntervalMs === undefined ? {} : { profileIntervalMs }) };
}

function parsePositive(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new CommanderArgumentError('expected a positive integer');
  return value;
}

function parseNodeId(text: string): number {
  return parsePositive(text);
}

function logLine(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

/**
 * Serves until SIGTERM or SIGINT, or until the node learns it was removed from its zone (as etcd
 * stops a removed member), then closes the node (replica, raft log, store, server) and exits 0.
 */
async function serveUntilSignal(node: ZoneNode): Promise<void> {
  const { nodeId, zoneId } = node.identity;
  const reason = await Promise.race([
    new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve(`SIGTERM: stopping node ${nodeId}`));
      process.once('SIGINT', () => resolve(`SIGINT: stopping node ${nodeId}`));
    }),
    node.replica.removal.then(() => `node ${nodeId} was removed from zone ${zoneId}: stopping`),
  ]);
  logLine(reason);
  try {
    await node.close();
  } catch (error) {
    reportError(error);
  }
  logLine(`node ${node.identity.nodeId} stopped`);
  process.exit(0);
}

/** Match and lag are only known to the leader: ask it too when the node asked is not it. */
async function statusOfLeader(status: ZoneNodeStatus, token: string): Promise<ZoneNodeStatus | undefined> {
  if (status.role === 'leader') return status;
  const leader = status.members.find((member) => member.nodeId === status.leader);
  if (leader === undefined) return undefined;
  try {
    return await new ZoneApiClient(leader.address, token).status();
  } catch {
    return undefined;
  }
}

export function formatStatus(status: ZoneNodeStatus, leaderStatus: ZoneNodeStatus | undefined): string {
  const lines = [
    `zone ${status.zoneId}: asked node ${status.nodeId} (${status.removed === true ? 'removed from the zone' : status.role}); leader ${status.leader || 'unknown'}, term ${status.term}`,
    `commit index ${status.commitIndex}, applied index ${status.appliedIndex}, snapshot index ${status.snapshotIndex}`,
    '',
  ];
  const rows = [['NODE', 'ROLE', 'ADDRESS', 'MATCH', 'LAG']];
  const source = leaderStatus ?? status;
  for (const member of source.members) {
    const role = `${member.role}${member.promotionPending === true ? ' (joining)' : ''}${member.isLeader ? ' (leader)' : ''}`;
    rows.push([String(member.nodeId), role, member.address, String(member.matchIndex ?? '?'), String(member.lagEntries ?? '?')]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) lines.push(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
  if (leaderStatus === undefined) lines.push('', 'match and lag: unknown (no reachable leader)');
  return `${lines.join('\n')}\n`;
}

/** Operating errors print as `nexus: ECODE message` with exit code 1, not as a stack trace. */
export function reportError(error: unknown): never {
  if (error instanceof NexusError) process.stderr.write(`nexus: ${error.code} ${error.message}\n`);
  else process.stderr.write(`nexus: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
