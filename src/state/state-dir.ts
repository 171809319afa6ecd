import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { usageError } from '../errors.js';

/** $XDG_STATE_HOME/poplift, else ~/.local/state/poplift, unless --state-dir names another. */
export function stateDirectory(explicit: string | undefined, env: NodeJS.ProcessEnv): string {
  if (explicit !== undefined) return explicit;
  const xdg = env.XDG_STATE_HOME;
  if (xdg && xdg.startsWith('/')) return join(xdg, 'poplift');
  return join(env.HOME || homedir(), '.local', 'state', 'poplift');
}

/** Creates the directory 0700 (journals name mailboxes and folders; they are nobody else's business). */
export function ensureStateDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  } catch (err) {
    throw usageError(`Cannot use the state directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; choose another with --state-dir.`);
  }
}

/** A short, stable file-name stem for an account or a pair of them; never contains a secret. */
export function stateName(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 24);
}
