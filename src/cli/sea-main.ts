/**
 * The entry point of the single-file executable (`npm run build:sea`): what
 * bin/poplift.js does, bundled with everything it loads into one CommonJS
 * file, which is what Node's single executable applications run. No
 * version check: the executable carries its own Node.
 */
import { restartTuned } from './process-tuning.js';

// Before the rest is loaded: this may replace the process with a tuned copy of itself.
restartTuned();
void import('./main.js').then(({ main }) => main());
