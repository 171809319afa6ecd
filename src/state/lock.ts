/**
 * One poplift run per source mailbox: POP3 servers lock the maildrop anyway,
 * and two runs would race on the journal and on deletions.
 *
 * A lock is a numbered claim file, `<stem>.<n>.lock`, created atomically
 * (link of a complete temporary file, so nobody reads a half-written claim).
 * A claim whose holder is gone is never removed and re-created in place,
 * which two processes could both do: the next number is claimed instead,
 * and creating a given number can succeed only once. A process that created
 * a claim then checks that no other claim is live; if one is, it withdraws.
 * So at most one process holds a mailbox, whatever the interleaving.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { PopliftError } from '../errors.js';
import { readStateFile, stateFsError } from './state-dir.js';

export interface LockInfo {
  pid: number;
  /** Start time of the process (clock ticks since boot, /proc/<pid>/stat): a reused PID has another. */
  pidStart?: string;
  /** A PID and start time mean nothing after a reboot. */
  boot?: string;
  host: string;
  started: string;
  mailbox: string;
  /** Tells two claims by one process apart. */
  nonce?: string;
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

/** Field 22 of /proc/<pid>/stat; undefined where there is no /proc. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; the fields after its last ')' are plain.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Why a claim no longer counts, or undefined while its holder may still be running. */
function goneReason(holder: LockInfo): string | undefined {
  // Another machine's processes cannot be checked from here.
  if (holder.host !== hostname()) return undefined;
  const boot = bootId();
  if (holder.boot !== undefined && boot !== undefined && holder.boot !== boot) return 'the machine has rebooted since';
  if (!alive(holder.pid)) return 'it is no longer running';
  if (holder.pidStart !== undefined) {
    const now = processStartTime(holder.pid);
    if (now !== undefined && now !== holder.pidStart) return `PID ${holder.pid} now belongs to another process`;
  }
  return undefined;
}

interface Claim {
  gen: number;
  path: string;
  holder: LockInfo | undefined;
}

function readClaim(path: string): LockInfo | undefined | 'missing' {
  let text: string;
  try {
    text = readStateFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    // A link planted under a claim's name is not read through: it claims nothing.
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return undefined;
    throw err;
  }
  try {
    const info: unknown = JSON.parse(text);
    return info !== null && typeof info === 'object' && 'pid' in info && typeof info.pid === 'number' ? (info as LockInfo) : undefined;
  } catch {
    return undefined;
  }
}

function listClaims(stem: string): Claim[] {
  const dir = dirname(stem);
  const prefix = `${basename(stem)}.`;
  const claims: Claim[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix) || !name.endsWith('.lock')) continue;
    const middle = name.slice(prefix.length, -'.lock'.length);
    if (!/^[0-9]{1,15}$/.test(middle)) continue;
    const path = join(dir, name);
    const holder = readClaim(path);
    if (holder === 'missing') continue;
    claims.push({ gen: Number(middle), path, holder });
  }
  return claims.sort((a, b) => a.gen - b.gen);
}

function sameClaim(a: LockInfo | undefined, b: LockInfo | undefined): boolean {
  return a !== undefined && b !== undefined && a.pid === b.pid && a.nonce === b.nonce && a.started === b.started;
}

export function lockedError(mailbox: string, holder: LockInfo, path: string): PopliftError {
  if (holder.pid === process.pid && holder.host === hostname()) {
    return new PopliftError(
      `This poplift process already holds the lock for ${mailbox} (lock file ${path}): the mailbox is named twice in one run; name it once.`,
      { code: 'LOCKED' },
    );
  }
  return new PopliftError(
    `Another poplift run holds the lock for ${mailbox}: PID ${holder.pid} on ${holder.host}, started ${holder.started} (lock file ${path}). Wait for it to finish.`,
    { code: 'LOCKED' },
  );
}

export class MailboxLock {
  private released = false;

  private constructor(
    readonly path: string,
    private readonly info: LockInfo,
  ) {}

  /**
   * Takes the lock `<stem>.<n>.lock` or throws exit 5 naming the holder. A
   * lock left by a process that is gone (on this host: PID not running, or
   * running with another start time) is taken over, with a warning.
   */
  static acquire(stem: string, mailbox: string, warn: (m: string) => void): MailboxLock {
    const info: LockInfo = {
      pid: process.pid,
      pidStart: processStartTime(process.pid),
      boot: bootId(),
      host: hostname(),
      started: new Date().toISOString(),
      mailbox,
      nonce: randomBytes(8).toString('hex'),
    };
    const temp = `${stem}.${process.pid}-${info.nonce}.tmp`;
    try {
      writeFileSync(temp, `${JSON.stringify(info)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      throw stateFsError(err, temp, 'create the lock');
    }
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        const claims = listClaims(stem);
        const stale: Claim[] = [];
        for (const c of claims) {
          const reason = c.holder === undefined ? 'unreadable' : goneReason(c.holder);
          if (reason === undefined) throw lockedError(mailbox, c.holder!, c.path);
          stale.push(c);
        }
        const gen = (claims.at(-1)?.gen ?? 0) + 1;
        const path = `${stem}.${gen}.lock`;
        try {
          linkSync(temp, path);
        } catch (err) {
          // Someone else claimed that number first: look again.
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw stateFsError(err, path, 'create the lock');
        }
        // A process that looked before this claim existed may have claimed another number: only one may stay.
        for (const c of listClaims(stem)) {
          if (c.gen === gen || c.holder === undefined || goneReason(c.holder) !== undefined) continue;
          unlinkQuietly(path);
          throw lockedError(mailbox, c.holder, c.path);
        }
        for (const c of stale) {
          warn(
            c.holder
              ? `Taking over the lock for ${mailbox} left by PID ${c.holder.pid} (started ${c.holder.started}): ${goneReason(c.holder)}.`
              : `Taking over an unreadable lock file ${c.path}.`,
          );
          // Remove only the very claim found stale; a claim is never rewritten, so this cannot remove a live one.
          const now = readClaim(c.path);
          if (now === 'missing') continue;
          if (c.holder === undefined ? now === undefined : sameClaim(now, c.holder)) unlinkQuietly(c.path);
        }
        removeOrphanTemps(stem);
        return new MailboxLock(path, info);
      }
      throw new PopliftError(`Could not take the lock ${stem}.*.lock; other runs keep claiming it. Run poplift again.`, {
        code: 'LOCKED',
      });
    } catch (err) {
      if (err instanceof PopliftError) throw err;
      throw stateFsError(err, stem, 'take the lock');
    } finally {
      unlinkQuietly(temp);
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const now = readClaim(this.path);
    if (now !== 'missing' && sameClaim(now, this.info)) unlinkQuietly(this.path);
  }
}

/** Temporary claim files of processes killed between writing and linking them. */
function removeOrphanTemps(stem: string): void {
  const dir = dirname(stem);
  const pattern = new RegExp(`^${basename(stem)}\\.(\\d+)-[0-9a-f]+\\.tmp$`);
  for (const name of readdirSync(dir)) {
    const m = pattern.exec(name);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) unlinkQuietly(join(dir, name));
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/** The run holding the lock `stem` now, or undefined when none does (for poplift status). */
export function lockHolder(stem: string): LockInfo | undefined {
  let claims: Claim[];
  try {
    claims = listClaims(stem);
  } catch {
    return undefined;
  }
  return claims.find((claim) => claim.holder !== undefined && goneReason(claim.holder) === undefined)?.holder;
}
