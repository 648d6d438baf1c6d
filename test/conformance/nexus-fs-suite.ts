import { afterEach, beforeEach, describe } from 'vitest';
import { describeBatch } from './nexus-fs/batch.ts';
import { describeContent } from './nexus-fs/content.ts';
import type { NexusFSSuiteContext, SuiteHarness } from './nexus-fs/harness.ts';
import { describeMounts } from './nexus-fs/mounts.ts';
import { describePaths } from './nexus-fs/paths.ts';
import { describeReadWrite } from './nexus-fs/read-write.ts';
import { describeSearch } from './nexus-fs/search.ts';
import { describeTree } from './nexus-fs/tree.ts';
import { describeWatch } from './nexus-fs/watch.ts';

export type { NexusFSSuiteContext } from './nexus-fs/harness.ts';

/**
 * The file-API conformance suite: the behaviour of `FileSystem` and `MountAdmin`
 * (kernel/fs/types.ts) that every NexusFS implementation must show, in every runtime. Each test
 * gets a fresh context from `factory` (a new, empty zone with `/` mounted) and closes it after.
 *
 * Tests that need `admin` or `rootObjectStore` say so in their name and are skipped when the
 * context lacks them.
 */
export function runNexusFSSuite(name: string, factory: () => Promise<NexusFSSuiteContext>): void {
  describe(`NexusFS suite: ${name}`, () => {
    let current: NexusFSSuiteContext | undefined;

    beforeEach(async () => {
      current = await factory();
    });

    afterEach(async () => {
      const context = current;
      current = undefined;
      await context?.close();
    });

    const harness: SuiteHarness = {
      context() {
        if (current === undefined) throw new Error('the suite context is only available inside a test');
        return current;
      },
    };

    describePaths(harness);
    describeReadWrite(harness);
    describeTree(harness);
    describeSearch(harness);
    describeBatch(harness);
    describeContent(harness);
    describeWatch(harness);
    describeMounts(harness);
  });
}
