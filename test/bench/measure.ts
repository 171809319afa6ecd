/**
 * Runs a command as a child process and measures its wall time and peak
 * resident memory. GNU time reports the peak (getrusage maxrss) after the
 * child is gone, which polling cannot catch for a short-lived spike; without
 * it, /proc/<pid>/status VmHWM is polled instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ChildMeasurement {
  seconds: number;
  /** Peak resident set size in bytes, or undefined when neither method worked. */
  peakRssBytes: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const GNU_TIME = '/usr/bin/time';

/** Children still running, so an interrupted benchmark can stop them. */
export const runningChildren = new Set<ChildProcess>();

function vmHwm(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function measureChild(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<ChildMeasurement> {
  const useTime = existsSync(GNU_TIME);
  const scratch = useTime ? mkdtempSync(join(tmpdir(), 'poplift-bench-time-')) : undefined;
  const timeFile = scratch ? join(scratch, 'rss') : undefined;
  const [file, argv] = timeFile ? [GNU_TIME, ['-f', '%M', '-o', timeFile, command, ...args]] : [command, args];
  const started = performance.now();
  const child = spawn(file, argv, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  runningChildren.add(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  let polled: number | undefined;
  const poll = timeFile
    ? undefined
    : setInterval(() => {
        const v = child.pid === undefined ? undefined : vmHwm(child.pid);
        if (v !== undefined) polled = Math.max(polled ?? 0, v);
      }, 50);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, s) => resolve([c, s]));
    });
    const seconds = (performance.now() - started) / 1000;
    let peakRssBytes = polled;
    if (timeFile && existsSync(timeFile)) {
      // GNU time writes "Command exited with non-zero status N" before the figure when the child fails.
      const kb = Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop());
      if (Number.isFinite(kb) && kb > 0) peakRssBytes = kb * 1024;
    }
    return {
      seconds,
      peakRssBytes,
      code,
      signal,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
    };
  } finally {
    clearInterval(poll);
    runningChildren.delete(child);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

/** Median wall time of `node -e 0`, measured the same way as poplift so the wrapper's cost cancels out. */
export async function nodeStartup(cwd: string, runs = 5): Promise<ChildMeasurement> {
  const results: ChildMeasurement[] = [];
  for (let i = 0; i < runs; i++) results.push(await measureChild(process.execPath, ['-e', '0'], { PATH: process.env.PATH ?? '' }, cwd));
  results.sort((a, b) => a.seconds - b.seconds);
  return results[Math.floor(results.length / 2)]!;
}
