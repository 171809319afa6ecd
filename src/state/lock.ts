/**
 * One poplift run per source mailbox: POP3 servers lock the maildrop anyway,
 * and two runs would race on the journal and on deletions.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { ExitCode, PopliftError } from '../errors.js';

interface LockInfo {
  pid: number;
  host: string;
  started: string;
  mailbox: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

export class MailboxLock {
  private released = false;

  private constructor(readonly path: string) {}

  /**
   * Takes the lock or throws exit 5 naming the holder. A lock left by a
   * process that is gone (on this host) is taken over, with a warning.
   */
  static acquire(path: string, mailbox: string, warn: (m: string) => void): MailboxLock {
    const info: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString(), mailbox };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, `${JSON.stringify(info)}\n`);
        closeSync(fd);
        return new MailboxLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = readLock(path);
      if (holder && (holder.host !== info.host || alive(holder.pid))) {
        throw new PopliftError(
          `Another poplift run holds the lock for ${mailbox}: PID ${holder.pid} on ${holder.host}, started ${holder.started} (lock file ${path}). Wait for it to finish.`,
          { exitCode: ExitCode.LOCKED, code: 'LOCKED' },
        );
      }
      warn(
        holder
          ? `Taking over the lock for ${mailbox} left by PID ${holder.pid} (started ${holder.started}), which is no longer running.`
          : `Taking over an unreadable lock file ${path}.`,
      );
      try {
        unlinkSync(path);
      } catch {
        // Someone else removed it first; try again.
      }
    }
    throw new PopliftError(`Could not take the lock ${path}; another run keeps replacing it.`, { exitCode: ExitCode.LOCKED, code: 'LOCKED' });
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const holder = readLock(this.path);
    if (holder && holder.pid === process.pid) {
      try {
        unlinkSync(this.path);
      } catch {
        // Already gone.
      }
    }
  }
}
