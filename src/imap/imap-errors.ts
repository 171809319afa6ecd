/**
 * The IMAP driver's errors, one factory each, as pop3-errors.ts has them
 * for POP3: the code (and so the exit code, errors.ts's table) is chosen
 * here, the call site says only what happened.
 */
import { PopliftError } from '../errors.js';
import { option } from '../option-hint.js';

const SIDE = 'IMAP' as const;

/** A duration as IMAP messages give it: "30 s", "2.5 s". */
export function seconds(ms: number): string {
  const s = Math.round(ms / 100) / 10;
  return Number.isInteger(s) ? `${s} s` : `${s.toFixed(1)} s`;
}

/**
 * A refused LOGIN or AUTHENTICATE: a refused token needs a fresh token, a
 * refused password a check of user name and password.
 */
export function loginRefused(
  server: string,
  user: string,
  refusal: { code: string | undefined; text: string; tokenUsed: boolean; oauthStatus?: string | undefined },
  cause?: unknown,
): PopliftError {
  const code = refusal.code ? `[${refusal.code}] ` : '';
  const said = refusal.text.replace(/\.$/, '');
  const status = refusal.oauthStatus === undefined ? '' : ` (status "${refusal.oauthStatus}")`;
  const what = refusal.tokenUsed
    ? `refused the OAuth2 access token for ${user}${status}: ${code}${said}. Get a fresh access token, and check that it was issued for this account with IMAP access.`
    : `refused the login for ${user}: ${code}${said}. Check the IMAP user name and password.`;
  return new PopliftError(`IMAP server ${server} ${what}`, {
    side: SIDE,
    server,
    code: 'IMAP_AUTH',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** imapflow gave up on a line, literal or response over its size cap. */
export function overCap(server: string, cause: Error): PopliftError {
  const e = cause as { code?: string; literalSize?: number };
  const what =
    e.code === 'LineTooLarge'
      ? 'a line longer than 1 MiB'
      : e.code === 'LiteralTooLarge'
        ? `a literal of ${e.literalSize ?? 'more than 512 MiB of'} octets (over 512 MiB)`
        : 'a response larger than 513 MiB';
  return new PopliftError(
    `IMAP server ${server} sent ${what}, which no IMAP server needs to; giving up on the connection. The server is broken or not an IMAP server: check the host and port, or ask its operator.`,
    { side: SIDE, server, code: 'IMAP_PROTOCOL', cause },
  );
}

/**
 * imapflow refuses to quote a CR, LF or NUL, and an IMAP string can carry
 * none of them: the password is wrong however often the run is tried again.
 */
export function unsendablePassword(server: string, user: string, what: string, cause: unknown): PopliftError {
  return new PopliftError(
    `IMAP server ${server}: the IMAP password for ${user} contains ${what} character, which an IMAP login cannot send. Check the password (the first line of ${option('imapPasswordFile')}, POPLIFT_IMAP_PASSWORD or the command's output).`,
    { side: SIDE, server, code: 'IMAP_AUTH', cause },
  );
}

/** Connecting failed in a way imapflow describes only in words. */
export function connectFailed(server: string, detail: string, cause: unknown): PopliftError {
  return new PopliftError(`IMAP server ${server}: ${detail}`, { side: SIDE, server, code: 'IMAP_CONNECT', cause });
}

/** No IMAP greeting came, and a second connection told what answers on the port instead. */
export function notImap(server: string, said: string): PopliftError {
  return new PopliftError(`IMAP server ${server} sent no IMAP greeting: ${said}.`, { side: SIDE, server, code: 'IMAP_CONNECT' });
}

/** The greeting and login together did not finish within their deadline. */
export function loginDeadline(server: string, ms: number): PopliftError {
  return new PopliftError(
    `IMAP server ${server} did not finish its greeting and login within ${seconds(ms)}; giving up on this connection.`,
    {
      side: SIDE,
      server,
      code: 'IMAP_CONNECT',
    },
  );
}

/** imapflow's greeting timer ran out (its own words suggest TLS even to a server that sent bytes, only too slowly). */
export function greetingTimeout(server: string, ms: number, cause: unknown): PopliftError {
  return new PopliftError(
    `IMAP server ${server} did not finish its greeting within ${seconds(ms)}: check that this is an IMAP port (imaps:// for TLS), or raise ${option('timeout')} for a very slow server.`,
    { side: SIDE, server, code: 'IMAP_CONNECT', cause },
  );
}

/** One exchange did not finish within its deadline; `verb` names the command. */
export function exchangeTimeout(server: string, verb: string, ms: number): PopliftError {
  return new PopliftError(`IMAP server ${server} did not finish answering ${verb} within ${seconds(ms)}; giving up on this connection.`, {
    side: SIDE,
    server,
    code: 'IMAP_TIMEOUT',
  });
}

/** A command failed: the connection was lost, or the server refused it (`detail` in its words). */
export function commandFailed(server: string, what: string, detail: string, lost: boolean, cause: unknown): PopliftError {
  return new PopliftError(`IMAP server ${server}: ${what} failed: ${detail}`, {
    side: SIDE,
    server,
    code: lost ? 'IMAP_CONNECTION_LOST' : 'IMAP_PROTOCOL',
    cause,
  });
}

/** The folder name breaks the server's or the provider's rules; nothing was sent. */
export function folderNameRefused(server: string, refusal: string): PopliftError {
  return new PopliftError(`IMAP server ${server}: ${refusal}`, { side: SIDE, server, code: 'FOLDER_NAME' });
}

/** CREATE was refused. */
export function folderCreateRefused(server: string, folder: string, said: string, cause: unknown): PopliftError {
  return new PopliftError(
    `IMAP server ${server} refused to create folder '${folder}': ${said}. Check the folder name and the account's rights.`,
    { side: SIDE, server, code: 'IMAP_FOLDER', cause },
  );
}

/** Every upload connection of the pool was lost with messages still waiting. */
export function everyUploadLost(): PopliftError {
  return new PopliftError('Every IMAP upload connection was lost.', { side: SIDE, code: 'IMAP_CONNECTION_LOST' });
}

/** The upload pool was closed by poplift. */
export function uploadsClosed(): PopliftError {
  return new PopliftError('The IMAP upload connections are closed.', { side: SIDE, code: 'IMAP_CLOSED' });
}
