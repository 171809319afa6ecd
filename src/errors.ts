import { isIP } from 'node:net';
import { option } from './option-hint.js';

/**
 * Exit codes are part of poplift's public interface (README "Exit codes"):
 * cron jobs and batch scripts branch on them, so never renumber.
 */
export const ExitCode = {
  /** Every source message is on the destination. */
  OK: 0,
  /** The run finished but some messages failed (or a mailbox was stopped). */
  PARTIAL: 1,
  /** Usage or configuration error: nothing was transferred. */
  USAGE: 2,
  /** A server refused the credentials. */
  AUTH: 3,
  /** A server could not be reached, or TLS failed. */
  CONNECT: 4,
  /** Another poplift run holds this mailbox's lock. */
  LOCKED: 5,
  /**
   * A provider's daily quota, or throttling longer than a run should wait:
   * what was done is recorded; run again later (a cron schedule simply does).
   */
  LATER: 6,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type Side = 'POP3' | 'IMAP';

/**
 * Every machine-readable reason a PopliftError carries, stable across
 * releases (JSON output and scripts use them), with the exit code a run
 * ending in it has and the user's next step. The exit code comes from this
 * table alone: a reason that needs two exit codes is two codes. `transient`
 * marks failures a new connection may cure: the engine reconnects after
 * those and only those.
 */
const ERROR_CODES = {
  USAGE: {
    exit: ExitCode.USAGE,
    transient: false,
    what: 'usage or configuration error',
    advice: 'correct the option or file the line names',
  },
  LOCKED: {
    exit: ExitCode.LOCKED,
    transient: false,
    what: "another run holds the mailbox's lock",
    advice: 'wait for the other run to end',
  },
  BAD_ROWS: {
    exit: ExitCode.USAGE,
    transient: false,
    what: 'rows of the batch file cannot run (the lines say which and why)',
    advice: 'fix the rows, or pass --skip-bad-rows',
  },
  STATE: {
    exit: ExitCode.USAGE,
    transient: false,
    what: "the state directory or a journal cannot be used (read-only, full, not a directory, a symbolic link, another user's or writable by others)",
    advice: 'fix the directory as the line says, or choose another with --state-dir',
  },
  POP3_CONNECT: {
    exit: ExitCode.CONNECT,
    transient: true,
    what: 'the POP3 connection, DNS or greeting failed',
    advice: 'check the POP3 host, port and TLS setting',
  },
  POP3_TLS: {
    exit: ExitCode.CONNECT,
    transient: false,
    what: 'POP3 TLS handshake, certificate, or STLS failed',
    advice: 'check the port and TLS setting, or pass the CA with --pop3-ca-file',
  },
  POP3_AUTH: {
    exit: ExitCode.AUTH,
    transient: false,
    what: 'the POP3 server refused the login',
    advice: 'check the POP3 user name and password',
  },
  POP3_AUTH_TOKEN: {
    exit: ExitCode.AUTH,
    transient: false,
    what: 'the POP3 server refused the OAuth2 access token',
    advice: 'get a fresh access token (poplift login)',
  },
  POP3_AUTH_UNSUPPORTED: {
    exit: ExitCode.USAGE,
    transient: false,
    what: 'the POP3 login method cannot work with this server',
    advice: 'choose a login method the server offers',
  },
  POP3_IN_USE: {
    exit: ExitCode.CONNECT,
    transient: false,
    what: 'another session holds the POP3 maildrop',
    advice: 'close other mail clients and run again later',
  },
  POP3_UNAVAILABLE: {
    exit: ExitCode.CONNECT,
    transient: false,
    what: 'the POP3 server has a transient problem',
    advice: 'run again later',
  },
  POP3_MAILDROP: {
    exit: ExitCode.PARTIAL,
    transient: false,
    what: 'the POP3 server refused the login for a reason of its own, not the credentials ([SYS/PERM], "message is damaged")',
    advice: "ask the server's administrator to remove the cause",
  },
  POP3_LOGIN_DELAY: {
    exit: ExitCode.CONNECT,
    transient: false,
    what: 'the POP3 server asks to wait longer between logins',
    advice: 'run again after the delay its CAPA LOGIN-DELAY names',
  },
  POP3_TOO_BIG: {
    exit: ExitCode.PARTIAL,
    transient: false,
    what: 'a message was larger than its listed size allows or than --max-message-size',
    advice: 'raise --max-message-size if the message is genuine',
  },
  POP3_CONNECTION_LOST: {
    exit: ExitCode.PARTIAL,
    transient: true,
    what: 'the POP3 server closed or reset the connection',
    advice: 'run again to continue',
  },
  POP3_TIMEOUT: {
    exit: ExitCode.PARTIAL,
    transient: true,
    what: 'the POP3 server sent nothing for --timeout, or did not finish an exchange within its deadline',
    advice: 'run again, or raise --timeout for a slow server',
  },
  POP3_ERR: {
    exit: ExitCode.PARTIAL,
    transient: false,
    what: 'the POP3 server refused one command',
    advice: 'run again; the line says what stayed',
  },
  POP3_PROTOCOL: {
    exit: ExitCode.PARTIAL,
    transient: false,
    what: 'the POP3 server sent something that is not POP3',
    advice: "run again; if it persists, ask the server's operator",
  },
  POP3_CLOSED: {
    exit: ExitCode.PARTIAL,
    transient: true,
    what: 'the POP3 connection was closed by poplift',
    advice: 'run again to continue',
  },
  IMAP_CONNECT: {
    exit: ExitCode.CONNECT,
    transient: true,
    what: 'the IMAP connection, DNS or greeting failed',
    advice: 'check the IMAP host, port and TLS setting',
  },
  IMAP_GREETING: {
    exit: ExitCode.CONNECT,
    transient: false,
    what: 'an upload connection was greeted by something that is not an IMAP server',
    advice: 'check the IMAP port and TLS setting',
  },
  IMAP_TLS: {
    exit: ExitCode.CONNECT,
    transient: false,
    what: 'IMAP TLS handshake, certificate, or STARTTLS failed',
    advice: 'check the port and TLS setting, or pass the CA with --imap-ca-file',
  },
  IMAP_AUTH: {
    exit: ExitCode.AUTH,
    transient: false,
    what: 'the IMAP server refused the login',
    advice: 'check the IMAP user name and password, or get a fresh access token',
  },
  IMAP_CONNECTION_LOST: {
    exit: ExitCode.PARTIAL,
    transient: true,
    what: 'the IMAP server closed or reset the connection',
    advice: 'run again to continue',
  },
  IMAP_TIMEOUT: {
    exit: ExitCode.PARTIAL,
    transient: true,
    what: 'the IMAP server sent nothing for --timeout, or did not finish an exchange within its deadline',
    advice: 'run again, or raise --timeout for a slow server',
  },
  IMAP_PROTOCOL: {
    exit: ExitCode.PARTIAL,
    transient: false,
    what: 'the IMAP server sent something unexpected or refused a command',
    advice: "run again; if it persists, ask the server's operator",
  },
  IMAP_CLOSED: {
    exit: ExitCode.PARTIAL,
    transient: true,
    what: 'the IMAP connection was closed by poplift',
    advice: 'run again to continue',
  },
  IMAP_FOLDER: {
    exit: ExitCode.USAGE,
    transient: false,
    what: 'the IMAP server refused to create the folder',
    advice: "check the folder name and the account's rights",
  },
  IMAP_FOLDER_MISSING: {
    exit: ExitCode.PARTIAL,
    transient: false,
    what: 'verify: the IMAP folder does not exist, so none of the messages is there',
    advice: 'give the folder the migration used with --folder',
  },
  MESSAGES_FAILED: {
    exit: ExitCode.PARTIAL,
    transient: false,
    what: 'the run finished but some messages failed; they stay on the POP3 server (history and alerts)',
    advice: 'run again; the failures list says why each failed',
  },
  OAUTH_SIGN_IN: {
    exit: ExitCode.AUTH,
    transient: false,
    what: 'the OAuth2 sign-in failed or no longer works (revoked, expired, password changed): run poplift login again',
    advice: 'run the poplift login command the line names',
  },
  OAUTH_UNREACHABLE: {
    exit: ExitCode.CONNECT,
    transient: false,
    what: 'the OAuth2 authorization server could not be reached or did not answer',
    advice: 'check the network, and run again later',
  },
  FOLDER_NAME: {
    exit: ExitCode.USAGE,
    transient: false,
    what: "the folder name breaks the server's or the provider's naming rules",
    advice: 'choose a folder name the line allows',
  },
  THROTTLED: {
    exit: ExitCode.LATER,
    transient: false,
    what: 'the server throttles beyond what one run waits for: run again later',
    advice: 'run again later (a cron schedule simply does)',
  },
  DAILY_QUOTA: {
    exit: ExitCode.LATER,
    transient: false,
    what: "the account's daily upload or bandwidth quota is reached: run again later",
    advice: 'run again tomorrow (a cron schedule simply does)',
  },
} as const satisfies Record<string, { exit: ExitCodeValue; transient: boolean; what: string; advice: string }>;

export type ErrorCodeValue = keyof typeof ERROR_CODES;

/** The codes by name, for branching on them: ErrorCode.POP3_ERR === 'POP3_ERR'. */
export const ErrorCode = Object.fromEntries(Object.keys(ERROR_CODES).map((k) => [k, k])) as { readonly [K in ErrorCodeValue]: K };

export interface ErrorCodeRow {
  code: ErrorCodeValue;
  exit: ExitCodeValue;
  transient: boolean;
  what: string;
  advice: string;
}

/** Every code with its exit code, meaning and advice, for documentation and tests. */
export function errorCodeTable(): readonly ErrorCodeRow[] {
  return (Object.keys(ERROR_CODES) as ErrorCodeValue[]).map((code) => ({ code, ...ERROR_CODES[code] }));
}

/** The exit code of a run that ends in an error with this code. */
export function exitCodeOf(code: ErrorCodeValue): ExitCodeValue {
  return ERROR_CODES[code].exit;
}

/** The user's next step after an error with this code (docs and `--json`'s `error.advice`). */
export function adviceOf(code: ErrorCodeValue): string {
  return ERROR_CODES[code].advice;
}

export interface PopliftErrorOptions {
  /** Machine-readable reason, stable across releases (used in JSON output); it decides the exit code. */
  code: ErrorCodeValue;
  /**
   * Redundant: the exit code is the code's row's. Still accepted so that
   * older call sites keep their shape; test/unit/error-codes.test.ts checks
   * that every value given equals the row's.
   */
  exitCode?: ExitCodeValue;
  side?: Side;
  /** host:port of the server concerned, for the one-line message. */
  server?: string;
  cause?: unknown;
}

/**
 * An error meant for the user: its message is a complete sentence that names
 * the side and server and says what to do. The CLI prints only the message
 * (no stack) unless --debug is given.
 */
export class PopliftError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly side: Side | undefined;
  readonly server: string | undefined;
  readonly code: ErrorCodeValue;

  constructor(message: string, options: PopliftErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PopliftError';
    this.exitCode = exitCodeOf(options.code);
    this.side = options.side;
    this.server = options.server;
    this.code = options.code;
  }
}

