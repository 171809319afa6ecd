/**
 * Where passwords and OAuth2 tokens come from. Never from argv unless the
 * user put a password in the URL; never echoed, logged or stored.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { displayText } from '../display-text.js';
import { usageError, type Side } from '../errors.js';

export interface SecretOptions {
  passwordFile?: string;
  passwordCommand?: string;
  tokenFile?: string;
  tokenCommand?: string;
}

/** A sign-in `poplift login` stored for an account. */
export interface StoredSignInLookup {
  account: string;
  /** --*-auth oauth or --*-oauth-account: the stored sign-in and nothing else. */
  required: boolean;
  /** Its token source, refreshed if need be; undefined when the account has none. */
  load: () => Promise<TokenSource | undefined>;
}

export interface CredentialSources extends SecretOptions {
  side: Side;
  /** user@host, for the prompt: with two accounts to type passwords for, each question names its own. */
  account?: string;
  stored?: StoredSignInLookup | undefined;
  env: NodeJS.ProcessEnv;
  /** A password written into the server URL. */
  fromUrl: string | undefined;
  warn: (message: string) => void;
  /** Asks on the terminal with echo off; undefined when stdin is not a terminal. */
  prompt: ((question: string) => Promise<string>) | undefined;
}

/** An OAuth2 access token that can be fetched again when the server calls it expired. */
export interface TokenSource {
  current(): string;
  /** A fresh token from --*-token-command; undefined when the token came from a file. */
  refresh: (() => Promise<string>) | undefined;
}

export type Credentials = { password: string; token?: undefined } | { token: TokenSource; password?: undefined };

function envName(side: Side): string {
  return `POPLIFT_${side}_PASSWORD`;
}

function firstLine(text: string): string {
  return text.split(/\r?\n/, 1)[0] ?? '';
}

/** Why a file could not be read, in words (the errno code stays in brackets for searching). */
export function fileProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'it does not exist (ENOENT)';
    case 'EACCES':
    case 'EPERM':
      return `this user may not read it (${code})`;
    case 'EISDIR':
      return 'it is a directory (EISDIR)';
    default:
      return code ?? (err as Error).message;
  }
}

/** First line of the file, without its line end. `option` names where the path came from. */
export function readSecretFile(path: string, what: string, warn: (m: string) => void, option?: string): string {
  const from = option === undefined ? '' : ` (${option})`;
  let text: string;
  try {
    if ((statSync(path).mode & 0o077) !== 0) {
      warn(
        `The ${what} file ${path} can be read by other users of this machine; chmod 600 it (or create it with umask 077 or install -m 600).`,
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`Cannot read the ${what} file ${path}${from}: ${fileProblem(err)}.`);
  }
  const line = firstLine(text);
  if (line === '') throw usageError(`The ${what} file ${path}${from} is empty.`);
  return line;
}

/** poplift's own secrets in an environment: POPLIFT_* names with PASSWORD, TOKEN or SECRET in them. */
const SECRET_VARIABLE = /^POPLIFT_.*(?:PASSWORD|TOKEN|SECRET)/i;

/**
 * The environment a secret command runs in: the run's, less poplift's
 * secrets. The POP3 password command has no business with the IMAP
 * password, and a command that logs its environment must not log it.
 */
export function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !SECRET_VARIABLE.test(name)));
}

/** How long a --*-password-command or --*-token-command may run. */
export const SECRET_COMMAND_TIMEOUT_MS = 60_000;

/** Most output read from a secret command; only its first line is used. */
const MAX_COMMAND_OUTPUT = 1024 * 1024;

/**
 * Runs a user's command through the shell; its first line of output is the
 * secret. It gets no stdin (a command that asks a question gets end of
 * input instead of waiting forever) and runs in its own process group, so
 * that on timeout the whole group is killed: killing only the shell left
 * its children holding the output pipe open, and the run hung.
 */
export function runSecretCommand(
  command: string,
  what: string,
  timeoutMs = SECRET_COMMAND_TIMEOUT_MS,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: withoutSecrets(env) });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let outLength = 0;
    let settled = false;
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const finish = (err: Error | undefined, value?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err !== undefined) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => {
      killGroup();
      const seconds = timeoutMs % 1000 === 0 ? `${timeoutMs / 1000} s` : `${(timeoutMs / 1000).toFixed(1)} s`;
      finish(
        usageError(`The ${what} command did not finish within ${seconds} and was stopped: check that it runs without asking for input.`),
      );
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      outLength += chunk.length;
      if (outLength <= MAX_COMMAND_OUTPUT) stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.reduce((n, b) => n + b.length, 0) < 64 * 1024) stderr.push(chunk);
    });
    child.on('error', (err) =>
      finish(usageError(`The ${what} command could not be started (${(err as NodeJS.ErrnoException).code ?? err.message}).`)),
    );
    const conclude = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(exitTimer);
      child.stdout.destroy();
      child.stderr.destroy();
      if (code !== 0) {
        // The command's own words may help, but never its output, which could hold the secret.
        const said = firstLine(Buffer.concat(stderr).toString('utf8')).slice(0, 200);
        finish(usageError(`The ${what} command failed (${code ?? signal})${said ? `: ${said}` : ''}.`));
        return;
      }
      const line = firstLine(Buffer.concat(stdout).toString('utf8')).trim();
      if (line === '') finish(usageError(`The ${what} command printed nothing.`));
      else finish(undefined, line);
    };
    let exitTimer: NodeJS.Timeout | undefined;
    // A child the command left running may hold the pipes open after the
    // shell exits: its exit status and what came within a second are enough.
    child.on('exit', (code, signal) => {
      exitTimer = setTimeout(() => conclude(code, signal), 1000);
    });
    child.on('close', conclude);
  });
}

