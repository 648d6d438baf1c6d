import type { FileMetadata } from '../../../kernel/fs/types.ts';

/** Human forms shared by the commands' output. */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;
const BYTES_PER_UNIT = 1024;

/** `1.5 MiB`; whole bytes below 1 KiB. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= BYTES_PER_UNIT && unit < BYTE_UNITS.length - 1) {
    value /= BYTES_PER_UNIT;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** ISO time to the second, in UTC: the same on every machine. */
export function formatTime(milliseconds: number): string {
  return new Date(milliseconds).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `/` for entries that hold others (a directory or a mount point), as `ls -F` marks them. */
export function entrySuffix(metadata: FileMetadata): string {
  return metadata.type === 'DIR' || metadata.type === 'MOUNT' ? '/' : '';
}

/** Columns aligned under a header row, two spaces apart, without trailing spaces. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  return all.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

/** The last component of a path (`/` for the root). */
export function baseName(path: string): string {
  return path === '/' ? '/' : path.slice(path.lastIndexOf('/') + 1);
}

/** `path` below `root`, without a leading slash; both are normalised kernel paths. */
export function pathBelow(root: string, path: string): string {
  return root === '/' ? path.slice(1) : path.slice(root.length + 1);
}
