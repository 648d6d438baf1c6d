import { describe, expect, it } from 'vitest';
import { runCli, runInProcess } from './cli-process.ts';

/** `nexus --help` and `nexus CMD --help` list every command, argument and option there is. */

const TARGET_OPTIONS = ['--data <dir>', 'NEXUS_DATA', '--remote <url>', 'NEXUS_URL', '--token <key>', 'NEXUS_TOKEN', '--json'];

const COMMANDS: Record<string, readonly string[]> = {
  ls: ['[path]', '-l, --long', '-R, --recursive'],
  cat: ['<path>', '--offset <bytes>', '--length <bytes>'],
  write: ['<path>', '[file]', '--if-match <version>', '--create', '--mime-type <type>'],
  stat: ['<path>'],
  mkdir: ['<paths...>', '-p, --parents'],
  rm: ['<paths...>', '-r, --recursive', 'ENOTEMPTY'],
  mv: ['<from>', '<to>', '--overwrite', 'EXDEV'],
  cp: ['<from>', '<to>', '-r, --recursive', '--overwrite'],
  glob: ['<pattern>', '--path <dir>', '--limit <count>'],
  grep: ['<pattern>', '[path]', '-i, --ignore-case', '--glob <pattern>', '-C, --context <lines>', '--max-results <count>'],
  edit: ['<path>', '--search <text>', '--replace <text>', '--all', '--if-match <version>'],
  watch: ['[path]', '--since <revision>', 'Ctrl-C'],
  import: ['<dir>', '<path>'],
  export: ['<path>', '<dir>'],
  'keys create': ['--name <name>', '--admin'],
  'keys list': [],
  'keys revoke': ['<id-or-name>'],
};

describe('nexus help', () => {
  it('nexus --help lists every command, the target options and the exit codes', async () => {
    const help = await runCli(['--help']);
    expect(help.exit).toBe(0);
    for (const command of ['ls', 'cat', 'write', 'stat', 'mkdir', 'rm', 'mv', 'cp', 'glob', 'grep', 'edit', 'watch', 'import', 'export', 'keys', 'serve', 'zone']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
    for (const text of ['--data DIR', '--remote URL --token KEY', 'NEXUS_URL', 'NEXUS_TOKEN', 'Exit codes: 0', '2 usage error']) expect(help.stdout).toContain(text);
    const keys = await runInProcess(['keys', '--help']);
    for (const command of ['create', 'list', 'revoke']) expect(keys.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  }, 60_000);

  it('nexus CMD --help shows each command\'s arguments, its options and the target options', async () => {
    for (const [command, expected] of Object.entries(COMMANDS)) {
      const help = await runInProcess([...command.split(' '), '--help']);
      expect(help.exit, command).toBe(0);
      expect(help.stdout, command).toMatch(new RegExp(`^Usage: nexus ${command} `));
      for (const text of [...expected, ...TARGET_OPTIONS]) expect(help.stdout, `${command}: ${text}`).toContain(text);
    }
  });
});
