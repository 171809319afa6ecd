import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ExitCode, PopliftError, usageError } from '../errors.js';

/** $XDG_STATE_HOME/poplift, else ~/.local/state/poplift, unless --state-dir names another. */
export function stateDirectory(explicit: string | undefined, env: NodeJS.ProcessEnv): string {
  if (explicit !== undefined) return explicit;
  const xdg = env.XDG_STATE_HOME;
  if (xdg && xdg.startsWith('/')) return join(xdg, 'poplift');
  return join(env.HOME || homedir(), '.local', 'state', 'poplift');
}

/** What to do about a file-system error in the state directory. */
function advice(code: string | undefined): string {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return 'the disk (or your quota) is full; free some space and run poplift again (what is done is kept)';
    case 'EROFS':
      return 'the file system is read-only; choose a writable --state-dir';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied; fix its permissions or choose another --state-dir';
    case 'EISDIR':
      return 'a directory is in the way; remove it or choose another --state-dir';
    case 'ENOTDIR':
      return 'a file is in the way where a directory should be; choose another --state-dir';
    case 'ENOENT':
      return 'it does not exist and cannot be created there; choose another --state-dir';
    default:
      return 'choose another --state-dir';
  }
}

/**
 * A file-system error in the state directory as one line saying what to do
 * (exit 2). Nothing is lost by stopping there: a journal is written before
 * the messages it names are deleted, never after.
 */
export function stateFsError(err: unknown, path: string, action: string): PopliftError {
  if (err instanceof PopliftError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new PopliftError(`Cannot ${action} ${path} in the state directory (${code ?? (err as Error).message}): ${advice(code)}.`, {
    exitCode: ExitCode.USAGE,
    code: 'STATE',
    cause: err,
  });
}

/**
 * Creates the directory 0700 (journals name mailboxes and folders; they are
 * nobody else's business). One level at a time rather than Node's recursive
 * mkdir, which loops forever where mkdir answers ENOENT for an existing
 * parent (e.g. under /proc).
 */
export function ensureStateDirectory(dir: string): void {
  try {
    makeDirectory(resolve(dir));
    if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usageError(`Cannot use the state directory ${dir} (${code ?? (err as Error).message}): ${advice(code)}.`);
  }
}

function makeDirectory(dir: string): void {
  try {
    if (statSync(dir).isDirectory()) return;
    const err = new Error(`${dir} is not a directory`) as NodeJS.ErrnoException;
    err.code = 'ENOTDIR';
    throw err;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const parent = dirname(dir);
  if (parent !== dir) makeDirectory(parent);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** A short, stable file-name stem for an account or a pair of them; never contains a secret. */
export function stateName(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 24);
}

/** A server as state file names see it. */
export interface StateEndpoint {
  /** pop3, pop3s, imap or imaps. */
  scheme: string;
  host: string;
  port: number;
  user: string;
}

/**
 * The journal of one source mailbox and destination folder: by scheme, host,
 * port and user on both sides (two POP3 servers behind one host name, e.g.
 * tunnels on two local ports, are two mailboxes) and the folder.
 */
export function journalName(pop3: StateEndpoint, imap: StateEndpoint, folder: string): string {
  const side = (e: StateEndpoint) => [e.scheme, e.host.toLowerCase(), String(e.port), e.user];
  return `${stateName('journal-2', ...side(pop3), ...side(imap), folder)}.journal`;
}

/** The journal name used before the port and scheme were part of it (by user and host alone). */
export function legacyJournalName(pop3: StateEndpoint, imap: StateEndpoint, folder: string): string {
  return `${stateName(`${pop3.user}@${pop3.host.toLowerCase()}`, `${imap.user}@${imap.host.toLowerCase()}`, folder)}.journal`;
}

/** The stem of a mailbox's lock files (see MailboxLock), from its identity (mailboxIdentity). */
export function lockStem(identity: string): string {
  return stateName('lock-2', identity);
}
