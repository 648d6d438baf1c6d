import { MemoryObjectStore } from '../../drivers/memory/index.ts';
import { embeddedSuiteContext } from '../../test/embedded-nexus-fs.ts';
import { runNexusFSSuite } from '../../test/conformance/nexus-fs-suite.ts';

runNexusFSSuite('embedded NexusFS on memory drivers', () => embeddedSuiteContext(async () => new MemoryObjectStore()));
