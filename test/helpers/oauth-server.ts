/**
 * An OAuth2 authorization server on loopback for the tests, written from the
 * RFCs: RFC 8414 metadata, the authorization endpoint (RFC 6749 4.1 with
 * RFC 7636 PKCE, S256 only), the token endpoint (authorization_code,
 * refresh_token with rotation and reuse detection, the RFC 8628 device
 * grant with authorization_pending / slow_down / expired_token /
 * access_denied, client_credentials), the device authorization endpoint,
 * and RFC 7662 introspection, which the test Dovecot's oauth2 passdb asks.
 * The test plays the person: `approveDevice`, and following the redirect
 * the authorization endpoint answers with.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface OAuthClient {
  id: string;
  /** Confidential clients only. */
  secret?: string;
  /** For client credentials: the user name introspection reports for the application's tokens. */
  appUser?: string;
}

interface AccessToken {
  user: string;
  clientId: string;
  scope: string;
  expiresAt: number;
}

interface Grant {
  user: string;
  clientId: string;
  scope: string;
  /** The refresh token in force; earlier ones of the same grant are revoked. */
  refreshToken: string;
  revoked: boolean;
}

interface DeviceRequest {
  clientId: string;
  scope: string;
  userCode: string;
  expiresAt: number;
  lastPoll: number;
  approvedBy?: string;
  denied?: boolean;
}

export interface TestOAuthServer {
  issuer: string;
  /** For Dovecot's oauth2 passdb. */
  introspectionUrl: string;
  /** The person signing in, as the authorization endpoint will name them. */
  signInAs(user: string): void;
  /** The person enters `userCode` on another device and approves. */
  approveDevice(userCode: string, user: string): void;
  denyDevice(userCode: string): void;
  /** Revokes every grant of `user` (their password changed, an admin revoked the app). */
  revokeUser(user: string): void;
  /** Every access token issued so far expires now. */
  expireAccessTokens(): void;
  /** Lifetime of access tokens issued from now on. */
  accessTokenSeconds: number;
  /** Device-flow polling interval in seconds that the server announces. */
  deviceInterval: number;
  /** Counts per grant type at the token endpoint, and of introspections. */
  readonly counts: Record<string, number>;
  /** Every refresh token ever issued, in order. */
  readonly refreshTokensIssued: string[];
  close(): Promise<void>;
}

const token = (prefix: string) => `${prefix}-${randomBytes(18).toString('base64url')}`;

function readBody(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => resolve(new URLSearchParams(body)));
  });
}

/** Answers with `body` as JSON; true, so that a handler can `return json(...)`. */
function json(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  return true;
}

