export { runNexusFSSuite, type NexusFSSuiteContext } from './nexus-fs-suite.ts';
export { runRecordStoreSuite } from './record-store-suite.ts';
export { runMetastoreSuite, type MetastoreSuiteCapabilities } from './metastore-suite.ts';
export { runObjectStoreSuite, type ObjectStoreSuiteCapabilities } from './object-store-suite.ts';
export { runCacheStoreSuite, type CacheStoreSuiteCapabilities } from './cache-store-suite.ts';
export { ManualClock } from './manual-clock.ts';
export { runStorageFileSuite, type StorageFileSuiteCapabilities } from './storage-file-suite.ts';
