/**
 * Vitest global setup: whatever happens to a test worker, no private server
 * outlives the test command. Every harness server (Dovecot, Cyrus, Courier,
 * Mailutils, popa3d) runs with its private directory, poplift-<server>-<run>-…,
 * on its command line; Dovecot's children exit when their master does, and
 * Courier's and popa3d's die with the unshare that holds their namespace.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { HARNESS_RUN_ENV } from './dovecot.js';

// Only this test run's servers: another run (a benchmark, a second checkout) may be using its own.
const runId = String(process.pid);
const mine = new RegExp(`/poplift-(dovecot|cyrus|courier|mailutils|popa3d)-${runId}-`);

function strayMasters(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (mine.test(cmdline) && Number(entry) !== process.pid) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

export function setup(): void {
  // Workers inherit the environment, so their harnesses tag their servers with this run's id.
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
