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
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type Side = 'POP3' | 'IMAP';

export interface PopliftErrorOptions {
  exitCode: ExitCodeValue;
  side?: Side;
  /** host:port of the server concerned, for the one-line message. */
  server?: string;
  /** Machine-readable reason, stable across releases (used in JSON output). */
  code?: string;
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
  readonly code: string | undefined;

  constructor(message: string, options: PopliftErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PopliftError';
    this.exitCode = options.exitCode;
    this.side = options.side;
    this.server = options.server;
    this.code = options.code;
  }
}

export function usageError(message: string): PopliftError {
  return new PopliftError(message, { exitCode: ExitCode.USAGE, code: 'USAGE' });
}

const TLS_REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the certificate chain ends in an untrusted self-signed CA',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT: 'the certificate is not signed by a trusted CA',
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate does not match the host name',
  HOSTNAME_MISMATCH: 'the certificate does not match the host name',
  CERT_REVOKED: 'the certificate has been revoked',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the port does not speak TLS (try the non-TLS scheme, or the right port)',
  ERR_SSL_UNSUPPORTED_PROTOCOL: 'the server offers only TLS versions older than 1.2',
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: 'the server offers only TLS versions older than 1.2',
};

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the port right and the server running?)',
  ENOTFOUND: 'host name not found (check the spelling and DNS)',
  EAI_AGAIN: 'host name lookup failed for now (check DNS)',
  ETIMEDOUT: 'connection timed out (check the host, port and firewall)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'the server reset the connection',
  EPIPE: 'the server closed the connection',
};

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; reason?: unknown } | undefined;
  return typeof e?.code === 'string' ? e.code : undefined;
}

/** True for Node's certificate-verification and TLS-handshake error codes. */
export function isTlsError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && (code in TLS_REASONS || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.includes('CERT'));
}

/**
 * Turns a socket-level failure while connecting into the one-line error the
 * user sees (exit 4), naming the side, the server and what to try.
 */
export function connectError(side: Side, server: string, err: unknown): PopliftError {
  const code = errorCode(err);
  const lower = side === 'POP3' ? 'pop3' : 'imap';
  if (isTlsError(err)) {
    const reason = (code && TLS_REASONS[code]) ?? `TLS failed (${code}: ${(err as Error).message})`;
    return new PopliftError(
      `${side} server ${server}: TLS failed: ${reason}. Trust its CA with --${lower}-ca-file <pem>, or skip verification with --${lower}-insecure.`,
      { exitCode: ExitCode.CONNECT, side, server, code: 'TLS', cause: err },
    );
  }
  const reason = (code && NETWORK_REASONS[code]) ?? (err instanceof Error ? err.message : String(err));
  return new PopliftError(`${side} server ${server}: cannot connect: ${reason}.`, {
    exitCode: ExitCode.CONNECT,
    side,
    server,
    code: 'CONNECT',
    cause: err,
  });
}
