import { createServer } from 'node:http';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeFromRedirect, deviceFlow, OAuthGrantError, pkcePair, refreshTokens, tokenRequest } from '../../src/oauth/flows.js';
import { postOrGet } from '../../src/oauth/http.js';
import { loadProvider, type OAuthProvider } from '../../src/oauth/provider.js';
import { readSignIn, signInPath, writeSignIn } from '../../src/oauth/token-store.js';
import { storedTokenSource } from '../../src/oauth/stored-token.js';
import { PopliftError } from '../../src/errors.js';
import { startOAuthServer, type TestOAuthServer } from '../helpers/oauth-server.js';

const work = mkdtempSync(join(tmpdir(), 'poplift-oauth-unit-'));

describe('PKCE and the redirect address', () => {
  it('makes an S256 challenge of a 43-character verifier (RFC 7636 appendix B example)', () => {
    const { verifier, challenge } = pkcePair();
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(challenge).not.toBe(verifier);
  });

  it('takes the code only with the state it sent, and reports a refusal by its RFC 6749 code', () => {
    expect(codeFromRedirect('http://127.0.0.1:5/?code=abc&state=s1', 's1')).toBe('abc');
    expect(() => codeFromRedirect('http://127.0.0.1:5/?code=abc&state=other', 's1')).toThrow(/another sign-in/);
    expect(() => codeFromRedirect('http://127.0.0.1:5/?error=access_denied&state=s1', 's1')).toThrow(OAuthGrantError);
    expect(() => codeFromRedirect('just text', 's1')).toThrow(/not the address/);
  });
});

describe('provider files', () => {
  let server: TestOAuthServer;
  beforeAll(async () => {
    server = await startOAuthServer([{ id: 'c' }]);
  });
  afterAll(() => server.close());

  it('finds the endpoints in the issuer metadata (RFC 8414)', async () => {
    const file = join(work, 'p.yaml');
    writeFileSync(file, `issuer: ${server.issuer}\nclient_id: c\nscopes: [a, b]\n`);
    const provider = await loadProvider({ provider: file }, 5000);
    expect(provider.tokenEndpoint).toBe(`${server.issuer}/token`);
    expect(provider.deviceAuthorizationEndpoint).toBe(`${server.issuer}/device`);
    expect(provider.scopes).toEqual(['a', 'b']);
  });

  it('refuses metadata that names another issuer, and endpoints without TLS off this machine', async () => {
    const liar = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: 'https://evil.example' })),
    );
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', () => r()));
    const file = join(work, 'liar.yaml');
    writeFileSync(file, `issuer: http://127.0.0.1:${(liar.address() as { port: number }).port}\nclient_id: c\n`);
    await expect(loadProvider({ provider: file }, 5000)).rejects.toThrow(/another issuer/);
    liar.close();
    const plain = join(work, 'plain.yaml');
    writeFileSync(plain, 'token_endpoint: http://idp.example/token\nclient_id: c\n');
    await expect(loadProvider({ provider: plain }, 5000)).rejects.toThrow(/must use https/);
    await expect(loadProvider({ provider: 'google' }, 5000)).rejects.toThrow(/--client-id/);
  });
});