export async function resolveCredentials(s: CredentialSources): Promise<Credentials> {
  const lower = s.side.toLowerCase();
  const sources: Array<[string, string | undefined]> = [
    [`--${lower}-password-file`, s.passwordFile],
    [`--${lower}-password-command`, s.passwordCommand],
    [`--${lower}-token-file`, s.tokenFile],
    [`--${lower}-token-command`, s.tokenCommand],
  ];
  const given = sources.filter(([, value]) => value !== undefined).map(([option]) => option);
  if (given.length > 1) {
    throw usageError(
      `Give only one of --${lower}-password-file, --${lower}-password-command, --${lower}-token-file and --${lower}-token-command.`,
    );
  }
  if (s.stored?.required) {
    if (given.length > 0 || s.fromUrl !== undefined)
      throw usageError(
        `--${lower}-auth oauth uses the sign-in poplift login stored; give no ${given[0] ?? 'password in the URL'} with it.`,
      );
    const token = await s.stored.load();
    if (token === undefined)
      throw usageError(
        `No stored OAuth2 sign-in for ${s.stored.account}: run poplift login <provider> ${s.stored.account} first (google, microsoft or a provider file).`,
      );
    return { token };
  }
  const fromEnv = s.env[envName(s.side)];
  if (fromEnv !== undefined && fromEnv !== '') given.push(envName(s.side));
  if (s.fromUrl !== undefined && given.length > 0) {
    // Two passwords for one login: using either silently would leave the user guessing which one the server refused.
    throw usageError(`The ${s.side} URL has a password and ${given[0]} gives one too: remove the password from the URL.`);
  }
  if (s.tokenFile !== undefined) {
    const token = readSecretFile(s.tokenFile, `${s.side} token`, s.warn, `--${lower}-token-file`);
    return { token: { current: () => token, refresh: undefined } };
  }
  if (s.tokenCommand !== undefined) {
    const command = s.tokenCommand;
    let token = await runSecretCommand(command, `${s.side} token`, undefined, s.env);
    return {
      token: {
        current: () => token,
        refresh: async () => {
          token = await runSecretCommand(command, `${s.side} token`, undefined, s.env);
          return token;
        },
      },
    };
  }
  if (s.passwordFile !== undefined)
    return { password: readSecretFile(s.passwordFile, `${s.side} password`, s.warn, `--${lower}-password-file`) };
  if (s.passwordCommand !== undefined)
    return { password: await runSecretCommand(s.passwordCommand, `${s.side} password`, undefined, s.env) };
  if (fromEnv !== undefined && fromEnv !== '') return { password: fromEnv };
  if (s.fromUrl !== undefined) {
    s.warn(
      `The ${s.side} password is in the URL, where other users of this machine can see it; use ${envName(s.side)} or --${lower}-password-file instead.`,
    );
    return { password: s.fromUrl };
  }
  // A stored sign-in serves an account for which nothing else was given.
  const stored = await s.stored?.load();
  if (stored !== undefined) return { token: stored };
  if (s.prompt) {
    const password = await s.prompt(`${s.side} password${s.account === undefined ? '' : ` for ${displayText(s.account)}`}: `);
    if (password !== '') return { password };
  }
  throw usageError(
    `No ${s.side} password: set ${envName(s.side)}, or give --${lower}-password-file <file> or --${lower}-password-command <cmd>.`,
  );
}

/** A prompt on the controlling terminal that does not echo what is typed. */
export function terminalPrompt(stdin: NodeJS.ReadStream, stderr: NodeJS.WritableStream): (question: string) => Promise<string> {
  return (question) =>
    new Promise((resolve) => {
      // Echo off before the question shows: a fast typist or a paste must not be echoed.
      stdin.setRawMode(true);
      stdin.resume();
      stderr.write(question);
      let typed = '';
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            stdin.setRawMode(false);
            stdin.pause();
            stdin.off('data', onData);
            stderr.write('\n');
            resolve(typed);
            return;
          }
          if (ch === '\u0003') {
            stdin.setRawMode(false);
            process.exit(130);
          }
          typed = ch === '\u007f' || ch === '\b' ? typed.slice(0, -1) : typed + ch;
        }
      };
      stdin.on('data', onData);
    });
}
