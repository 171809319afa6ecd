import { displayText } from '../display-text.js';
import { ErrorCode, ExitCode, PopliftError, errnoCode } from '../errors.js';

/**
 * The codes of the PopliftErrors thrown by the POP3 driver, by short name
 * (they are entries of errors.ts's ErrorCode table).
 */
export const Pop3ErrorCode = {
  CONNECT: ErrorCode.POP3_CONNECT,
  TLS: ErrorCode.POP3_TLS,
  AUTH: ErrorCode.POP3_AUTH,
  /**
   * A caller holding a refresh token may get a new access token and retry
   * once. Every code starting with POP3_AUTH is a refused login.
   */
  AUTH_TOKEN: ErrorCode.POP3_AUTH_TOKEN,
  /**
   * APOP without a <timestamp> in the greeting, or a SASL mechanism the
   * server does not list (exit USAGE: no credentials were sent).
   */
  AUTH_UNSUPPORTED: ErrorCode.POP3_AUTH_UNSUPPORTED,
  /** Login answered -ERR [IN-USE], or said it could not lock the maildrop (exit CONNECT: try again later). */
  IN_USE: ErrorCode.POP3_IN_USE,
  /** Login answered -ERR [SYS/TEMP] (exit CONNECT). */
  UNAVAILABLE: ErrorCode.POP3_UNAVAILABLE,
  /**
   * Login answered -ERR [SYS/PERM], or words that name a cause of the
   * server's own and not the credentials ("message is damaged"): exit PARTIAL.
   */
  MAILDROP: ErrorCode.POP3_MAILDROP,
  /** Login answered -ERR [LOGIN-DELAY]: logged in again too soon after the last session (exit CONNECT). */
  LOGIN_DELAY: ErrorCode.POP3_LOGIN_DELAY,
  CONNECTION_LOST: ErrorCode.POP3_CONNECTION_LOST,
  TIMEOUT: ErrorCode.POP3_TIMEOUT,
  /**
   * A message was larger than its LIST size allows (plus a margin) or than
   * --max-message-size: read to its end and dropped; it stays on the server
   * and the connection is still usable.
   */
  TOO_BIG: ErrorCode.POP3_TOO_BIG,
  /** One command answered -ERR; the connection is still usable. */
  ERR: ErrorCode.POP3_ERR,
  PROTOCOL: ErrorCode.POP3_PROTOCOL,
  /** poplift closed the connection itself (close() or after QUIT). */
  CLOSED: ErrorCode.POP3_CLOSED,
} as const;

const SIDE = 'POP3' as const;

const RERUN = 'run poplift again to continue';

function seconds(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(1)}s`;
}

export function tlsHandshakeTimeout(server: string, timeoutMs: number): PopliftError {
  return new PopliftError(
    `TLS handshake with POP3 server ${server} did not finish within ${seconds(timeoutMs)}: check the server, or use pop3s:// (port 995).`,
    {
      exitCode: ExitCode.CONNECT,
      side: SIDE,
      server,
      code: Pop3ErrorCode.TLS,
    },
  );
}

/**
 * STLS was wanted but is not offered or was refused, and plain-text login is
 * not allowed. `secret` names what would travel unencrypted.
 */
export function tlsUnavailable(server: string, refusal: string | undefined, secret = 'the password'): PopliftError {
  const why = refusal === undefined ? 'does not offer STLS' : `refused STLS (${quoteServer(refusal)})`;
  return new PopliftError(
    `POP3 server ${server} ${why}, so ${secret} would travel unencrypted: use pop3s:// (TLS, usually port 995), or accept plain text with --allow-plaintext.`,
    { exitCode: ExitCode.CONNECT, side: SIDE, server, code: Pop3ErrorCode.TLS },
  );
}

export function connectTimeout(server: string, timeoutMs: number, transportUp: boolean, tls: boolean): PopliftError {
  const message = transportUp
    ? `POP3 server ${server} sent no greeting within ${seconds(timeoutMs)}: ` +
      (tls
        ? 'check that this is a POP3 port.'
        : 'if this is a TLS port (usually 995), enable TLS; otherwise check that this is a POP3 port.')
    : `POP3 server ${server} did not answer within ${seconds(timeoutMs)}: check the POP3 host, port and firewalls.`;
  return new PopliftError(message, { exitCode: ExitCode.CONNECT, side: SIDE, server, code: Pop3ErrorCode.CONNECT });
}

