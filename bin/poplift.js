#!/usr/bin/env node
// Plain JavaScript that any Node can parse: the version check must run before
// anything that needs Node 22.12 (commander 15, require of ESM) is loaded.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `poplift: needs Node.js 22.12 or newer, but ${process.execPath} is v${process.versions.node}: ` +
      'run it with a newer node (an absolute path to it works from cron), install one from https://nodejs.org, ' +
      'or use the single-file executable that `npm run build:sea` builds (README: Running from cron).\n',
  );
  process.exit(2);
}
const { restartTuned } = await import('../dist/cli/process-tuning.js');
// Before anything else is loaded: this may replace the process with a tuned copy of itself.
restartTuned();
const { main } = await import('../dist/cli/main.js');
await main();
