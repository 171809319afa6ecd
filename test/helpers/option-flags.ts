/** Every test sees driver and engine messages as the CLI prints them: with the CLI's flags registered. */
import '../../src/cli/option-hints.js';