export function closedBeforeGreeting(server: string, serverWords: string | undefined): PopliftError {
  const said = serverWords === undefined ? '' : ` (it said: ${serverWords})`;
  return new PopliftError(
    `POP3 server ${server} closed the connection before its greeting${said}: check the port and the TLS setting, or try again later.`,
    { exitCode: ExitCode.CONNECT, side: SIDE, server, code: Pop3ErrorCode.CONNECT },
  );
}

/** A plain connection met silence, and a TLS handshake on the same port succeeded. */
export function tlsPortAsPlain(server: string, port: number): PopliftError {
  return new PopliftError(`POP3 server ${server} sent no greeting, and port ${port} speaks TLS from the first byte: use pop3s:// for it.`, {
    exitCode: ExitCode.CONNECT,
    side: SIDE,
    server,
    code: Pop3ErrorCode.CONNECT,
  });
}

/** A TLS connection got bytes that are not TLS (a plain-text greeting). */
export function plainPortAsTls(server: string, port: number, code: string): PopliftError {
  return new PopliftError(
    `TLS handshake with POP3 server ${server} failed (${code}): port ${port} answers in plain text, not TLS: use pop3:// for it (TLS is then negotiated with STLS), or the POP3S port, usually 995.`,
    { exitCode: ExitCode.CONNECT, side: SIDE, server, code: Pop3ErrorCode.TLS },
  );
}

/** The greeting was not a POP3 status line: some other service answers on this port. */
export function notPop3(server: string, detail: string, recognised?: string): PopliftError {
  if (recognised !== undefined) {
    return new PopliftError(`${server} is not a POP3 server: ${recognised}.`, {
      exitCode: ExitCode.CONNECT,
      side: SIDE,
      server,
      code: Pop3ErrorCode.CONNECT,
    });
  }
  return new PopliftError(`${server} does not answer like a POP3 server (${detail}): check the POP3 port and the TLS setting.`, {
    exitCode: ExitCode.CONNECT,
    side: SIDE,
    server,
    code: Pop3ErrorCode.CONNECT,
  });
}

export function greetingRefused(server: string, text: string): PopliftError {
  return new PopliftError(`POP3 server ${server} refused the session: ${quoteServer(text)}; try again later.`, {
    exitCode: ExitCode.CONNECT,
    side: SIDE,
    server,
    code: Pop3ErrorCode.CONNECT,
  });
}

/**
 * Servers that predate RFC 2449 response codes say in words that another
 * session holds the maildrop ("Unable to lock maildrop", "Mailbox is locked").
 */
const MAILDROP_LOCKED = /unable to lock|\b(maildrop|mailbox)\b[^.]*\b(locked|in use)\b|\block(ed)?\b[^.]*\b(maildrop|mailbox)\b/i;

/**
 * Words with which servers refuse a wrong user name or password when they
 * send no RFC 3206 code: "Login failed.", "authorization failed", "Logon
 * failure: unknown user name or bad password", "Access denied".
 */
const NAMES_CREDENTIALS = /pass(word|wd)?\b|auth|log ?[io]n|credential|\buser|\baccount|denied|incorrect|not accepted/i;

/** How the refused login was attempted, for the message and the code. */
export interface LoginAttempt {
  /** The command as the user may read it: "AUTH PLAIN", "APOP", "AUTH XOAUTH2". */
  method: string;
  /** An OAuth2 access token was sent and refused: code POP3_AUTH_TOKEN. */
  token?: boolean;
  /** The "status" of the JSON error challenge of OAUTHBEARER/XOAUTH2, if any. */
  oauthStatus?: string;
}

/**
 * -ERR to USER, PASS, APOP or AUTH (`attempt` undefined: USER/PASS). RFC 2449
 * and RFC 3206 response codes separate "wrong password" from "busy". `text`
 * must already be free of secrets.
 */
