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
    const code = (err as { code: unknown }).code;
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
