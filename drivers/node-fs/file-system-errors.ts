import { type FileHandle, open } from 'node:fs/promises';

/** The `code` of a Node file-system error (`ENOENT`, ...), or undefined for anything else. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Errors from fsync on a directory that mean "this platform cannot do that" (Windows, some network
 * file systems, Deno's compatibility layer), not "the data is lost". The rename or create is already
 * done, so the entry is as durable as the platform can make it; failing would only lose it.
 */
const DIRECTORY_SYNC_UNSUPPORTED_CODES = new Set(['EISDIR', 'EPERM', 'EACCES', 'EINVAL', 'EBADF', 'ENOTSUP', 'ENOSYS']);

/** Makes a rename or create inside `directory` durable, where the platform can. */
export async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch (error) {
    if (!DIRECTORY_SYNC_UNSUPPORTED_CODES.has(errorCode(error) ?? '')) throw error;
  } finally {
    await handle?.close();
  }
}