export function loginRefused(server: string, user: string, text: string, attempt?: LoginAttempt): PopliftError {
  const said = quoteServer(text);
  // Temporary refusals are exit 4, like a server that cannot be reached: the
  // password may well be right, and a cron job simply tries again later.
  if (/^\[IN-USE\]/i.test(text) || (!/^\[AUTH\]/i.test(text) && MAILDROP_LOCKED.test(text))) {
    return new PopliftError(
      `POP3 mailbox of "${user}" on ${server} is in use by another session (${said}): close other mail clients for this account and try again later.`,
      { exitCode: ExitCode.CONNECT, side: SIDE, server, code: Pop3ErrorCode.IN_USE },
    );
  }
  if (/^\[LOGIN-DELAY\]/i.test(text)) {
    return new PopliftError(
      `POP3 server ${server} does not let "${user}" log in again so soon after the last session (${said}): try again later; its CAPA LOGIN-DELAY says how many seconds to wait.`,
      { exitCode: ExitCode.CONNECT, side: SIDE, server, code: Pop3ErrorCode.LOGIN_DELAY },
    );
  }
  if (/^\[SYS\/TEMP\]/i.test(text)) {
    return new PopliftError(`POP3 server ${server} has a temporary problem logging in "${user}" (${said}): try again later.`, {
      exitCode: ExitCode.CONNECT,
      side: SIDE,
      server,
      code: Pop3ErrorCode.UNAVAILABLE,
    });
  }
  // A server whose answer names a cause of its own (a damaged maildrop, a storage
  // failure) accepted or never judged the password: advising to check it sends
  // the user the wrong way. Only [AUTH] or words about the login make it a
  // credential problem; a bare -ERR is one too, as most servers mean it so.
  if (/^\[SYS\/PERM\]/i.test(text) || (!/^\[AUTH\]/i.test(text) && text.trim() !== '' && !NAMES_CREDENTIALS.test(text))) {
    const how = attempt === undefined ? '' : ` with ${attempt.method}`;
    return new PopliftError(
      `POP3 server ${server} refused the login of "${user}"${how} for a reason of its own (${said}): its answer names no credential problem; the mailbox cannot be read over POP3 until the server's administrator removes that cause (the server's log says more), then run poplift again.`,
      { exitCode: ExitCode.PARTIAL, side: SIDE, server, code: Pop3ErrorCode.MAILDROP },
    );
  }
  if (attempt?.token === true) {
    const status = attempt.oauthStatus === undefined ? '' : `, status ${quoteServer(attempt.oauthStatus)}`;
    return new PopliftError(
      `POP3 server ${server} refused the OAuth2 access token of "${user}" (${attempt.method}${status}: ${said}): ` +
        'get a fresh access token, and check that it was issued for this account with mail (POP) access.',
      { exitCode: ExitCode.AUTH, side: SIDE, server, code: Pop3ErrorCode.AUTH_TOKEN },
    );
  }
  const how = attempt === undefined ? '' : ` with ${attempt.method}`;
  return new PopliftError(`POP3 server ${server} refused the login of "${user}"${how} (${said}): check the POP3 user name and password.`, {
    exitCode: ExitCode.AUTH,
    side: SIDE,
    server,
    code: Pop3ErrorCode.AUTH,
  });
}

/**
 * The login method asked for is not available on this server. Exit USAGE,
 * not AUTH: nothing was sent, so no credential was refused, and the fix is
 * a different configuration, not a different password.
 */
export function loginUnsupported(server: string, what: string, fix: string): PopliftError {
  return new PopliftError(`POP3 server ${server} ${what}: ${fix}.`, {
    exitCode: ExitCode.USAGE,
    side: SIDE,
    server,
    code: Pop3ErrorCode.AUTH_UNSUPPORTED,
  });
}

export function connectionLost(server: string, during: string | undefined, serverWords: string | undefined, cause?: unknown): PopliftError {
  const code = errnoCode(cause);
  const how = code === undefined ? 'closed the connection' : `reset the connection (${code})`;
  const when = during === undefined ? ' while poplift was idle' : ` during ${during}`;
  const said = serverWords === undefined ? '' : ` (it said: ${serverWords})`;
  return new PopliftError(`POP3 server ${server} ${how}${when}${said}: ${RERUN}.`, {
    exitCode: ExitCode.PARTIAL,
    side: SIDE,
    server,
    code: Pop3ErrorCode.CONNECTION_LOST,
    cause,
  });
}

export function idleTimeout(server: string, during: string, timeoutMs: number): PopliftError {
  return new PopliftError(
    `POP3 server ${server} sent nothing for ${seconds(timeoutMs)} during ${during}, so poplift dropped the connection: ${RERUN}, or raise the timeout for a slow server.`,
    { exitCode: ExitCode.PARTIAL, side: SIDE, server, code: Pop3ErrorCode.TIMEOUT },
  );
}

