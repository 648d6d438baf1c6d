import { runNexus } from './program.ts';
import { openTarget } from './open-target.ts';

process.exit(await runNexus(process.argv.slice(2), { streams: process, openTarget }));
