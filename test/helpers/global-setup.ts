/**
 * Vitest global setup: whatever happens to a test worker, no private Dovecot
 * outlives the test command. Each harness master runs with a config path that
 * carries HARNESS_PREFIX; its children exit when their master does.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { HARNESS_PREFIX, HARNESS_RUN_ENV } from './dovecot.js';

// Only this test run's Dovecots: another run (a benchmark, a second checkout) may be using its own.
const runId = String(process.pid);

function strayMasters(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('dovecot') && cmdline.includes(`${HARNESS_PREFIX}${runId}-`)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

export function setup(): void {
  // Workers inherit the environment, so their harnesses tag their Dovecots with this run's id.
  process.env[HARNESS_RUN_ENV] = runId;
}

export function teardown(): void {
  const pids = strayMasters();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (pids.length > 0) {
    // Give the children a moment to notice their master is gone.
    execFileSync('sleep', ['0.5']);
  }
}