/**
 * A reply did not finish within its hard deadline although bytes kept
 * coming (or came too slowly): code TIMEOUT, since the connection is gone
 * and a new one may do better.
 */
export function replyDeadline(server: string, during: string, deadlineMs: number, octets: number): PopliftError {
  // Only a RETR or TOP carries a message; a listing or a login step carries none.
  const message = /^(RETR|TOP) /.test(during) ? '; the message stays on the server' : '';
  return new PopliftError(
    `POP3 server ${server} did not finish ${during} within ${seconds(Math.round(deadlineMs / 100) * 100)} (${octets} octets received), so poplift dropped the connection${message}: ${RERUN}, or raise --timeout for a very slow server.`,
    { exitCode: ExitCode.PARTIAL, side: SIDE, server, code: Pop3ErrorCode.TIMEOUT },
  );
}

/**
 * The greeting (with the TCP connection and any TLS handshake before it)
 * did not finish within its deadline, although bytes may have kept coming.
 */
export function greetingDeadline(server: string, deadlineMs: number, octets: number): PopliftError {
  return new PopliftError(
    `POP3 server ${server} did not finish its greeting within ${seconds(Math.round(deadlineMs / 100) * 100)} (${octets} octets received), so poplift dropped the connection: check that this is a POP3 port and try again later, or raise --timeout for a very slow server.`,
    { exitCode: ExitCode.CONNECT, side: SIDE, server, code: Pop3ErrorCode.CONNECT },
  );
}

/**
 * A message beyond its allowed size was read to its end and dropped; the
 * session goes on. `listSize` is set when the LIST size set the limit.
 */
export function messageTooLarge(
  server: string,
  command: string,
  octets: number,
  limit: number,
  listSize: number | undefined,
  notSent = false,
): PopliftError {
  if (notSent) {
    return new PopliftError(
      `POP3 server ${server} lists a message of ${octets} octets, more than --max-message-size allows (${limit} octets), so poplift did not send ${command}; the message stays on the server: raise --max-message-size to move it.`,
      { exitCode: ExitCode.PARTIAL, side: SIDE, server, code: Pop3ErrorCode.TOO_BIG },
    );
  }
  const why =
    listSize === undefined
      ? `more than --max-message-size allows (${limit} octets): raise it if the message is genuine`
      : `far more than its LIST size of ${listSize} octets: the server's answers cannot be trusted for this message`;
  return new PopliftError(`POP3 server ${server} sent ${octets} octets for ${command}, ${why}; the message stays on the server.`, {
    exitCode: ExitCode.PARTIAL,
    side: SIDE,
    server,
    code: Pop3ErrorCode.TOO_BIG,
  });
}

export function protocolFailure(server: string, during: string | undefined, detail: string): PopliftError {
  const when = during === undefined ? '' : ` during ${during}`;
  return new PopliftError(`POP3 server ${server} broke the protocol${when} (${detail}), so poplift dropped the connection: ${RERUN}.`, {
    exitCode: ExitCode.PARTIAL,
    side: SIDE,
    server,
    code: Pop3ErrorCode.PROTOCOL,
  });
}

export function commandRefused(server: string, command: string, text: string): PopliftError {
  const verb = command.split(' ', 1)[0]!.toUpperCase();
  const what =
    verb === 'RETR'
      ? 'the message stays on the server and is tried again on the next run'
      : verb === 'DELE'
        ? 'the message stays on the server'
        : verb === 'QUIT'
          ? 'deletions of this session may not have been committed; the next run finds any message still there'
          : 'the mailbox run stopped';
  return new PopliftError(`POP3 server ${server} refused ${command} (${quoteServer(text)}): ${what}.`, {
    exitCode: ExitCode.PARTIAL,
    side: SIDE,
    server,
    code: Pop3ErrorCode.ERR,
  });
}

export function sessionClosed(server: string, command: string | undefined): PopliftError {
  const what = command === undefined ? '' : ` (${command} was not completed)`;
  return new PopliftError(`The POP3 connection to ${server} was already closed by poplift${what}.`, {
    exitCode: ExitCode.PARTIAL,
    side: SIDE,
    server,
    code: Pop3ErrorCode.CLOSED,
  });
}

export function quoteServer(text: string): string {
  const clean = displayText(text.trim());
  return clean === '' ? 'no reason given' : `"${clean.length > 200 ? `${clean.slice(0, 200)}…` : clean}"`;
}
