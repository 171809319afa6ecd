#!/usr/bin/env node
import { restartTuned } from '../dist/cli/process-tuning.js';

// Before anything else is loaded: this may replace the process with a tuned copy of itself.
restartTuned();
const { main } = await import('../dist/cli/main.js');
await main();
