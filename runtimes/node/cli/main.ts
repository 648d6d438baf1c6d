import { exitAfterOutput } from './exit-after-output.ts';
import { openTarget } from './open-target.ts';
import { runNexus } from './program.ts';

// A reader that went away (`nexus cat big | head`) ends the command quietly, as it ends `cat`.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

await exitAfterOutput(await runNexus(process.argv.slice(2), { streams: process, openTarget }), process, process.exit);
