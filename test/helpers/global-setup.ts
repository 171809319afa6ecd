/**
 * Vitest global setup: whatever happens to a test worker, no private server
 * (Dovecot, Cyrus, Courier, Mailutils, popa3d) outlives the test command.
 */
import { HARNESS_RUN_ENV } from './dovecot.js';
import { killHarnessServers } from './reaper.js';

// Only this test run's servers: another run (a benchmark, a second checkout) may be using its own.
const runId = String(process.pid);

export function setup(): void {
  // Workers inherit the environment, so their harnesses tag their servers with this run's id.
  process.env[HARNESS_RUN_ENV] = runId;
}

export function teardown(): void {
  killHarnessServers(runId);
}
