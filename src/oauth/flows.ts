/**
 * The OAuth2 grants poplift uses, each as its RFC writes it: authorization
 * code with PKCE (RFC 6749 4.1, RFC 7636) over a loopback redirect (RFC 8252
 * 7.3) or a pasted address, the device authorization grant (RFC 8628),
 * client credentials (RFC 6749 4.4) and refresh (RFC 6749 6).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { postOrGet } from './http.js';
import type { OAuthProvider } from './provider.js';
import { option } from '../option-hint.js';

export interface TokenSet {
  accessToken: string;
  /** Absent for client credentials, and when a refresh answer keeps the old one. */
  refreshToken?: string | undefined;
  /** Milliseconds since the epoch; the server's expires_in, else an hour. */
  expiresAt: number;
}

/** An RFC 6749 error answer (`invalid_grant`, `access_denied`, …), or an answer that is not one. */
export class OAuthGrantError extends Error {
  constructor(
    /** The RFC 6749 error code, or `invalid_response`. */
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

/** Only characters RFC 6749 allows in an error code reach any output. */
function errorCode(json: unknown): string | undefined {
  const error = (json as { error?: unknown } | undefined)?.error;
  return typeof error === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(error) ? error : undefined;
}

function base64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = base64url(randomBytes(32));
  return { verifier, challenge: base64url(createHash('sha256').update(verifier).digest()) };
}

function clientAuth(provider: OAuthProvider): Record<string, string> {
  return provider.clientSecret === undefined
    ? { client_id: provider.clientId }
    : { client_id: provider.clientId, client_secret: provider.clientSecret };
}

/** One request to the token endpoint; an RFC 6749 5.2 error answer throws OAuthGrantError. */
export async function tokenRequest(provider: OAuthProvider, params: Record<string, string>, timeoutMs: number): Promise<TokenSet> {
  const reply = await postOrGet(provider.tokenEndpoint, { ...params, ...clientAuth(provider) }, timeoutMs);
  const json = reply.json as { access_token?: unknown; refresh_token?: unknown; expires_in?: unknown; token_type?: unknown } | undefined;
  if (reply.status !== 200) {
    const error = errorCode(reply.json) ?? 'invalid_response';
    throw new OAuthGrantError(error, `the token endpoint answered ${reply.status} ${error}`);
  }
  if (typeof json?.access_token !== 'string' || json.access_token === '' || !/^bearer$/i.test(String(json.token_type)))
    throw new OAuthGrantError('invalid_response', 'the token endpoint answered without a bearer access token');
  const seconds = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 3600;
  return {
    accessToken: json.access_token,
    refreshToken: typeof json.refresh_token === 'string' && json.refresh_token !== '' ? json.refresh_token : undefined,
    expiresAt: Date.now() + seconds * 1000,
  };
}

export function refreshTokens(provider: OAuthProvider, refreshToken: string, timeoutMs: number): Promise<TokenSet> {
  return tokenRequest(provider, { grant_type: 'refresh_token', refresh_token: refreshToken }, timeoutMs);
}

export function clientCredentials(provider: OAuthProvider, timeoutMs: number): Promise<TokenSet> {
  if (provider.clientSecret === undefined)
    throw new OAuthGrantError('invalid_client', `client credentials need the application secret (${option('clientSecretFile')})`);
  return tokenRequest(provider, { grant_type: 'client_credentials', scope: provider.appScopes.join(' ') }, timeoutMs);
}

export interface FlowIo {
  /** A line for the person signing in (stderr). */
  say(line: string): void;
  /** Lines the person types or pastes; undefined when nothing can be typed (no terminal, no stdin). */
  lines?: AsyncIterable<string> | undefined;
  signal?: AbortSignal | undefined;
  /** How long the person has to sign in. */
  waitMs: number;
  timeoutMs: number;
  loginHint?: string | undefined;
}

/** The code in a redirect address, checked against the state sent (RFC 6749 10.12). */
export function codeFromRedirect(address: string, state: string): string {
  let url: URL;
  try {
    url = new URL(address.trim());
  } catch {
    throw new OAuthGrantError('invalid_request', 'that is not the address the browser ended on (it should start with http://127.0.0.1)');
  }
  if (url.searchParams.get('state') !== state)
    throw new OAuthGrantError('invalid_request', 'the address is from another sign-in (its state does not match): sign in again');
  const error = url.searchParams.get('error');
  if (error !== null)
    throw new OAuthGrantError(errorCode({ error }) ?? 'access_denied', `the sign-in was refused (${errorCode({ error }) ?? 'error'})`);
  const code = url.searchParams.get('code');
  if (code === null || code === '') throw new OAuthGrantError('invalid_request', 'the address carries no authorization code');
  return code;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

/**
 * Authorization code with PKCE. The redirect goes to a loopback port poplift
 * listens on; on a machine without a browser the person opens the address
 * anywhere and pastes back the address the browser ended on (which fails to
 * load there, since it names this machine's loopback).
 */
export async function authorizationCodeFlow(provider: OAuthProvider, io: FlowIo): Promise<TokenSet> {
  if (provider.authorizationEndpoint === undefined)
    throw new OAuthGrantError('unsupported_grant_type', `${provider.name} has no authorization endpoint (use ${option('flow')} device)`);
  const { verifier, challenge } = pkcePair();
  const state = base64url(randomBytes(16));
  let settle!: (result: { code: string } | { error: Error }) => void;
  const outcome = new Promise<{ code: string } | { error: Error }>((resolve) => (settle = resolve));
  const server = createServer((req, res) => {
    const address = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!address.searchParams.has('state')) {
      res.writeHead(404).end();
      return;
    }
    try {
      const code = codeFromRedirect(address.href, state);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('poplift: signed in. You can close this page.\n');
      settle({ code });
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(`poplift: ${(err as Error).message}\n`);
      if (address.searchParams.get('state') === state) settle({ error: err as Error });
    }
  });
  const port = await listen(server);
  const redirectUri = `http://127.0.0.1:${port}/`;
  const url = new URL(provider.authorizationEndpoint);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: provider.clientId,
    redirect_uri: redirectUri,
    scope: provider.scopes.join(' '),
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...provider.authorizationParams,
    ...(io.loginHint === undefined ? {} : { login_hint: io.loginHint }),
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  io.say('Open this address in a browser and sign in:');
  io.say(`  ${url.href}`);
  io.say(
    io.lines === undefined
      ? 'Waiting for the browser on this machine…'
      : 'On this machine the browser returns here by itself. Elsewhere, paste the address the browser ends on (it starts with http://127.0.0.1) and press Enter:',
  );
  const pasted = (async () => {
    if (io.lines === undefined) return;
    for await (const line of io.lines) {
      if (line.trim() === '') continue;
      try {
        settle({ code: codeFromRedirect(line, state) });
      } catch (err) {
        io.say(`poplift: ${(err as Error).message}; paste the whole address again:`);
        continue;
      }
      return;
    }
  })();
  const timer = setTimeout(() => settle({ error: new OAuthGrantError('expired_token', 'nobody signed in in time') }), io.waitMs);
  const onAbort = () => settle({ error: new OAuthGrantError('access_denied', 'stopped') });
  io.signal?.addEventListener('abort', onAbort);
  try {
    const result = await outcome;
    if ('error' in result) throw result.error;
    return await tokenRequest(
      provider,
      { grant_type: 'authorization_code', code: result.code, redirect_uri: redirectUri, code_verifier: verifier },
      io.timeoutMs,
    );
  } finally {
    clearTimeout(timer);
    io.signal?.removeEventListener('abort', onAbort);
    server.closeAllConnections();
    server.close();
    void pasted.catch(() => undefined);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new OAuthGrantError('access_denied', 'stopped'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** RFC 8628: show a code to enter elsewhere, then poll the token endpoint as the server paces it. */
export async function deviceFlow(provider: OAuthProvider, io: FlowIo): Promise<TokenSet> {
  if (provider.deviceAuthorizationEndpoint === undefined)
    throw new OAuthGrantError('unsupported_grant_type', `${provider.name} offers no device sign-in (use ${option('flow')} browser)`);
  const reply = await postOrGet(
    provider.deviceAuthorizationEndpoint,
    { ...clientAuth(provider), scope: provider.scopes.join(' ') },
    io.timeoutMs,
  );
  const json = reply.json as Record<string, unknown> | undefined;
  if (reply.status !== 200) {
    const error = errorCode(json) ?? 'invalid_response';
    throw new OAuthGrantError(error, `the device authorization endpoint answered ${reply.status} ${error}`);
  }
  const deviceCode = json?.device_code;
  const userCode = json?.user_code;
  // Microsoft names it verification_url; RFC 8628 verification_uri.
  const verification = json?.verification_uri ?? json?.verification_url;
  if (typeof deviceCode !== 'string' || typeof userCode !== 'string' || typeof verification !== 'string')
    throw new OAuthGrantError('invalid_response', 'the device authorization endpoint answered without a device code');
  const printable = (s: string) => s.replace(/[^\x21-\x7e]/g, '?');
  io.say(`Open ${printable(verification)} on any device and enter the code ${printable(userCode)}`);
  const expiresIn = typeof json?.expires_in === 'number' && json.expires_in > 0 ? json.expires_in * 1000 : 900_000;
  const deadline = Date.now() + Math.min(expiresIn, io.waitMs);
  let interval = typeof json?.interval === 'number' && json.interval > 0 ? json.interval * 1000 : 5000;
  for (;;) {
    await sleep(interval, io.signal);
    try {
      return await tokenRequest(
        provider,
        { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode },
        io.timeoutMs,
      );
    } catch (err) {
      if (!(err instanceof OAuthGrantError)) throw err;
      if (err.error === 'authorization_pending') {
        if (Date.now() + interval > deadline) throw new OAuthGrantError('expired_token', 'nobody entered the code in time');
        continue;
      }
      // RFC 8628 3.5: slow_down adds 5 seconds to the interval for this and every later request.
      if (err.error === 'slow_down') {
        interval += 5000;
        continue;
      }
      throw err;
    }
  }
}
