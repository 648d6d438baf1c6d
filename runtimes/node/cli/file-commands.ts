import type { Command } from 'commander';
import type { CliContext } from './command-support.ts';
import { catCommand } from './cat-command.ts';
import { cpCommand } from './cp-command.ts';
import { editCommand } from './edit-command.ts';
import { exportCommand } from './export-command.ts';
import { globCommand } from './glob-command.ts';
import { grepCommand } from './grep-command.ts';
import { importCommand } from './import-command.ts';
import { keysCommand } from './keys-command.ts';
import { lsCommand } from './ls-command.ts';
import { mkdirCommand } from './mkdir-command.ts';
import { mvCommand } from './mv-command.ts';
import { rmCommand } from './rm-command.ts';
import { statCommand } from './stat-command.ts';
import { watchCommand } from './watch-command.ts';
import { writeCommand } from './write-command.ts';

/** Every command that acts on a data dir or a server, in the order `nexus --help` lists them. */
export function fileCommands(context: CliContext): Command[] {
  return [
    lsCommand,
    catCommand,
    writeCommand,
    statCommand,
    mkdirCommand,
    rmCommand,
    mvCommand,
    cpCommand,
    globCommand,
    grepCommand,
    editCommand,
    watchCommand,
    importCommand,
    exportCommand,
    keysCommand,
  ].map((create) => create(context));
}
