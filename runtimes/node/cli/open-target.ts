import { openDataDir } from '../data-dir.ts';
import type { Target, TargetLocation } from './command-support.ts';

/**
 * The real targets: a data dir opened in this process (which holds it until the command ends), or
 * a server through the HTTP API's clients.
 */
export async function openTarget(location: TargetLocation): Promise<Target> {
  if (location.kind === 'local') {
    const dataDir = await openDataDir({ dir: location.dir });
    return { fs: dataDir.fs, keys: dataDir.apiKeys, close: () => dataDir.close() };
  }
  throw new Error('remote: not wired yet');
}
