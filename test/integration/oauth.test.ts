/**
 * `poplift login` against an authorization server of the tests' own
 * (test/helpers/oauth-server.ts, written from RFC 6749/7636/8628/8414/7662),
 * and runs that sign in by themselves to the real Dovecot, whose oauth2
 * passdb asks that server's introspection endpoint about every token: the
 * device flow, the browser flow on this machine and pasted from elsewhere,
 * refresh with rotation, a revoked sign-in, and an application's sign-in
 * (client credentials) shared by the rows of a batch.
 */
import { readFileSync, statSync, writeFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild } from '../helpers/child-run.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder } from '../helpers/mailboxes.js';
import { startOAuthServer, type TestOAuthServer } from '../helpers/oauth-server.js';
import { describeIntegration } from '../helpers/suite.js';

const APP_SECRET = 'app-Secret-7fq2-distinctive';

function message(user: string, i: number): Buffer {
  return Buffer.from(`From: a@example.org\r\nSubject: ${user} ${i}\r\nMessage-ID: <${user}.${i}@oauth.example>\r\n\r\nbody ${i}\r\n`);
}

describeIntegration('OAuth2 sign-in: poplift login, then runs that refresh by themselves (Dovecot oauth2 passdb)', () => {
  let oauth: TestOAuthServer;
  let dovecot: Dovecot;
  const work = mkdtempSync(join(tmpdir(), 'poplift-oauth-'));
  const stateDir = join(work, 'state');
  const providerFile = join(work, 'provider.yaml');
  const env = { HOME: work };
  const users: Record<string, DovecotUser> = {};

  beforeAll(async () => {
    oauth = await startOAuthServer([{ id: 'poplift-test' }, { id: 'poplift-app', secret: APP_SECRET, appUser: 'svc' }]);
    // Only the issuer: the endpoints come from its RFC 8414 metadata.
    writeFileSync(
      providerFile,
      [
        `name: test-idp`,
        `issuer: ${oauth.issuer}`,
        `client_id: poplift-test`,
        `scopes: mail offline_access`,
        `app_scopes: mail.all`,
        '',
      ].join('\n'),
    );
    dovecot = await startDovecot({
      tls: false,
      // XOAUTH2 alone, as Gmail and Microsoft 365 offer it.
      authMechanisms: 'plain login xoauth2',
      oauth2IntrospectionUrl: oauth.introspectionUrl,
    });
    for (const name of ['alice', 'bob', 'carol', 'svc']) users[name] = dovecot.addUser(name);
    // The batch's POP3 mailboxes log in with one password; its IMAP side with the application's sign-in.
    for (const name of ['src1', 'src2']) users[name] = dovecot.addUser(name, 'src-Pw-shared');
  });
  afterAll(async () => {
    await dovecot?.stop();
    await oauth?.close();
  });

  const pop3 = (u: string) => `pop3://${u}@127.0.0.1:${dovecot.ports.pop3}`;
  const imap = (u: string) => `imap://${u}@127.0.0.1:${dovecot.ports.imap}`;
  /** Every secret the authorization server handed out or holds. */
  const secrets = () => [APP_SECRET, ...oauth.refreshTokensIssued];

  function login(account: string, extra: string[] = [], stdin = false) {
    return startChild(['login', providerFile, account, '--state-dir', stateDir, ...extra], env, { stdin });
  }

  /** Plays the browser: opens the address poplift printed; returns where the authorization server sends it. */
  async function browse(stderr: string): Promise<string> {
    const address = /^\s+(http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+)$/m.exec(stderr)?.[1];
    expect(address, stderr).toBeDefined();
    const response = await fetch(address!, { redirect: 'manual' });
    expect(response.status).toBe(302);
    return response.headers.get('location')!;
  }

  it('device flow: the code is entered elsewhere, the sign-in is stored 0600, and migrate logs in to POP3 and IMAP with it', async () => {
    oauth.signInAs('nobody');
    const run = login('alice', ['--flow', 'device']);
    await run.waitFor(/enter the code [A-F0-9]{4}-[A-F0-9]{4}/);
    const userCode = /enter the code (\S+)/.exec(run.stderr())![1]!;
    oauth.approveDevice(userCode, 'alice');
    expect(await run.done, run.stderr()).toBe(0);
    const stored = readdirSync(stateDir).filter((n) => n.startsWith('oauth-'));
    expect(stored).toHaveLength(1);
    expect(statSync(join(stateDir, stored[0]!)).mode & 0o777).toBe(0o600);
    expect(oauth.counts['urn:ietf:params:oauth:grant-type:device_code']).toBeGreaterThanOrEqual(1);

    for (const i of [1, 2, 3]) dovecot.deliver(users.alice!, message('alice', i));
    const before = oauth.counts.introspect ?? 0;
    const migrate = startChild(
      [
        'migrate',
        pop3('alice'),
        imap('alice'),
        '--folder',
        'Moved',
        '--pop3-auth',
        'oauth',
        '--imap-auth',
        'oauth',
        '--state-dir',
        stateDir,
        '--json',
      ],
      env,
    );
    expect(await migrate.done, migrate.stderr()).toBe(0);
    expect((JSON.parse(migrate.stdout()) as { appended: number }).appended).toBe(3);
    expect((await readImapFolder(dovecot, users.alice!, 'Moved')).length).toBe(3);
    // Dovecot asked the authorization server about the token, for POP3 and for IMAP.
    expect((oauth.counts.introspect ?? 0) - before).toBeGreaterThanOrEqual(2);
    for (const secret of secrets()) expect(migrate.stderr() + migrate.stdout()).not.toContain(secret);
  });

  it('browser flow on this machine: the redirect to the loopback port completes the sign-in', async () => {
    oauth.signInAs('bob');
    const run = login('bob');
    await run.waitFor(/authorize\?/);
    const back = await browse(run.stderr());
    const page = await fetch(back);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('signed in');
    expect(await run.done, run.stderr()).toBe(0);
    // Found by itself: no --imap-auth, no password given.
    dovecot.deliver(users.bob!, message('bob', 1));
    const migrate = startChild(['migrate', pop3('bob'), imap('bob'), '--folder', 'Moved', '--state-dir', stateDir], env);
    expect(await migrate.done, migrate.stderr()).toBe(0);
    expect((await readImapFolder(dovecot, users.bob!, 'Moved')).length).toBe(1);
  });

  it('browser flow elsewhere: the address the browser ended on, pasted back, completes the sign-in', async () => {
    oauth.signInAs('carol');
    const run = login('carol', [], true);
    await run.waitFor(/paste the address/);
    const back = await browse(run.stderr());
    // A line that is not the address is refused and asked for again; then the real one.
    run.child.stdin!.write('not an address\n');
    await run.waitFor(/paste the whole address again/);
    run.child.stdin!.write(`${back}\n`);
    expect(await run.done, run.stderr()).toBe(0);
    const list = startChild(['login', '--list', '--state-dir', stateDir], env);
    expect(await list.done).toBe(0);
    expect(list.stdout()).toMatch(/^carol {2}test-idp {2}signed in by a person/m);
    for (const secret of secrets()) expect(list.stdout() + list.stderr()).not.toContain(secret);
  });

  it('an access token the server stopped honouring is refreshed, the rotated refresh token written back; a revoked sign-in exits 3 naming the login command', async () => {
    const file = () =>
      readFileSync(
        join(
          stateDir,
          readdirSync(stateDir).find(
            (n) => n.startsWith('oauth-') && readFileSync(join(stateDir, n), 'utf8').includes('"account":"alice"'),
          )!,
        ),
        'utf8',
      );
    const refreshBefore = oauth.counts.refresh_token ?? 0;
    oauth.expireAccessTokens();
    dovecot.deliver(users.alice!, message('alice', 4));
    const again = startChild(
      [
        'migrate',
        pop3('alice'),
        imap('alice'),
        '--folder',
        'Moved',
        '--imap-auth',
        'oauth',
        '--pop3-auth',
        'oauth',
        '--state-dir',
        stateDir,
      ],
      env,
    );
    expect(await again.done, again.stderr()).toBe(0);
    expect((await readImapFolder(dovecot, users.alice!, 'Moved')).length).toBe(4);
    expect(oauth.counts.refresh_token! - refreshBefore).toBe(1);
    // The newest refresh token is the stored one: the old one would now be refused as reused.
    expect(file()).toContain(`"refreshToken":"${oauth.refreshTokensIssued.at(-1)!}"`);

    oauth.revokeUser('alice');
    dovecot.deliver(users.alice!, message('alice', 5));
    const revoked = startChild(
      [
        'migrate',
        pop3('alice'),
        imap('alice'),
        '--folder',
        'Moved',
        '--imap-auth',
        'oauth',
        '--pop3-auth',
        'oauth',
        '--state-dir',
        stateDir,
        '--json',
        '--log-file',
        join(work, 'revoked.log'),
      ],
      env,
    );
    expect(await revoked.done).toBe(3);
    const lines = revoked.stderr().trimEnd().split('\n');
    expect(lines, revoked.stderr()).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^poplift: POP3: the stored OAuth2 sign-in for alice \(test-idp\) no longer works \(invalid_grant\); sign in again with: poplift login \S+provider\.yaml alice$/,
    );
    expect((JSON.parse(revoked.stdout()) as { error: { code: string } }).error.code).toBe('OAUTH_SIGN_IN');
    const log = readFileSync(join(work, 'revoked.log'), 'utf8');
    expect(log).toContain('no longer works');
    for (const secret of secrets()) expect(revoked.stderr() + revoked.stdout() + log).not.toContain(secret);
  });

  it("an application's sign-in (client credentials) serves every row of a batch, fetched again when it expires", async () => {
    const secretFile = join(work, 'app-secret');
    writeFileSync(secretFile, `${APP_SECRET}\n`, { mode: 0o600 });
    const app = login('contoso-app', ['--flow', 'app', '--client-id', 'poplift-app', '--client-secret-file', secretFile]);
    expect(await app.done, app.stderr()).toBe(0);
    const granted = oauth.counts.client_credentials ?? 0;
    for (const src of ['src1', 'src2']) for (const i of [1, 2]) dovecot.deliver(users[src]!, message(src, i));
    const rows = join(work, 'rows.csv');
    writeFileSync(
      rows,
      [
        'pop3_url,imap_url,folder,imap_oauth_account',
        `${pop3('src1')},${imap('svc')},From src1,contoso-app`,
        `${pop3('src2')},${imap('svc')},From src2,contoso-app`,
        '',
      ].join('\n'),
    );
    oauth.expireAccessTokens();
    const batch = startChild(['batch', rows, '--jobs', '2', '--state-dir', stateDir], {
      ...env,
      POPLIFT_POP3_PASSWORD: users.src1!.password,
    });
    expect(await batch.done, batch.stderr()).toBe(0);
    expect((await readImapFolder(dovecot, users.svc!, 'From src1')).length).toBe(2);
    expect((await readImapFolder(dovecot, users.svc!, 'From src2')).length).toBe(2);
    // The expired token was replaced once, under the refresh lock, not once per row.
    expect(oauth.counts.client_credentials! - granted).toBe(1);
    for (const secret of secrets()) expect(batch.stderr() + batch.stdout()).not.toContain(secret);
  });
});

describe('the test authorization server', () => {
  it('refuses a code exchanged without the PKCE verifier that matches its challenge', async () => {
    const server = await startOAuthServer([{ id: 'c' }]);
    try {
      const authorize = new URL(`${server.issuer}/authorize`);
      for (const [k, v] of Object.entries({
        response_type: 'code',
        client_id: 'c',
        redirect_uri: 'http://127.0.0.1:9/',
        state: 's',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      }))
        authorize.searchParams.set(k, v);
      const code = new URL((await fetch(authorize, { redirect: 'manual' })).headers.get('location')!).searchParams.get('code')!;
      const exchange = (verifier: string) =>
        fetch(`${server.issuer}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            client_id: 'c',
            redirect_uri: 'http://127.0.0.1:9/',
            code_verifier: verifier,
          }),
        });
      expect(await (await exchange('x'.repeat(43))).json()).toEqual({ error: 'invalid_grant' });
    } finally {
      await server.close();
    }
  });
});