describe('grants against the test authorization server', () => {
  let server: TestOAuthServer;
  let provider: OAuthProvider;
  beforeAll(async () => {
    server = await startOAuthServer([{ id: 'c' }, { id: 'app', secret: 's3cret', appUser: 'svc' }]);
    const file = join(work, 'grants.yaml');
    writeFileSync(file, `issuer: ${server.issuer}\nclient_id: c\nscopes: mail\n`);
    provider = await loadProvider({ provider: file }, 5000);
  });
  afterAll(() => server.close());

  it('device flow: polls while authorization is pending and gets tokens once approved', async () => {
    server.deviceInterval = 1;
    const said: string[] = [];
    const pending = deviceFlow(provider, { say: (l) => said.push(l), waitMs: 20_000, timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 1500));
    const code = /enter the code (\S+)/.exec(said.join('\n'))![1]!;
    server.approveDevice(code, 'alice');
    const tokens = await pending;
    expect(tokens.refreshToken).toBeDefined();
    expect(server.counts['urn:ietf:params:oauth:grant-type:device_code']).toBeGreaterThanOrEqual(2);
  });

  it('device flow: a refusal on the other device ends it with access_denied', async () => {
    const said: string[] = [];
    const pending = deviceFlow(provider, { say: (l) => said.push(l), waitMs: 20_000, timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 300));
    server.denyDevice(/enter the code (\S+)/.exec(said.join('\n'))![1]!);
    await expect(pending).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('a rotated-out refresh token is refused as invalid_grant, and so is every later one of that grant', async () => {
    const said: string[] = [];
    const pending = deviceFlow(provider, { say: (l) => said.push(l), waitMs: 20_000, timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 300));
    server.approveDevice(/enter the code (\S+)/.exec(said.join('\n'))![1]!, 'bob');
    const first = await pending;
    const second = await refreshTokens(provider, first.refreshToken!, 5000);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    await expect(refreshTokens(provider, first.refreshToken!, 5000)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(refreshTokens(provider, second.refreshToken!, 5000)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('an error answer is reported by its code alone, never by its description', async () => {
    const err = await tokenRequest(provider, { grant_type: 'refresh_token', refresh_token: 'nope' }, 5000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthGrantError);
    expect((err as Error).message).toBe('the token endpoint answered 400 invalid_grant');
  });
});

describe('the stored sign-in', () => {
  let server: TestOAuthServer;
  beforeAll(async () => {
    server = await startOAuthServer([{ id: 'app', secret: 's3cret', appUser: 'svc' }]);
  });
  afterAll(() => server.close());

  const record = (dir: string, account: string) =>
    writeSignIn(dir, {
      version: 1,
      account,
      providerArgument: 'p.yaml',
      provider: {
        name: 'p',
        tokenEndpoint: `${server.issuer}/token`,
        clientId: 'app',
        clientSecret: 's3cret',
        scopes: [],
        appScopes: ['mail.all'],
        authorizationParams: {},
      },
      grant: 'app',
      signedInAt: Date.now(),
    });

  it('is fetched when absent or stale, kept while fresh, and written 0600 without following links', async () => {
    const dir = mkdtempSync(join(work, 'store-'));
    record(dir, 'app1');
    const before = server.counts.client_credentials ?? 0;
    const source = await storedTokenSource(dir, 'app1', 'IMAP', 5000);
    expect(source?.current()).toMatch(/^at-/);
    await storedTokenSource(dir, 'app1', 'IMAP', 5000);
    expect(server.counts.client_credentials! - before).toBe(1);
    // A server that refused the token: another one, and it is stored.
    const refused = source!.current();
    const next = await source!.refresh();
    expect(next).not.toBe(refused);
    expect(readSignIn(signInPath(dir, 'app1'))?.accessToken).toBe(next);
    expect(await storedTokenSource(dir, 'nobody', 'IMAP', 5000)).toBeUndefined();
  });

  it('refuses a sign-in file planted as a symbolic link', async () => {
    const dir = mkdtempSync(join(work, 'link-'));
    const elsewhere = join(work, 'elsewhere.json');
    writeFileSync(elsewhere, '{}');
    symlinkSync(elsewhere, signInPath(dir, 'x'));
    await expect(storedTokenSource(dir, 'x', 'IMAP', 5000)).rejects.toThrow(PopliftError);
    await expect(storedTokenSource(dir, 'x', 'IMAP', 5000)).rejects.toThrow(/symbolic link/);
  });

  it('an authorization server that never answers is given up on at the deadline', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const started = Date.now();
    await expect(postOrGet(`http://127.0.0.1:${(silent.address() as { port: number }).port}/token`, { a: 'b' }, 300)).rejects.toThrow(
      /within/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    silent.closeAllConnections();
    silent.close();
  });
});
