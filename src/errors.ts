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
