import { describe, expect, it } from 'vitest';
import { openKvStore } from './kv-store.ts';
import { CountingStorageFile } from './test-storage.ts';
import { numberedKey } from './test-workload.ts';

/**
 * A CountingStorageFile whose writes, once `hold()` is called, wait until `release()`: a tree file
 * whose checkpoint is stuck in its merge for as long as a test wants.
 */
class HeldStorageFile extends CountingStorageFile {
  #held: Promise<void> | undefined;
  #release: (() => void) | undefined;
  #reached: (() => void) | undefined;
  /** Resolves once a write waits on the hold. */
  reached: Promise<void> = Promise.resolve();

  hold(): void {
    this.#held = new Promise<void>((resolve) => (this.#release = resolve));
    this.reached = new Promise<void>((resolve) => (this.#reached = resolve));
  }

  release(): void {
    this.#release?.();
    this.#held = undefined;
  }

  override async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.#held !== undefined) {
      this.#reached?.();
      await this.#held;
    }
    await super.write(offset, data);
  }
}

/** Lets every pending promise chain of in-memory storage run: a bounded number of microtask turns. */
async function drainMicrotasks(): Promise<void> {
  for (let turn = 0; turn < 10_000; turn++) await Promise.resolve();
}

describe('KV store checkpoint in the background (issue #3)', () => {
  // With one log (or before issue #3) the commit loop runs the checkpoint itself, and this fails.
  it('completes a durable commit while a checkpoint is held in its merge of the tree', async () => {
    const tree = new HeldStorageFile();
    const log = new CountingStorageFile();
    const store = await openKvStore(tree, { log, secondLog: new CountingStorageFile(), writeBufferBytes: 4096 });
    tree.hold();
    // Commits of 100 bytes until the buffer passes 4 KiB and a checkpoint writes the tree.
    let index = 0;
    let reached = false;
    void tree.reached.then(() => (reached = true));
    while (!reached && index < 1000) {
      await Promise.race([store.put(numberedKey(index++), new Uint8Array(100)), drainMicrotasks()]);
      await drainMicrotasks();
    }
    expect(reached).toBe(true);
    let committed = false;
    const commit = store.put(numberedKey(index), new Uint8Array(100)).then(() => (committed = true));
    await drainMicrotasks();
    expect(committed).toBe(true);
    const snapshot = store.snapshot();
    expect((await snapshot.get(numberedKey(index)))?.value).toEqual(new Uint8Array(100));
    snapshot.release();
    tree.release();
    await commit;
    await store.close();
  });
});
