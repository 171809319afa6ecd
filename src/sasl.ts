/**
 * The SASL mechanisms poplift speaks, for both protocols: the initial client
 * responses of PLAIN (RFC 4616), XOAUTH2 (Google and Microsoft) and
 * OAUTHBEARER (RFC 7628), the answer to an OAuth error challenge, and the
 * reading of that challenge. POP3 AUTH (RFC 5034) and IMAP AUTHENTICATE
 * (RFC 3501) only differ in how these payloads travel.
 */

/** The SASL mechanisms that carry an OAuth2 access token. */
export type OAuthMechanism = 'OAUTHBEARER' | 'XOAUTH2';

export function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** RFC 4616: authzid NUL authcid NUL passwd, with an empty authzid; base64. */
export function plainResponse(user: string, password: string): string {
  return base64(`\0${user}\0${password}`);
}

/** The XOAUTH2 initial client response (Google and Microsoft); base64. */
export function xoauth2Response(user: string, token: string): string {
  return base64(`user=${user}\x01auth=Bearer ${token}\x01\x01`);
}

/** RFC 7628 §3.1 initial client response, with the RFC 5801 saslname escaping of the user; base64. */
export function oauthBearerResponse(user: string, token: string): string {
  const saslname = user.replace(/=/g, '=3D').replace(/,/g, '=2C');
  return base64(`n,a=${saslname},\x01auth=Bearer ${token}\x01\x01`);
}

/** The initial client response of an OAuth2 mechanism; base64. */
export function oauthResponse(mechanism: OAuthMechanism, user: string, token: string): string {
  return mechanism === 'OAUTHBEARER' ? oauthBearerResponse(user, token) : xoauth2Response(user, token);
}

/**
 * What answers an OAuth error challenge, base64: RFC 7628 §3.2.3 has
 * OAUTHBEARER send a lone %x01; for XOAUTH2 the providers document an empty
 * response. Either way the server then ends the exchange with a refusal.
 */
export function oauthErrorAcknowledgement(mechanism: OAuthMechanism): string {
  return mechanism === 'OAUTHBEARER' ? base64('\x01') : '';
}

/**
 * A server-chosen OAuth "status" made fit for a one-line error message:
 * printable ASCII only, at most 80 characters; undefined when it is neither
 * a string nor a number, or nothing printable is left.
 */
export function sanitiseOAuthStatus(status: unknown): string | undefined {
  if (typeof status !== 'string' && typeof status !== 'number') return undefined;
  const text = String(status)
    .replace(/[^\x20-\x7e]/g, '')
    .slice(0, 80);
  return text === '' ? undefined : text;
}

/**
 * The "status" of the base64 JSON error challenge of OAUTHBEARER (RFC 7628
 * §3.2.2, e.g. "invalid_token") or XOAUTH2 (e.g. "401"), sanitised, if readable.
 */
export function oauthErrorStatus(challenge: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(challenge, 'base64').toString('utf8'));
    if (parsed === null || typeof parsed !== 'object') return undefined;
    return sanitiseOAuthStatus((parsed as { status?: unknown }).status);
  } catch {
    return undefined;
  }
}
