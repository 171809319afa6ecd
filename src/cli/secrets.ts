/**
 * Where passwords come from. Never from argv unless the user put one in the
 * URL; never echoed, logged or stored.
 */
import { readFileSync, statSync } from 'node:fs';
import { usageError, type Side } from '../errors.js';

export interface PasswordSources {
  side: Side;
  /** --pop3-password-file / --imap-password-file */
  file: string | undefined;
  env: NodeJS.ProcessEnv;
  /** A password written into the server URL. */
  fromUrl: string | undefined;
  warn: (message: string) => void;
}

function envName(side: Side): string {
  return `POPLIFT_${side}_PASSWORD`;
}

/** First line of the file, without its line end. */
export function readSecretFile(path: string, what: string, warn: (m: string) => void): string {
  let text: string;
  try {
    const mode = statSync(path).mode;
    if ((mode & 0o077) !== 0) {
      warn(`${what} file ${path} can be read by other users of this machine; chmod 600 it.`);
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`Cannot read the ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
  }
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  if (line === '') throw usageError(`The ${what} file ${path} is empty.`);
  return line;
}

export function resolvePassword(s: PasswordSources): string {
  const lower = s.side.toLowerCase();
  if (s.file !== undefined) return readSecretFile(s.file, `${s.side} password`, s.warn);
  const fromEnv = s.env[envName(s.side)];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (s.fromUrl !== undefined) {
    s.warn(`The ${s.side} password is in the URL, where other users of this machine can see it; use ${envName(s.side)} or --${lower}-password-file instead.`);
    return s.fromUrl;
  }
  throw usageError(`No ${s.side} password: set ${envName(s.side)} or give --${lower}-password-file <file>.`);
}
