/**
 * Access tokens from a stored sign-in for a run: refreshed before they
 * expire and again when a server refuses one, the rotated refresh token
 * written back before it is used, and a sign-in the provider no longer
 * honours reported once, with the command that renews it.
 */
import { PopliftError, type Side } from '../errors.js';
import { clientCredentials, OAuthGrantError, refreshTokens, type TokenSet } from './flows.js';
import { OAuthHttpError } from './http.js';
import { readSignIn, signInPath, withRefreshLock, writeSignIn, type StoredSignIn } from './token-store.js';

/** A token this close to its expiry is refreshed before a login rather than refused during one. */
const MARGIN_MS = 120_000;

export interface StoredTokenSource {
  current(): string;
  /** Another access token: the stored one when another run refreshed meanwhile, else a new one. */
  refresh(): Promise<string>;
}

/** The command that renews the sign-in, for error messages. */
export function loginCommand(record: Pick<StoredSignIn, 'providerArgument' | 'account'>): string {
  const quote = (s: string) => (/^[\w@.%+:/-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  return `poplift login ${quote(record.providerArgument)} ${quote(record.account)}`;
}

function fresh(record: StoredSignIn, now = Date.now()): boolean {
  return record.accessToken !== undefined && record.expiresAt !== undefined && record.expiresAt - MARGIN_MS > now;
}

function signInError(side: Side, record: StoredSignIn, err: OAuthGrantError): PopliftError {
  return new PopliftError(
    `${side}: the stored OAuth2 sign-in for ${record.account} (${record.provider.name}) no longer works (${err.error}); sign in again with: ${loginCommand(record)}`,
    { side, code: 'OAUTH_SIGN_IN', cause: err },
  );
}

function unreachable(side: Side, record: StoredSignIn, err: OAuthHttpError): PopliftError {
  const host = new URL(err.url).host;
  return new PopliftError(`${side}: the OAuth2 token endpoint ${host} for ${record.account} ${err.message}; try again later.`, {
    side,
    code: 'OAUTH_UNREACHABLE',
    cause: err,
  });
}

/** Tokens for `account` from `stateDir`, or undefined when it has no stored sign-in. */
export async function storedTokenSource(
  stateDir: string,
  account: string,
  side: Side,
  timeoutMs: number,
): Promise<StoredTokenSource | undefined> {
  const path = signInPath(stateDir, account);
  let record = readSignIn(path);
  if (record === undefined) return undefined;

  const renew = async (refused: string | undefined): Promise<void> => {
    await withRefreshLock(path, async () => {
      const latest = readSignIn(path);
      if (latest === undefined)
        throw new PopliftError(
          `${side}: the stored OAuth2 sign-in for ${account} was removed (poplift logout?); sign in again with: ${loginCommand(record!)}`,
          {
            side,
            code: 'OAUTH_SIGN_IN',
          },
        );
      record = latest;
      // Another run refreshed while this one waited for the lock.
      if (fresh(latest) && latest.accessToken !== refused) return;
      let tokens: TokenSet;
      try {
        if (latest.grant === 'app') tokens = await clientCredentials(latest.provider, timeoutMs);
        else if (latest.refreshToken === undefined) throw new OAuthGrantError('invalid_grant', 'no refresh token stored');
        else tokens = await refreshTokens(latest.provider, latest.refreshToken, timeoutMs);
      } catch (err) {
        if (err instanceof OAuthGrantError) throw signInError(side, latest, err);
        if (err instanceof OAuthHttpError) throw unreachable(side, latest, err);
        throw err;
      }
      record = {
        ...latest,
        accessToken: tokens.accessToken,
        expiresAt: tokens.expiresAt,
        // RFC 6749 6: a server may issue a new refresh token and revoke the old one; keep the newest.
        refreshToken: tokens.refreshToken ?? latest.refreshToken,
      };
      writeSignIn(stateDir, record);
    });
  };

  if (!fresh(record)) await renew(undefined);
  return {
    current: () => record!.accessToken ?? '',
    refresh: async () => {
      await renew(record!.accessToken);
      return record!.accessToken ?? '';
    },
  };
}
