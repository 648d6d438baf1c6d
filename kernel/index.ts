export * from './errors.ts';
export { assert, AssertionError } from './assert.ts';
export * from './contracts/index.ts';
export { contentIdOf, ContentHasher, assertContentId, CONTENT_ID_PATTERN } from './content-id.ts';
export * from './fs/types.ts';
export { NexusFS, type NexusFSOptions } from './fs/nexus-fs.ts';
export { normalizePath } from './fs/paths.ts';
