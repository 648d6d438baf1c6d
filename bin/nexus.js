#!/usr/bin/env node
// The `nexus` command: runs the TypeScript entry through tsx in this same process (so signals and
// the process id are the CLI's own: `kill PID` stops the node cleanly).
import { register } from 'tsx/esm/api';

register();
await import('../runtimes/node/cli/main.ts');
