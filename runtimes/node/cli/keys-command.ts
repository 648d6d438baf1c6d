import { Command } from 'commander';
import type { ApiKeyInfo } from '../../../kernel/services/api-key-types.ts';
import { configureCommand, onTarget, targetCommand, type CliContext } from './command-support.ts';
import { formatTable, formatTime } from './format.ts';

/** `nexus keys create|list|revoke`: the API keys that authenticate requests to a server. */
export function keysCommand(context: CliContext): Command {
  const keys = configureCommand(context, new Command('keys')).description('create, list and revoke API keys (remotely this needs an admin key)');

  keys.addCommand(
    targetCommand(context, 'create')
      .description('create a key and print it once (only its hash is stored)')
      .requiredOption('--name <name>', 'unique among live keys: letters, digits, ".", "_", "-"')
      .option('--admin', 'an admin key, which may also manage keys (default: an agent key, file I/O only)')
      .addHelpText('after', '\nWith --json: {info: {id, name, admin, createdAtMs}, key}.')
      .action(async (options: { name: string; admin?: boolean }, command: Command) => {
        await onTarget(context, command, async (target, output) => {
          const created = await target.keys.create({ name: options.name, admin: options.admin === true });
          output.result(created, ({ info, key }) => `created ${roleOf(info)} key ${info.name} (${info.id})\n${key}\nshown once: keep it secret`);
        });
      }),
  );

  keys.addCommand(
    targetCommand(context, 'list')
      .description('list every key, revoked ones included, oldest first (never the secrets)')
      .addHelpText('after', '\nWith --json: an array of {id, name, admin, createdAtMs, revokedAtMs}.')
      .action(async (_options: unknown, command: Command) => {
        await onTarget(context, command, async (target, output) => output.result(await target.keys.list(), formatKeys));
      }),
  );

  keys.addCommand(
    targetCommand(context, 'revoke')
      .description('revoke a key: it never authenticates again')
      .argument('<id-or-name>', 'the key\'s id, or the name of a live key')
      .addHelpText('after', '\nENOENT for a key that does not exist or is already revoked. With --json: the revoked key\'s info.')
      .action(async (idOrName: string, _options: unknown, command: Command) => {
        await onTarget(context, command, async (target, output) => {
          output.result(await target.keys.revoke(idOrName), (info) => `revoked ${roleOf(info)} key ${info.name} (${info.id})`);
        });
      }),
  );

  return keys;
}

function roleOf(info: ApiKeyInfo): string {
  return info.admin ? 'admin' : 'agent';
}

function formatKeys(keys: readonly ApiKeyInfo[]): string {
  if (keys.length === 0) return 'no keys';
  const rows = keys.map((info) => [info.id, info.name, roleOf(info), formatTime(info.createdAtMs), info.revokedAtMs === undefined ? '-' : formatTime(info.revokedAtMs)]);
  return formatTable(['ID', 'NAME', 'ROLE', 'CREATED', 'REVOKED'], rows);
}
