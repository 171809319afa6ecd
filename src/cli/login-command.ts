/**
 * `poplift login <provider> <account>`: signs in once with OAuth2 and stores
 * what later runs need to get access tokens by themselves; `--list` shows
 * the stored sign-ins, `poplift logout <account>` removes one.
 */
import { createInterface } from 'node:readline';
import { displayText as shown } from '../display-text.js';
import { ExitCode, PopliftError, usageError } from '../errors.js';
import { authorizationCodeFlow, clientCredentials, deviceFlow, OAuthGrantError, type FlowIo, type TokenSet } from '../oauth/flows.js';
import { OAuthHttpError } from '../oauth/http.js';
import { loadProvider } from '../oauth/provider.js';
import { deleteSignIn, listSignIns, readSignIn, signInPath, writeSignIn, type StoredSignIn } from '../oauth/token-store.js';
import { stateDirectory } from '../state/state-dir.js';
import type { CliIo } from './cli-io.js';
import { positiveNumber, timeoutMs } from './options.js';
import { readSecretFile } from './secrets.js';

export interface LoginCliOptions {
  list?: boolean;
  clientId?: string;
  clientSecretFile?: string;
  tenant?: string;
  flow?: 'browser' | 'device' | 'app';
  wait?: string;
  stateDir?: string;
  timeout?: string;
}

function linesOf(input: NodeJS.ReadableStream | undefined): AsyncIterable<string> | undefined {
  if (input === undefined) return undefined;
  return createInterface({ input, crlfDelay: Infinity, terminal: false });
}

function grantFailure(err: unknown, provider: string, account: string): never {
  if (err instanceof OAuthGrantError) {
    const advice =
      err.error === 'access_denied'
        ? 'the sign-in was refused or stopped'
        : err.error === 'expired_token'
          ? 'nobody finished signing in in time; run poplift login again'
          : err.error === 'invalid_client' || err.error === 'unauthorized_client'
            ? 'check the client id (and secret) of your application registration'
            : err.error === 'invalid_scope'
              ? 'the provider refused the scopes; check the application registration (docs/oauth.md)'
              : 'see docs/oauth.md';
    throw new PopliftError(`Signing in ${account} with ${provider} failed: ${err.message}; ${advice}.`, {
      code: 'OAUTH_SIGN_IN',
      cause: err,
    });
  }
  if (err instanceof OAuthHttpError)
    throw new PopliftError(`Signing in ${account} with ${provider} failed: ${new URL(err.url).host} ${err.message}; try again later.`, {
      code: 'OAUTH_UNREACHABLE',
      cause: err,
    });
  throw err;
}

function describe(record: StoredSignIn, now: number): string {
  const until =
    record.expiresAt === undefined
      ? 'no access token yet'
      : record.expiresAt > now
        ? `access token valid until ${new Date(record.expiresAt).toISOString()}`
        : 'access token expired (refreshed on the next run)';
  const grant = record.grant === 'app' ? 'application (client credentials)' : 'signed in by a person';
  return `${shown(record.account)}  ${shown(record.provider.name)}  ${grant}, since ${new Date(record.signedInAt).toISOString()}; ${until}`;
}

export async function runLogin(provider: string | undefined, account: string | undefined, o: LoginCliOptions, io: CliIo): Promise<number> {
  const stateDir = stateDirectory(o.stateDir, io.env);
  if (o.list) {
    if (provider !== undefined) throw usageError('poplift login --list takes no provider or account.');
    const records = listSignIns(stateDir);
    if (records.length === 0) io.stdout.write(`No stored sign-ins in ${stateDir}.\n`);
    for (const record of records) io.stdout.write(`${describe(record, Date.now())}\n`);
    return ExitCode.OK;
  }
  if (provider === undefined || account === undefined)
    throw usageError('Give a provider (google, microsoft, or a provider file) and the account: poplift login google alice@example.com');
  const timeout = timeoutMs(o.timeout ?? '60');
  const previous = readSignIn(signInPath(stateDir, account));
  // Signing in again for the same provider keeps the application given last time.
  const reuse = previous?.providerArgument === provider ? previous.provider : undefined;
  const clientSecret =
    o.clientSecretFile === undefined
      ? undefined
      : readSecretFile(o.clientSecretFile, 'client secret', (m) => io.stderr.write(`poplift: ${m}\n`), '--client-secret-file');
  const resolved = await loadProvider(
    {
      provider,
      clientId: o.clientId ?? reuse?.clientId,
      clientSecret: clientSecret ?? reuse?.clientSecret,
      tenant: o.tenant,
    },
    timeout,
  );
  // Microsoft's device sign-in needs no redirect address registered; elsewhere the browser is the usual way.
  const flow = o.flow ?? (resolved.name === 'microsoft' || resolved.authorizationEndpoint === undefined ? 'device' : 'browser');
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const flowIo: FlowIo = {
    say: (line) => io.stderr.write(`${line}\n`),
    lines: linesOf(io.input),
    signal: controller.signal,
    waitMs: positiveNumber(o.wait ?? '600', '--wait') * 1000,
    timeoutMs: timeout,
    loginHint: account,
  };
  let tokens: TokenSet;
  try {
    if (flow === 'app') {
      if (resolved.appScopes.length === 0)
        throw usageError(`${resolved.name} has no scopes for an application: give app_scopes in the provider file.`);
      tokens = await clientCredentials(resolved, timeout);
    } else if (flow === 'device') tokens = await deviceFlow(resolved, flowIo);
    else tokens = await authorizationCodeFlow(resolved, flowIo);
  } catch (err) {
    grantFailure(err, resolved.name, account);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  if (flow !== 'app' && tokens.refreshToken === undefined)
    throw new PopliftError(
      `${resolved.name} gave no refresh token for ${account}, so later runs could not sign in by themselves; check that the scopes include offline access (docs/oauth.md).`,
      { code: 'OAUTH_SIGN_IN' },
    );
  const path = writeSignIn(stateDir, {
    version: 1,
    account,
    providerArgument: provider,
    provider: resolved,
    grant: flow === 'app' ? 'app' : 'user',
    refreshToken: tokens.refreshToken,
    accessToken: tokens.accessToken,
    expiresAt: tokens.expiresAt,
    signedInAt: Date.now(),
  });
  io.stderr.write(
    `Signed in ${shown(account)} with ${shown(resolved.name)}; stored in ${path}. migrate, verify and batch use it for ${shown(account)} (--pop3-auth oauth / --imap-auth oauth, or by themselves when no password is given).\n`,
  );
  return ExitCode.OK;
}

export function runLogout(account: string, o: { stateDir?: string }, io: CliIo): number {
  const stateDir = stateDirectory(o.stateDir, io.env);
  if (!deleteSignIn(stateDir, account)) {
    io.stderr.write(`poplift: no stored sign-in for ${shown(account)} in ${stateDir}.\n`);
    return ExitCode.USAGE;
  }
  io.stderr.write(`Removed the stored sign-in for ${shown(account)}.\n`);
  return ExitCode.OK;
}
