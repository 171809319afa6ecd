/**
 * What imapflow throws on the control connection, put into poplift's words:
 * one line naming the IMAP server and what to do.
 */
import { ExitCode, PopliftError, connectFailure, describeServer, isTlsError } from '../errors.js';
import { sanitiseOAuthStatus } from '../sasl.js';
import { loginRefused } from './imap-errors.js';

/** What of the connection options the messages name. */
export interface ControlLogin {
  host: string;
  port: number;
  user: string;
  password?: string;
  accessToken?: string;
}

/**
 * imapflow refuses to quote a CR, LF or NUL, and an IMAP string can carry
 * none of them: the password is wrong however often the run is tried again.
 */
function unsendablePassword(o: ControlLogin, server: string, cause: unknown): PopliftError {
  const what = /\0/.test(o.password!) ? 'a NUL' : /\r/.test(o.password!) ? 'a CR' : 'an LF';
  return new PopliftError(
    `IMAP server ${server}: the IMAP password for ${o.user} contains ${what} character, which an IMAP login cannot send. Check the password (the first line of --imap-password-file, POPLIFT_IMAP_PASSWORD or the command's output).`,
    { exitCode: ExitCode.AUTH, side: 'IMAP', server, code: 'IMAP_AUTH', cause },
  );
}

/** Maps anything imapflow throws while connecting to a one-line PopliftError. */
export function loginError(o: ControlLogin, err: unknown): PopliftError {
  if (err instanceof PopliftError) return err;
  const server = describeServer(o);
  const e = err as
    | {
        authenticationFailed?: boolean;
        serverResponseCode?: string;
        responseText?: string;
        message?: string;
        code?: string;
        oauthError?: { status?: unknown };
      }
    | null
    | undefined;
  if (e?.authenticationFailed) {
    // imapflow decodes the OAuth2 error challenge; its status tells an expired token from a wrong scope.
    return loginRefused(
      server,
      o.user,
      {
        code: e.serverResponseCode,
        text: e.responseText ?? e.message ?? 'authentication failed',
        tokenUsed: o.accessToken !== undefined,
        oauthStatus: sanitiseOAuthStatus(e.oauthError?.status),
      },
      err,
    );
  }
  if (e?.code === 'InvalidStringValue' && o.password !== undefined && /[\r\n\0]/.test(o.password))
    return unsendablePassword(o, server, err);
  if (isTlsError(err) || (e?.code && /^E[A-Z]+$/.test(e.code) && e.code !== 'ETHROTTLE'))
    return connectFailure('IMAP', server, o.host, err);
  return new PopliftError(`IMAP server ${server}: ${e?.message ?? String(err)}`, {
    exitCode: ExitCode.CONNECT,
    side: 'IMAP',
    server,
    code: 'IMAP_CONNECT',
    cause: err,
  });
}
