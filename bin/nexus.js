#!/usr/bin/env node
// The `nexus` command: runs the CLI in this same process (so signals and the process id are the
// CLI's own: `kill PID` stops the node cleanly), from the bundle the test run builds while it is as
// new as its sources, else from the TypeScript sources through tsx (see cli-bundle.js).
import { CLI_BUNDLE, runNexusCli } from './cli-bundle.js';

await runNexusCli(CLI_BUNDLE);
