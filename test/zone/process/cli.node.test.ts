import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanedUpAfterAll } from './cleaned-up-after-all.ts';
import { eventually, freePort, runNexus, spawnNexus } from './nexus-process.ts';

/** The `nexus zone` commands as a user runs them: output, exit codes, errors with their codes. */

const TIMING = ['--tick-ms', '20', '--election-ticks', '10'];

const { processes, directories } = cleanedUpAfterAll();

describe('nexus zone', () => {
  it('documents every command in --help', async () => {
    const top = await runNexus(['--help']);
    expect(top.exit).toBe(0);
    expect(top.stdout).toContain('zone');
    const zone = await runNexus(['zone', '--help']);
    for (const command of ['create', 'join', 'start', 'status', 'remove-node']) expect(zone.stdout).toContain(command);
    const status = await runNexus(['zone', 'status', '--help']);
    for (const option of ['--remote', '--token', '--json', 'NEXUS_ZONE_TOKEN']) expect(status.stdout).toContain(option);
    const removeNode = await runNexus(['zone', 'remove-node', '--help']);
    for (const text of ['--data', '--remote', 'voting member', 'EACCES']) expect(removeNode.stdout).toContain(text);
    expect(removeNode.stdout).not.toContain('--token');
  });

  it('creates, joins, shows status, removes a node, and reports errors with their codes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nexus-cli-'));
    directories.push(root);
    const [port1, port2] = [await freePort(), await freePort()];
    const first = spawnNexus('node 1', ['zone', 'create', '--data', join(root, 'one'), '--listen', `127.0.0.1:${port1}`, '--zone-id', 'cli-zone', ...TIMING]);
    processes.push(first);
    const token = (await first.waitForOutput(/join token \(shown once, keep it secret\): (\S+)/))[1]!;
    expect(first.stdout()).toContain(`zone cli-zone created; node 1 serving at http://127.0.0.1:${port1}`);
    const second = spawnNexus('node 2', ['zone', 'join', '--data', join(root, 'two'), '--listen', `127.0.0.1:${port2}`, '--peer', `http://127.0.0.1:${port1}`, ...TIMING], {
      environment: { NEXUS_ZONE_TOKEN: token },
    });
    processes.push(second);
    await second.waitForOutput(/joined zone cli-zone as node 2, serving at/);

    // Status asked of the follower shows the leader's view of match and lag.
    const text = await eventually('both members caught up', async () => {
      const result = await runNexus(['zone', 'status', '--remote', `http://127.0.0.1:${port2}`, '--token', token]);
      return result.exit === 0 && /^2\s+voter\s+\S+\s+\d+\s+0$/m.test(result.stdout) ? result.stdout : undefined;
    });
    expect(text).toContain('zone cli-zone: asked node 2 (follower); leader 1');
    expect(text).toMatch(/^1\s+voter \(leader\)\s+http:\/\/127\.0\.0\.1:\d+\s+\d+\s+0$/m);
    const json = await runNexus(['zone', 'status', '--remote', `http://127.0.0.1:${port1}`, '--json'], { environment: { NEXUS_ZONE_TOKEN: token } });
    const parsed = JSON.parse(json.stdout) as { node: { zoneId: string; leader: number; members: unknown[] }; leader: { role: string } };
    expect(parsed.node).toMatchObject({ zoneId: 'cli-zone', leader: 1 });
    expect(parsed.node.members).toHaveLength(2);
    expect(parsed.leader.role).toBe('leader');

    // Signed with node 1's key from its data directory, sent to node 1 (the address in that directory).
    const removed = await runNexus(['zone', 'remove-node', '2', '--data', join(root, 'one')]);
    expect(removed).toMatchObject({ exit: 0, stdout: 'node 2 removed\n' });
    const after = await runNexus(['zone', 'status', '--remote', `http://127.0.0.1:${port1}`, '--token', token, '--json']);
    expect((JSON.parse(after.stdout) as { node: { members: { nodeId: number }[] } }).node.members.map((member) => member.nodeId)).toEqual([1]);

    // Errors: a stable code on stderr and exit code 1.
    const errors: [string[], string][] = [
      [['zone', 'create', '--data', join(root, 'one'), '--listen', `127.0.0.1:${await freePort()}`], 'EEXIST'],
      [['zone', 'start', '--data', join(root, 'empty')], 'ENOENT'],
      [['zone', 'create', '--data', join(root, 'four'), '--listen', `127.0.0.1:${port1}`], 'EBUSY'],
      [['zone', 'create', '--data', join(root, 'three'), '--listen', 'localhost'], 'EINVAL'],
      [['zone', 'status', '--remote', `http://127.0.0.1:${port1}`, '--token', 'nzt1.cli-zone.wrong'], 'EACCES'],
      [['zone', 'remove-node', '7', '--data', join(root, 'one')], 'ENOENT'],
      [['zone', 'remove-node', '1', '--data', join(root, 'empty')], 'ENOENT'],
      // The token does not admit to remove-node, and node 2, removed, cannot sign for it any more.
      [['zone', 'remove-node', '7', '--data', join(root, 'one'), '--token', token], 'EACCES'],
      [['zone', 'remove-node', '1', '--data', join(root, 'two'), '--remote', `http://127.0.0.1:${port1}`], 'EACCES'],
    ];
    for (const [args, code] of errors) {
      const result = await runNexus(args);
      expect(result.exit, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toMatch(new RegExp(`^nexus: ${code}`, 'm'));
    }
    const missingToken = await runNexus(['zone', 'status', '--remote', `http://127.0.0.1:${port1}`]);
    expect(missingToken.exit).toBe(1);
    expect(missingToken.stderr).toContain("required option '--token <token>' not specified");
  }, 60_000);
});