/** A failure that a new connection to the same server may cure (a drop, reset, stall or refused connect). */
export function isTransient(err: unknown): err is PopliftError {
  return err instanceof PopliftError && ERROR_CODES[err.code].transient;
}

/** The exit code of a run stopped by SIGINT or SIGTERM: 128 + the signal's number, as shells report it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : 143;
}

export function usageError(message: string): PopliftError {
  return new PopliftError(message, { code: 'USAGE' });
}

/** Node's error code on a socket or TLS failure, if any. */
export function errnoCode(err: unknown): string | undefined {
  if (err !== null && typeof err === 'object' && 'code' in err) {
    const code = err.code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

const CERT_PROBLEMS: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's certificate is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "the server's certificate chain ends in a self-signed certificate that is not trusted",
  CERT_HAS_EXPIRED: "the server's certificate has expired",
  CERT_NOT_YET_VALID: "the server's certificate is not valid yet (check this machine's clock)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's certificate does not match the host name",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's certificate is signed by an unknown authority",
  UNABLE_TO_GET_ISSUER_CERT: "the server's certificate is signed by an unknown authority",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the server's certificate is signed by an unknown authority",
  CERT_REVOKED: "the server's certificate has been revoked",
  CERT_UNTRUSTED: "the server's certificate is not trusted",
  CERT_SIGNATURE_FAILURE: "the server's certificate signature is invalid",
};

/** Usual ports, for the hints: implicit TLS, then plain. */
const PORTS: Record<Side, [number, number]> = { POP3: [995, 110], IMAP: [993, 143] };

/** True for errors raised by TLS (handshake, protocol or certificate checks). */
export function isTlsError(err: unknown): boolean {
  const code = errnoCode(err);
  if (code === undefined) return false;
  return code in CERT_PROBLEMS || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_');
}

/** A certificate or handshake failure (exit 4): which side, which host, why, and what to do. */
export function tlsFailure(side: Side, server: string, host: string, err: unknown): PopliftError {
  const code = errnoCode(err) ?? 'unknown';
  const problem = CERT_PROBLEMS[code];
  let message: string;
  if (problem !== undefined) {
    const mismatch = code === 'ERR_TLS_CERT_ALTNAME_INVALID';
    message =
      `TLS to ${side} server ${server} failed: ${problem}${mismatch ? ` "${host}"` : ''} (${code}): ` +
      (mismatch ? 'connect with a name the certificate lists, or ' : '') +
      `pass the CA certificate that signed it with ${option(side === 'POP3' ? 'pop3CaFile' : 'imapCaFile')} <pem>, or skip verification with ${option(side === 'POP3' ? 'pop3Insecure' : 'imapInsecure')} (not recommended).`;
  } else {
    const [tls, plain] = PORTS[side];
    message =
      `TLS handshake with ${side} server ${server} failed (${code}): check that this port speaks implicit TLS ` +
      `(${side} over TLS is usually port ${tls}, plain ${side} port ${plain}).`;
  }
  return new PopliftError(message, { side, server, code: `${side}_TLS`, cause: err });
}

/** A failure before the server's greeting (exit 4): nothing was transferred. */
export function connectFailure(side: Side, server: string, host: string, err: unknown): PopliftError {
  if (isTlsError(err)) return tlsFailure(side, server, host, err);
  const code = errnoCode(err);
  let message: string;
  switch (code) {
    case 'ECONNREFUSED':
      message = `${side} server ${server} refused the connection (ECONNREFUSED): check the ${side} host and port, and that the server is running.`;
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_NODATA':
      message = `${side} server host "${host}" could not be resolved (${code}): check the ${side} host name and this machine's DNS.`;
      break;
    case 'ETIMEDOUT':
      message = `${side} server ${server} did not accept the connection in time (ETIMEDOUT): check the ${side} host, port and firewalls.`;
      break;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      message = `${side} server ${server} is unreachable (${code}): check the network and the ${side} host.`;
      break;
    case 'ECONNRESET':
    case 'EPIPE':
      message = `${side} server ${server} dropped the connection before its greeting (${code}): check the port and the TLS setting, or try again later.`;
      break;
    default: {
      const detail = code ?? (err instanceof Error ? err.message : String(err));
      message = `Could not connect to ${side} server ${server} (${detail}): check the ${side} host and port.`;
    }
  }
  return new PopliftError(message, { side, server, code: `${side}_CONNECT`, cause: err });
}

/** "host:port" as error messages and traces name a server, with an IPv6 literal in brackets. */
export function describeServer(server: { host: string; port: number }): string {
  return isIP(server.host) === 6 ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
}