export async function startOAuthServer(clients: OAuthClient[]): Promise<TestOAuthServer> {
  const clientById = new Map(clients.map((c) => [c.id, c]));
  const codes = new Map<string, { clientId: string; redirectUri: string; challenge: string; scope: string; user: string; used: boolean }>();
  const access = new Map<string, AccessToken>();
  const grants = new Map<string, Grant>();
  const grantByRefresh = new Map<string, Grant>();
  const devices = new Map<string, DeviceRequest>();
  const counts: Record<string, number> = {};
  const refreshTokensIssued: string[] = [];
  let person = 'alice';
  let issuer = '';

  /** RFC 6749 2.3.1: client_secret_basic or client_secret_post; public clients send their id alone. */
  const authenticate = (req: IncomingMessage, form: URLSearchParams): OAuthClient | undefined => {
    let id = form.get('client_id') ?? undefined;
    let secret = form.get('client_secret') ?? undefined;
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    if (basic) {
      const [u, p] = Buffer.from(basic[1]!, 'base64').toString().split(':');
      id = decodeURIComponent(u ?? '');
      secret = decodeURIComponent(p ?? '');
    }
    const client = id === undefined ? undefined : clientById.get(id);
    if (client === undefined) return undefined;
    if (client.secret !== undefined && client.secret !== secret) return undefined;
    return client;
  };

  const issue = (user: string, clientId: string, scope: string, refresh: boolean) => {
    const accessToken = token('at');
    access.set(accessToken, { user, clientId, scope, expiresAt: Date.now() + api.accessTokenSeconds * 1000 });
    const body: Record<string, unknown> = { access_token: accessToken, token_type: 'Bearer', expires_in: api.accessTokenSeconds, scope };
    if (refresh) {
      const grant: Grant = { user, clientId, scope, refreshToken: token('rt'), revoked: false };
      grants.set(grant.refreshToken, grant);
      grantByRefresh.set(grant.refreshToken, grant);
      refreshTokensIssued.push(grant.refreshToken);
      body.refresh_token = grant.refreshToken;
    }
    return body;
  };

  const handleToken = async (req: IncomingMessage, res: ServerResponse) => {
    const form = await readBody(req);
    const type = form.get('grant_type') ?? '';
    counts[type] = (counts[type] ?? 0) + 1;
    const client = authenticate(req, form);
    if (client === undefined) return json(res, 401, { error: 'invalid_client' });
    if (type === 'authorization_code') {
      const entry = codes.get(form.get('code') ?? '');
      if (entry === undefined || entry.used || entry.clientId !== client.id) return json(res, 400, { error: 'invalid_grant' });
      entry.used = true;
      if (entry.redirectUri !== form.get('redirect_uri')) return json(res, 400, { error: 'invalid_grant' });
      const verifier = form.get('code_verifier') ?? '';
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || createHash('sha256').update(verifier).digest('base64url') !== entry.challenge)
        return json(res, 400, { error: 'invalid_grant' });
      return json(res, 200, issue(entry.user, client.id, entry.scope, true));
    }
    if (type === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const grant = grantByRefresh.get(presented);
      if (grant === undefined || grant.revoked || grant.clientId !== client.id) return json(res, 400, { error: 'invalid_grant' });
      if (grant.refreshToken !== presented) {
        // A rotated-out refresh token used again: someone copied it; revoke the whole grant.
        grant.revoked = true;
        return json(res, 400, { error: 'invalid_grant' });
      }
      const next = token('rt');
      grant.refreshToken = next;
      grantByRefresh.set(next, grant);
      refreshTokensIssued.push(next);
      return json(res, 200, { ...issue(grant.user, client.id, grant.scope, false), refresh_token: next });
    }
    if (type === 'urn:ietf:params:oauth:grant-type:device_code') {
      const request = devices.get(form.get('device_code') ?? '');
      if (request === undefined || request.clientId !== client.id) return json(res, 400, { error: 'invalid_grant' });
      const now = Date.now();
      if (now > request.expiresAt) return json(res, 400, { error: 'expired_token' });
      if (request.denied) return json(res, 400, { error: 'access_denied' });
      const tooSoon = now - request.lastPoll < api.deviceInterval * 1000 - 50;
      request.lastPoll = now;
      if (request.approvedBy === undefined) return json(res, 400, { error: tooSoon ? 'slow_down' : 'authorization_pending' });
      devices.delete(form.get('device_code')!);
      return json(res, 200, issue(request.approvedBy, client.id, request.scope, true));
    }
    if (type === 'client_credentials') {
      if (client.secret === undefined || client.appUser === undefined) return json(res, 400, { error: 'unauthorized_client' });
      return json(res, 200, issue(client.appUser, client.id, form.get('scope') ?? '', false));
    }
    return json(res, 400, { error: 'unsupported_grant_type' });
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    void (async () => {
      if (url.pathname === '/.well-known/oauth-authorization-server' && req.method === 'GET') {
        return json(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          device_authorization_endpoint: `${issuer}/device`,
          introspection_endpoint: `${issuer}/introspect`,
          grant_types_supported: [
            'authorization_code',
            'refresh_token',
            'urn:ietf:params:oauth:grant-type:device_code',
            'client_credentials',
          ],
          code_challenge_methods_supported: ['S256'],
          response_types_supported: ['code'],
        });
      }
      if (url.pathname === '/authorize' && req.method === 'GET') {
        const q = url.searchParams;
        const client = clientById.get(q.get('client_id') ?? '');
        const redirect = q.get('redirect_uri') ?? '';
        // RFC 8252 7.3: any port on the loopback address; nothing else is redirected to.
        if (client === undefined || !/^http:\/\/127\.0\.0\.1:\d+\/$/.test(redirect)) {
          res.writeHead(400).end('invalid client or redirect_uri');
          return;
        }
        const back = new URL(redirect);
        back.searchParams.set('state', q.get('state') ?? '');
        if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
          back.searchParams.set('error', 'invalid_request');
        } else {
          const code = token('code');
          codes.set(code, {
            clientId: client.id,
            redirectUri: redirect,
            challenge: q.get('code_challenge')!,
            scope: q.get('scope') ?? '',
            user: person,
            used: false,
          });
          back.searchParams.set('code', code);
        }
        res.writeHead(302, { location: back.href }).end();
        return;
      }
      if (url.pathname === '/device' && req.method === 'POST') {
        const form = await readBody(req);
        const client = authenticate(req, form);
        if (client === undefined) return json(res, 401, { error: 'invalid_client' });
        const deviceCode = token('dc');
        const userCode = `${randomBytes(2).toString('hex')}-${randomBytes(2).toString('hex')}`.toUpperCase();
        devices.set(deviceCode, {
          clientId: client.id,
          scope: form.get('scope') ?? '',
          userCode,
          expiresAt: Date.now() + 600_000,
          lastPoll: 0,
        });
        return json(res, 200, {
          device_code: deviceCode,
          user_code: userCode,
          verification_uri: `${issuer}/activate`,
          expires_in: 600,
          interval: api.deviceInterval,
        });
      }
      if (url.pathname === '/token' && req.method === 'POST') return handleToken(req, res);
      if (url.pathname === '/introspect' && req.method === 'POST') {
        const form = await readBody(req);
        counts.introspect = (counts.introspect ?? 0) + 1;
        const entry = access.get(form.get('token') ?? '');
        const active = entry !== undefined && entry.expiresAt > Date.now();
        return json(
          res,
          200,
          active
            ? { active: true, username: entry.user, client_id: entry.clientId, scope: entry.scope, exp: Math.floor(entry.expiresAt / 1000) }
            : { active: false },
        );
      }
      res.writeHead(404).end();
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const deviceByUserCode = (userCode: string) => [...devices.values()].find((d) => d.userCode === userCode);
  const api: TestOAuthServer = {
    issuer,
    introspectionUrl: `${issuer}/introspect`,
    accessTokenSeconds: 3600,
    deviceInterval: 1,
    counts,
    refreshTokensIssued,
    signInAs: (user) => (person = user),
    approveDevice: (userCode, user) => {
      const request = deviceByUserCode(userCode);
      if (request === undefined) throw new Error(`no device request with user code ${userCode}`);
      request.approvedBy = user;
    },
    denyDevice: (userCode) => {
      const request = deviceByUserCode(userCode);
      if (request !== undefined) request.denied = true;
    },
    revokeUser: (user) => {
      for (const grant of grants.values()) if (grant.user === user) grant.revoked = true;
      for (const [t, a] of access) if (a.user === user) access.delete(t);
    },
    expireAccessTokens: () => {
      for (const a of access.values()) a.expiresAt = 0;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return api;
}
