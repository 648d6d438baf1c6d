import type { ObjectStore } from '../contracts/object-store.ts';
import { BusyError, NotFoundError } from '../errors.ts';
import { isWithin, parentPath, ROOT_PATH } from '../fs/paths.ts';

/**
 * The VFS router: which ObjectStore holds the blobs of which part of the tree, by longest prefix.
 *
 * Mount points are recorded in the zone (so they survive a restart and every path below one keeps
 * resolving to it), while the ObjectStore instances are attached in memory by whoever opens the
 * zone. A path below a recorded but unattached mount point resolves to that mount and fails with
 * EBUSY rather than silently falling through to the parent's store.
 */
export class MountTable {
  readonly #attached = new Map<string, AttachedMount>();
  readonly #recorded = new Set<string>([ROOT_PATH]);

  record(mountPath: string): void {
    this.#recorded.add(mountPath);
  }

  forget(mountPath: string): void {
    if (mountPath !== ROOT_PATH) this.#recorded.delete(mountPath);
    this.#attached.delete(mountPath);
  }

  isRecorded(mountPath: string): boolean {
    return this.#recorded.has(mountPath);
  }

  attach(mountPath: string, mount: AttachedMount): void {
    this.#recorded.add(mountPath);
    this.#attached.set(mountPath, mount);
  }

  attachedAt(mountPath: string): AttachedMount | undefined {
    return this.#attached.get(mountPath);
  }

  /** The mount point that governs `path`: the longest recorded prefix. */
  mountPointOf(path: string): string {
    let current = path;
    for (;;) {
      if (this.#recorded.has(current)) return current;
      if (current === ROOT_PATH) return ROOT_PATH;
      current = parentPath(current);
    }
  }

  /** The mount governing `path`, with its store; EBUSY/ENOENT when no store is attached there. */
  resolve(path: string): ResolvedMount {
    const mountPath = this.mountPointOf(path);
    const mount = this.#attached.get(mountPath);
    if (mount === undefined) {
      if (mountPath === ROOT_PATH) {
        throw new NotFoundError(`no ObjectStore is mounted for ${path}: mount one at / first (nx.mount('/', store))`);
      }
      throw new BusyError(`no ObjectStore is attached at mount point ${mountPath}: mount it again to reach ${path}`);
    }
    return { mountPath, store: mount.store, name: mount.name };
  }

  /** Recorded mount points strictly below `path`. */
  mountPointsBelow(path: string): string[] {
    return [...this.#recorded].filter((mountPath) => mountPath !== path && isWithin(mountPath, path));
  }

  list(): { path: string; name: string }[] {
    return [...this.#attached.entries()]
      .map(([path, mount]) => ({ path, name: mount.name }))
      .sort((left, right) => (left.path < right.path ? -1 : left.path > right.path ? 1 : 0));
  }
}

export interface AttachedMount {
  name: string;
  store: ObjectStore;
}

export interface ResolvedMount extends AttachedMount {
  mountPath: string;
}
