import { createHash } from 'node:crypto';
import { constants, lstatSync, mkdirSync, openSync, readFileSync, closeSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PopliftError, usageError } from '../errors.js';
import { option } from '../option-hint.js';

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
      return `the file system is read-only; choose a writable ${option('stateDir')}`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied; fix its permissions or choose another ${option('stateDir')}`;
    case 'EISDIR':
      return `a directory is in the way; remove it or choose another ${option('stateDir')}`;
    case 'ENOTDIR':
      return `a file is in the way where a directory should be; choose another ${option('stateDir')}`;
    case 'ENOENT':
      return `it does not exist and cannot be created there; choose another ${option('stateDir')}`;
    case 'ELOOP':
      return 'a symbolic link is in the way, and poplift does not follow links in the state directory; remove it';
    default:
      return `choose another ${option('stateDir')}`;
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
    code: 'STATE',
    cause: err,
  });
}

/** The refusal of a state directory poplift will not use (exit 2, code STATE). */
function refusedDirectory(dir: string, why: string): PopliftError {
  return new PopliftError(`Cannot use the state directory ${dir}: ${why}.`, { code: 'STATE' });
}

/**
 * Creates the directory 0700 (journals name mailboxes and folders; they are
 * nobody else's business). One level at a time rather than Node's recursive
 * mkdir, which loops forever where mkdir answers ENOENT for an existing
 * parent (e.g. under /proc).
 *
 * An existing directory is used only when it is one (not a symbolic link:
 * a link planted under its name would send the journals elsewhere), belongs
 * to this user (or root), and nobody else can write to it, as ssh treats
 * ~/.ssh: whoever can write there can plant links and claims under the
 * names poplift opens. It is never chmodded: poplift changes the mode of no
 * directory it did not create.
 */
export function ensureStateDirectory(dir: string): void {
  let st;
  try {
    makeDirectory(resolve(dir));
    st = lstatSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usageError(`Cannot use the state directory ${dir} (${code ?? (err as Error).message}): ${advice(code)}.`);
  }
  if (st.isSymbolicLink()) {
    throw refusedDirectory(
      dir,
      `it is a symbolic link, which poplift does not follow there; name the directory itself with ${option('stateDir')}`,
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
    throw refusedDirectory(
      dir,
      `it belongs to another user (uid ${st.uid}), who could change its journals and locks; use a directory of your own (${option('stateDir')})`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw refusedDirectory(
      dir,
      `other users can write to it (mode ${(st.mode & 0o777).toString(8)}), so they could plant files and links in it; chmod 700 it or choose another ${option('stateDir')}`,
    );
  }
}

/** O_NOFOLLOW: a state file's name that is a symbolic link fails with ELOOP instead of being followed. */
export const NO_FOLLOW = constants.O_NOFOLLOW;

/** A state file's text, never read through a symbolic link (ELOOP). */
export function readStateFile(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | NO_FOLLOW);
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

function makeDirectory(dir: string): void {
  try {
    // lstat: a link under the directory's name is refused by the caller, never followed to create under.
    const st = lstatSync(dir);
    if (st.isDirectory() || (st.isSymbolicLink() && statSync(dir).isDirectory())) return;
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
