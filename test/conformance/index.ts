export { runNexusFSSuite, type NexusFSSuiteContext } from './nexus-fs-suite.ts';
export { runRecordStoreSuite } from './record-store-suite.ts';
