import { rm } from 'node:fs/promises';
import { afterAll } from 'vitest';
import type { NexusProcess } from './nexus-process.ts';

/**
 * The processes a test file starts and the temporary directories it creates: after its last test
 * (an afterAll hook registered here), the processes still running are killed and the directories
 * removed, so a failed test leaves nothing behind.
 */
export function cleanedUpAfterAll(): { processes: NexusProcess[]; directories: string[] } {
  const processes: NexusProcess[] = [];
  const directories: string[] = [];
  afterAll(async () => {
    for (const running of processes) running.child.kill('SIGKILL');
    await Promise.all(processes.map((running) => running.exited));
    for (const directory of directories) await rm(directory, { recursive: true, force: true });
  });
  return { processes, directories };
}
