import { isIP } from 'node:net';

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
 * releases (JSON output and scripts use them). `transient` marks failures a
 * new connection may cure: the engine reconnects after those and only those.
 */
const ERROR_CODES = {
  USAGE: { transient: false, what: 'usage or configuration error' },
  LOCKED: { transient: false, what: "another run holds the mailbox's lock" },
  BAD_ROWS: { transient: false, what: 'rows of the batch file cannot run (the lines say which and why)' },
  STATE: {
    transient: false,
    what: "the state directory or a journal cannot be used (read-only, full, not a directory, a symbolic link, another user's or writable by others)",
  },
  POP3_CONNECT: { transient: true, what: 'the POP3 connection, DNS or greeting failed' },
  POP3_TLS: { transient: false, what: 'POP3 TLS handshake, certificate, or STLS failed' },
  POP3_AUTH: { transient: false, what: 'the POP3 server refused the login' },
  POP3_AUTH_TOKEN: { transient: false, what: 'the POP3 server refused the OAuth2 access token' },
  POP3_AUTH_UNSUPPORTED: { transient: false, what: 'the POP3 login method cannot work with this server' },
  POP3_IN_USE: { transient: false, what: 'another session holds the POP3 maildrop' },
  POP3_UNAVAILABLE: { transient: false, what: 'the POP3 server has a transient problem' },
  POP3_MAILDROP: {
    transient: false,
    what: 'the POP3 server refused the login for a reason of its own, not the credentials ([SYS/PERM], "message is damaged")',
  },
  POP3_LOGIN_DELAY: { transient: false, what: 'the POP3 server asks to wait longer between logins' },
  POP3_TOO_BIG: { transient: false, what: 'a message was larger than its listed size allows or than --max-message-size' },
  POP3_CONNECTION_LOST: { transient: true, what: 'the POP3 server closed or reset the connection' },
  POP3_TIMEOUT: { transient: true, what: 'the POP3 server sent nothing for --timeout, or did not finish an exchange within its deadline' },
  POP3_ERR: { transient: false, what: 'the POP3 server refused one command' },
  POP3_PROTOCOL: { transient: false, what: 'the POP3 server sent something that is not POP3' },
  POP3_CLOSED: { transient: true, what: 'the POP3 connection was closed by poplift' },
  IMAP_CONNECT: { transient: true, what: 'the IMAP connection, DNS or greeting failed' },
  IMAP_TLS: { transient: false, what: 'IMAP TLS handshake, certificate, or STARTTLS failed' },
  IMAP_AUTH: { transient: false, what: 'the IMAP server refused the login' },
  IMAP_CONNECTION_LOST: { transient: true, what: 'the IMAP server closed or reset the connection' },
  IMAP_TIMEOUT: { transient: true, what: 'the IMAP server sent nothing for --timeout, or did not finish an exchange within its deadline' },
  IMAP_PROTOCOL: { transient: false, what: 'the IMAP server sent something unexpected or refused a command' },
  IMAP_CLOSED: { transient: true, what: 'the IMAP connection was closed by poplift' },
  IMAP_FOLDER: { transient: false, what: 'the IMAP server refused to create the folder' },
  MESSAGES_FAILED: {
    transient: false,
    what: 'the run finished but some messages failed; they stay on the POP3 server (history and alerts)',
  },
  OAUTH_SIGN_IN: {
    transient: false,
    what: 'the OAuth2 sign-in failed or no longer works (revoked, expired, password changed): run poplift login again',
  },
  OAUTH_UNREACHABLE: { transient: false, what: 'the OAuth2 authorization server could not be reached or did not answer' },
  FOLDER_NAME: { transient: false, what: "the folder name breaks the server's or the provider's naming rules" },
  THROTTLED: { transient: false, what: 'the server throttles beyond what one run waits for: run again later' },
  DAILY_QUOTA: { transient: false, what: "the account's daily upload or bandwidth quota is reached: run again later" },
} as const satisfies Record<string, { transient: boolean; what: string }>;

export type ErrorCodeValue = keyof typeof ERROR_CODES;

/** The codes by name, for branching on them: ErrorCode.POP3_ERR === 'POP3_ERR'. */
export const ErrorCode = Object.fromEntries(Object.keys(ERROR_CODES).map((k) => [k, k])) as { readonly [K in ErrorCodeValue]: K };

/** Every code with what it means, for documentation and tests. */
export function errorCodeTable(): ReadonlyArray<{ code: ErrorCodeValue; transient: boolean; what: string }> {
  return (Object.keys(ERROR_CODES) as ErrorCodeValue[]).map((code) => ({ code, ...ERROR_CODES[code] }));
}

export interface PopliftErrorOptions {
  exitCode: ExitCodeValue;
  side?: Side;
  /** host:port of the server concerned, for the one-line message. */
  server?: string;
  /** Machine-readable reason, stable across releases (used in JSON output). */
  code?: ErrorCodeValue;
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
  readonly code: ErrorCodeValue | undefined;

  constructor(message: string, options: PopliftErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PopliftError';
    this.exitCode = options.exitCode;
    this.side = options.side;
    this.server = options.server;
    this.code = options.code;
  }
}

/** A failure that a new connection to the same server may cure (a drop, reset, stall or refused connect). */
export function isTransient(err: unknown): err is PopliftError {
  return err instanceof PopliftError && err.code !== undefined && ERROR_CODES[err.code].transient;
}

/** The exit code of a run stopped by SIGINT or SIGTERM: 128 + the signal's number, as shells report it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : 143;
}

export function usageError(message: string): PopliftError {
  return new PopliftError(message, { exitCode: ExitCode.USAGE, code: 'USAGE' });
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
  const lower = side.toLowerCase();
  const problem = CERT_PROBLEMS[code];
  let message: string;
  if (problem !== undefined) {
    const mismatch = code === 'ERR_TLS_CERT_ALTNAME_INVALID';
    message =
      `TLS to ${side} server ${server} failed: ${problem}${mismatch ? ` "${host}"` : ''} (${code}): ` +
      (mismatch ? 'connect with a name the certificate lists, or ' : '') +
      `pass the CA certificate that signed it with --${lower}-ca-file <pem>, or skip verification with --${lower}-insecure (not recommended).`;
  } else {
    const [tls, plain] = PORTS[side];
    message =
      `TLS handshake with ${side} server ${server} failed (${code}): check that this port speaks implicit TLS ` +
      `(${side} over TLS is usually port ${tls}, plain ${side} port ${plain}).`;
  }
  return new PopliftError(message, { exitCode: ExitCode.CONNECT, side, server, code: `${side}_TLS`, cause: err });
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
  return new PopliftError(message, { exitCode: ExitCode.CONNECT, side, server, code: `${side}_CONNECT`, cause: err });
}

/** "host:port" as error messages and traces name a server, with an IPv6 literal in brackets. */
export function describeServer(server: { host: string; port: number }): string {
  return isIP(server.host) === 6 ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
}
