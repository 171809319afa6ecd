/**
 * One file per signed-in account in the state directory, holding what it
 * takes to get a fresh access token: the provider's endpoints and client,
 * the refresh token (or, for an application, its secret) and the current
 * access token. Files are 0600, read and written without following links,
 * replaced whole by rename, and refreshed under a lock so that two runs
 * sharing an account never both spend a rotating refresh token.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PopliftError } from '../errors.js';
import { readNoFollow, replaceFile } from '../state/private-file.js';
import { ensureStateDirectory, stateFsError } from '../state/state-dir.js';
import type { OAuthProvider } from './provider.js';

export interface StoredSignIn {
  version: 1;
  account: string;
  /** What `poplift login` was given as provider: google, microsoft or a provider file's path. */
  providerArgument: string;
  provider: OAuthProvider;
  /** `user`: a person signed in (refresh token); `app`: client credentials (no person, no refresh token). */
  grant: 'user' | 'app';
  refreshToken?: string | undefined;
  accessToken?: string | undefined;
  expiresAt?: number | undefined;
  signedInAt: number;
}

const PREFIX = 'oauth-';

export function signInPath(stateDir: string, account: string): string {
  return join(stateDir, `${PREFIX}${createHash('sha256').update(account).digest('hex').slice(0, 24)}.json`);
}

/** The stored sign-in, or undefined when the account has none. */
export function readSignIn(path: string): StoredSignIn | undefined {
  let file: { content: Buffer; uid: number } | undefined;
  try {
    file = readNoFollow(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP')
      throw new PopliftError(
        `${path} is a symbolic link; poplift does not follow links in its state directory. Remove it and sign in again.`,
        {
          code: 'STATE',
        },
      );
    throw stateFsError(err, path, 'read');
  }
  if (file === undefined) return undefined;
  if (typeof process.getuid === 'function' && file.uid !== process.getuid())
    throw new PopliftError(`${path} belongs to another user; poplift uses only sign-ins this user stored. Remove it and sign in again.`, {
      code: 'STATE',
    });
  try {
    const record = JSON.parse(file.content.toString('utf8')) as Partial<StoredSignIn> | null;
    if (record?.version !== 1 || typeof record.account !== 'string' || typeof record.provider?.tokenEndpoint !== 'string')
      throw new Error('not a sign-in');
    return record as StoredSignIn;
  } catch (err) {
    throw new PopliftError(`${path} is not a sign-in poplift can read (${(err as Error).message}); run poplift login again.`, {
      code: 'STATE',
    });
  }
}

/** Replaces the stored sign-in whole: a crash leaves the old file or the new one, never half of either. */
export function writeSignIn(stateDir: string, record: StoredSignIn): string {
  ensureStateDirectory(stateDir);
  const path = signInPath(stateDir, record.account);
  replaceFile(path, `${JSON.stringify(record)}\n`);
  return path;
}

export function deleteSignIn(stateDir: string, account: string): boolean {
  try {
    unlinkSync(signInPath(stateDir, account));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw stateFsError(err, signInPath(stateDir, account), 'remove');
  }
}

export function listSignIns(stateDir: string): StoredSignIn[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw stateFsError(err, stateDir, 'read');
  }
  return names
    .filter((name) => name.startsWith(PREFIX) && name.endsWith('.json'))
    .flatMap((name) => {
      const record = readSignIn(join(stateDir, name));
      return record === undefined ? [] : [record];
    })
    .sort((a, b) => a.account.localeCompare(b.account));
}

/**
 * Runs `f` holding the account's refresh lock (a file created exclusively);
 * a lock older than a minute is left by a run that died and is taken over.
 */
export async function withRefreshLock<T>(path: string, f: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      closeSync(openSync(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw stateFsError(err, lock, 'create');
      try {
        if (Date.now() - statSync(lock).mtimeMs > 60_000) unlinkSync(lock);
      } catch {
        // Released meanwhile.
      }
      if (Date.now() > deadline)
        throw new PopliftError(`Another run has held ${lock} for 30 s while refreshing an OAuth2 token; run poplift again.`, {
          code: 'LOCKED',
        });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await f();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // Already gone.
    }
  }
}
