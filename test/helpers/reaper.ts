/** Finds and kills the harness servers a test run left behind. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Every harness server runs with its private directory,
 * poplift-<server>-<run>-…, on its command line (Dovecot's master, Cyrus's
 * master and services, Mailutils' daemons, the unshare holding Courier's and
 * popa3d's namespace). Dovecot's children exit when their master does;
 * Courier's and popa3d's die with their namespace.
 */
export function harnessProcesses(runId: string): number[] {
  const mine = new RegExp(`/poplift-(dovecot|cyrus|courier|mailutils|popa3d|solid-pop3d)-${runId}-`);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (mine.test(readFileSync(`/proc/${entry}/cmdline`, 'utf8'))) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** SIGKILLs every harness process of the run; returns how many there were. */
export function killHarnessServers(runId: string): number {
  const pids = harnessProcesses(runId);
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
  return pids.length;
}
