/** The IMAP errors both connections (control and upload) raise alike. */
import { ExitCode, PopliftError } from '../errors.js';

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
    exitCode: ExitCode.AUTH,
    side: 'IMAP',
    server,
    code: 'IMAP_AUTH',
    ...(cause === undefined ? {} : { cause }),
  });
}
