import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start a private Dovecot per file and move large
    // messages; the defaults are too short for the 25 MB attachment case.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['test/helpers/global-setup.ts'],
    // Driver and engine messages name CLI flags through the CLI's table (src/cli/option-hints.ts).
    setupFiles: ['test/helpers/option-flags.ts'],
  },
});
