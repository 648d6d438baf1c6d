import type { StorageFile } from '../contracts/storage-file.ts';
import type { KvStore, KvStoreOptions } from './kv-store-types.ts';

export async function openKvStore(file: StorageFile, options: KvStoreOptions = {}): Promise<KvStore> {
  void file;
  void options;
  throw new Error('openKvStore: the KV engine is not implemented yet');
}
