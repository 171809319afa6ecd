/**
 * Issue 6, "Secure by default", proven against the real Dovecot: certificate
 * checks, STLS/STARTTLS upgrades, the plaintext policy, OAuth2 logins
 * (Dovecot's oauth2 passdb asking a tiny introspection server this file
 * starts), APOP and AUTH PLAIN, secrets kept out of every output, and wrong
 * passwords that fail once with exit 3.
 */
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild } from '../helpers/child-run.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';
import { PopliftError } from '../../src/errors.js';
import { Pop3Session } from '../../src/pop3/pop3-session.js';
import { ImapTarget } from '../../src/imap/imap-target.js';

const PASSWORD = 'Zq9-distinctive-Secret!';
/**
 * Dovecot treats a client on its own address as secured and lets it log in
 * in the clear whatever disable_plaintext_auth says; a client on 127.0.0.1
 * reaching 127.0.0.2 is not, so plain-port tests that need the refusal go there.
 */
const SECOND_LOOPBACK = '127.0.0.2';
const TOKEN = 'ya29.Tk7-distinctive-Token_Qw3';

/** RFC 7662 introspection endpoint: the authorization server Dovecot's oauth2 passdb asks. */
interface Introspection {
  url: string;
  /** Tokens Dovecot asked about, in order. */
  readonly asked: string[];
  /** `token` is active for `user`; `uses` limits how many introspections say so. */
  grant(token: string, user: string, uses?: number): void;
  close(): Promise<void>;
}

async function startIntrospection(): Promise<Introspection> {
  const grants = new Map<string, { user: string; uses: number }>();
  const asked: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token') ?? '';
      asked.push(token);
      const grant = grants.get(token);
      const active = grant !== undefined && grant.uses-- > 0;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(active ? { active: true, username: grant.user } : { active: false }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/introspect`,
    asked,
    grant: (token, user, uses = Infinity) => grants.set(token, { user, uses }),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function message(user: string, i: number): Buffer {
  return Buffer.from(`From: a@example.org\r\nSubject: ${user} ${i}\r\nMessage-ID: <${user}.${i}@example.org>\r\n\r\nbody ${i}\r\n`);
}

/** One line on stderr, no stack trace, naming the side. */
function expectOneLine(r: CliResult | { stderr: string; stdout: string }, side: 'POP3' | 'IMAP', pattern: RegExp): string {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^poplift: /);
  expect(lines[0]).toContain(side);
  expect(lines[0]).toMatch(pattern);
  expect(r.stdout).toBe('');
  return lines[0]!;
}

/** Every form a secret could take on the wire or in a trace: itself, and base64 of it at each of the three alignments. */
function secretForms(secret: string): string[] {
  const forms = [secret];
  for (let offset = 0; offset < 3; offset++) {
    const b64 = Buffer.concat([Buffer.alloc(offset, 0x41), Buffer.from(secret)]).toString('base64');
    // Drop the characters shared with the bytes before and after the secret.
    forms.push(b64.slice(offset === 0 ? 0 : 4, -4));
  }
  return forms;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

/** Sends POP3 command lines one by one, each after the previous reply, and returns everything the server said. */
function rawPop3(host: string, port: number, lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    const queue = [...lines, 'QUIT'];
    let said = '';
    socket.on('data', (d: Buffer) => {
      said += d.toString('latin1');
      if (said.endsWith('\r\n')) {
        const next = queue.shift();
        if (next !== undefined) socket.write(`${next}\r\n`);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(said));
  });
}

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

describeIntegration('security: TLS, plaintext policy, login methods and secrets against Dovecot', () => {
  let oauth: Introspection;
  /** TLS with a self-signed certificate; plaintext logins refused on non-TLS connections; every mechanism. */
  let dovecot: Dovecot;
  /** The same, with XOAUTH2 as its only token mechanism. */
  let xoauth2Only: Dovecot;
  /** No TLS at all (no STLS/STARTTLS). */
  let plain: Dovecot;
  const work = mkdtempSync(join(tmpdir(), 'poplift-security-'));
  let seq = 0;

  beforeAll(async () => {
    oauth = await startIntrospection();
    const verbose = 'auth_verbose = yes';
    [dovecot, xoauth2Only, plain] = await Promise.all([
      startDovecot({
        plaintextAuth: false,
        extraListen: [SECOND_LOOPBACK],
        authMechanisms: 'plain login apop xoauth2 oauthbearer',
        oauth2IntrospectionUrl: oauth.url,
        extraConfig: verbose,
      }),
      startDovecot({
        plaintextAuth: false,
        authMechanisms: 'plain login xoauth2',
        oauth2IntrospectionUrl: oauth.url,
        extraConfig: verbose,
      }),
      startDovecot({ tls: false, extraConfig: verbose }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([dovecot?.stop(), xoauth2Only?.stop(), plain?.stop()]);
    await oauth?.close();
  });

  /** A source mailbox with two messages and an empty destination account, on `server`. */
  function accounts(server: Dovecot, password?: string): { src: DovecotUser; dst: DovecotUser } {
    const n = ++seq;
    const src = server.addUser(`src${n}`, password);
    const dst = server.addUser(`dst${n}`, password);
    for (const i of [1, 2]) server.deliver(src, message(src.name, i));
    return { src, dst };
  }
  const env = (a: { src: DovecotUser; dst: DovecotUser }) => ({
    POPLIFT_POP3_PASSWORD: a.src.password,
    POPLIFT_IMAP_PASSWORD: a.dst.password,
  });
  const pop3s = (server: Dovecot, u: DovecotUser) => `pop3s://${u.name}@127.0.0.1:${server.ports.pop3s}`;
  const imaps = (server: Dovecot, u: DovecotUser) => `imaps://${u.name}@127.0.0.1:${server.ports.imaps}`;
  const pop3 = (server: Dovecot, u: DovecotUser, host = '127.0.0.1') => `pop3://${u.name}@${host}:${server.ports.pop3}`;
  const imap = (server: Dovecot, u: DovecotUser, host = '127.0.0.1') => `imap://${u.name}@${host}:${server.ports.imap}`;
  const migrated = async (server: Dovecot, dst: DovecotUser) => (await readImapFolder(server, dst, 'INBOX')).length;
  /** Dovecot's auth_verbose lines about this user's failed logins. */
  const failures = (server: Dovecot, user: DovecotUser) =>
    readFileSync(server.logPath, 'utf8')
      .split('\n')
      .filter((l) => l.includes(`(${user.name},`) && /mismatch|unknown user|failed/i.test(l));

  describe('1. certificates', () => {
    for (const scheme of ['implicit TLS', 'STLS/STARTTLS'] as const) {
      const urls = (a: { src: DovecotUser; dst: DovecotUser }) =>
        scheme === 'implicit TLS' ? [pop3s(dovecot, a.src), imaps(dovecot, a.dst)] : [pop3(dovecot, a.src), imap(dovecot, a.dst)];

      it(`${scheme}: a self-signed certificate is refused by default, exit 4 naming the problem, on each side`, async () => {
        const a = accounts(dovecot);
        const r1 = await runCli(['migrate', ...urls(a), '--imap-ca-file', dovecot.certPath], env(a));
        expect(r1.code, r1.stderr).toBe(4);
        expectOneLine(r1, 'POP3', /self-signed/);
        const r2 = await runCli(['migrate', ...urls(a), '--pop3-ca-file', dovecot.certPath], env(a));
        expect(r2.code, r2.stderr).toBe(4);
        expectOneLine(r2, 'IMAP', /self-signed/);
        expect(failures(dovecot, a.src)).toEqual([]);
        expect(await migrated(dovecot, a.dst)).toBe(0);
      });

      it(`${scheme}: accepted with --ca-file of the harness certificate`, async () => {
        const a = accounts(dovecot);
        const r = await runCli(['migrate', ...urls(a), '--ca-file', dovecot.certPath], env(a));
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).not.toMatch(/warning/);
        expect(await migrated(dovecot, a.dst)).toBe(2);
      });

      it(`${scheme}: accepted with --insecure, with a warning naming each side`, async () => {
        const a = accounts(dovecot);
        const r = await runCli(['migrate', ...urls(a), '--insecure'], env(a));
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/^poplift: warning: POP3 certificate verification is off/m);
        expect(r.stderr).toMatch(/^poplift: warning: IMAP certificate verification is off/m);
        expect(await migrated(dovecot, a.dst)).toBe(2);
      });
    }

    it('--ca-file adds to the default CAs instead of replacing them', async () => {
      // Two servers, two self-signed certificates: one trusted the default way
      // (NODE_EXTRA_CA_CERTS, as a system CA would be), the other by --ca-file.
      const src = xoauth2Only.addUser(`src${++seq}`);
      const dst = dovecot.addUser(`dst${seq}`);
      for (const i of [1, 2]) xoauth2Only.deliver(src, message(src.name, i));
      const child = startChild(
        ['migrate', pop3s(xoauth2Only, src), imaps(dovecot, dst), '--ca-file', dovecot.certPath, '--state-dir', join(work, `state-${seq}`)],
        {
          ...env({ src, dst }),
          NODE_EXTRA_CA_CERTS: xoauth2Only.certPath,
        },
      );
      expect(await child.done, child.stderr()).toBe(0);
      expect(await migrated(dovecot, dst)).toBe(2);
    });

    it('--pop3-insecure warns about POP3 only, and IMAP is still verified', async () => {
      const a = accounts(dovecot);
      const r = await runCli(['migrate', pop3s(dovecot, a.src), imaps(dovecot, a.dst), '--pop3-insecure'], env(a));
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/^poplift: warning: POP3 certificate verification is off/m);
      expect(r.stderr).not.toMatch(/warning: IMAP/);
      expect(r.stderr).toMatch(/^poplift: TLS to IMAP .*self-signed/m);
    });
  });

  describe('2. STLS and STARTTLS on plain ports', () => {
    it('Dovecot refuses plaintext logins there; poplift upgrades and migrates', async () => {
      const a = accounts(dovecot);
      // The control: on 127.0.0.2 this Dovecot really refuses a password sent in the clear.
      const said = await rawPop3(SECOND_LOOPBACK, dovecot.ports.pop3, [`USER ${a.src.name}`, `PASS ${a.src.password}`]);
      expect(said).toMatch(/-ERR \[AUTH\] Plaintext authentication disallowed/);
      // --require-tls: had either side stayed in plain text, the run would have been refused.
      const r = await runCli(
        [
          'migrate',
          pop3(dovecot, a.src, SECOND_LOOPBACK),
          imap(dovecot, a.dst, SECOND_LOOPBACK),
          '--ca-file',
          dovecot.certPath,
          '--require-tls',
          '--debug',
        ],
        env(a),
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^POP3 C: STLS$/m);
      expect(r.stderr).toMatch(/^IMAP C: \S+ STARTTLS$/m);
      expect(await migrated(dovecot, a.dst)).toBe(2);
    });
  });

  describe('3. servers without STLS/STARTTLS', () => {
    it('loopback: allowed by default, refused by --require-tls with exit 4 naming --allow-plaintext', async () => {
      const a = accounts(plain);
      const r1 = await runCli(['migrate', pop3(plain, a.src), imap(plain, a.dst), '--require-tls'], env(a));
      expect(r1.code, r1.stderr).toBe(4);
      expectOneLine(r1, 'POP3', /STLS.*--allow-plaintext/);
      const r2 = await runCli(['migrate', pop3(plain, a.src), imap(plain, a.dst)], env(a));
      expect(r2.code, r2.stderr).toBe(0);
      expect(await migrated(plain, a.dst)).toBe(2);
    });

    // Tests reach only loopback, where plaintext is allowed by default, so the refusal that
    // applies to every other host is checked on the drivers with allowPlaintext false, which is
    // exactly what the CLI passes for a host that is not loopback (see server-url.test.ts).
    it('off loopback (allowPlaintext false): refused on each side with exit 4 naming --allow-plaintext, no credential sent', async () => {
      const a = accounts(plain);
      const common = { host: '127.0.0.1', tls: 'starttls' as const, allowPlaintext: false, timeoutMs: 10_000, tlsOptions: {} };
      const pop3Err = await Pop3Session.connect({ ...common, port: plain.ports.pop3, user: a.src.name, password: a.src.password }).catch(
        (e: unknown) => e,
      );
      expect(pop3Err).toBeInstanceOf(PopliftError);
      expect((pop3Err as PopliftError).exitCode).toBe(4);
      expect((pop3Err as PopliftError).message).toMatch(/does not offer STLS.*--allow-plaintext/);
      const imapErr = await ImapTarget.connect({ ...common, port: plain.ports.imap, user: a.dst.name, password: a.dst.password }).catch(
        (e: unknown) => e,
      );
      expect(imapErr).toBeInstanceOf(PopliftError);
      expect((imapErr as PopliftError).exitCode).toBe(4);
      expect((imapErr as PopliftError).message).toMatch(/does not offer STARTTLS.*--allow-plaintext/);
      expect(readFileSync(plain.logPath, 'utf8')).not.toContain(`${a.src.name},`);
      expect(readFileSync(plain.logPath, 'utf8')).not.toContain(`${a.dst.name},`);
    });

    it('--allow-plaintext and --require-tls together are a usage error', async () => {
      const a = accounts(plain);
      const r = await runCli(['migrate', pop3(plain, a.src), imap(plain, a.dst), '--allow-plaintext', '--require-tls'], env(a));
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--allow-plaintext.*--require-tls|--require-tls.*--allow-plaintext/);
    });
  });

  describe('4. OAuth2 access tokens (Dovecot oauth2 passdb)', () => {
    for (const mechanism of ['OAUTHBEARER', 'XOAUTH2'] as const) {
      it(`${mechanism} on both sides with --pop3-token-file and --imap-token-file`, async () => {
        const server = mechanism === 'XOAUTH2' ? xoauth2Only : dovecot;
        const a = accounts(server);
        const files = { pop3: join(work, `pop3-token-${seq}`), imap: join(work, `imap-token-${seq}`) };
        writeFileSync(files.pop3, `tok-${a.src.name}-${mechanism}\n`, { mode: 0o600 });
        writeFileSync(files.imap, `tok-${a.dst.name}-${mechanism}\n`, { mode: 0o600 });
        oauth.grant(`tok-${a.src.name}-${mechanism}`, a.src.name);
        oauth.grant(`tok-${a.dst.name}-${mechanism}`, a.dst.name);
        const r = await runCli(
          [
            'migrate',
            pop3s(server, a.src),
            imaps(server, a.dst),
            '--ca-file',
            server.certPath,
            '--pop3-token-file',
            files.pop3,
            '--imap-token-file',
            files.imap,
            '--debug',
          ],
          {},
        );
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(new RegExp(`^POP3 C: AUTH ${mechanism} \\*\\*\\*\\*$`, 'm'));
        expect(r.stderr).toMatch(new RegExp(`^IMAP C: \\S+ AUTHENTICATE ${mechanism}`, 'm'));
        expect(await migrated(server, a.dst)).toBe(2);
      });
    }

    for (const side of ['POP3', 'IMAP'] as const) {
      it(`--${side.toLowerCase()}-token-command: a refused token is fetched again once, and the second one works`, async () => {
        const a = accounts(dovecot);
        const user = side === 'POP3' ? a.src : a.dst;
        const counter = join(work, `counter-${seq}`);
        const good = `tok-${user.name}-fresh`;
        oauth.grant(good, user.name);
        const command = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; if [ $n -eq 1 ]; then echo tok-expired; else echo ${good}; fi`;
        const r = await runCli(
          [
            'migrate',
            pop3s(dovecot, a.src),
            imaps(dovecot, a.dst),
            '--ca-file',
            dovecot.certPath,
            `--${side.toLowerCase()}-token-command`,
            command,
          ],
          env(a),
        );
        expect(r.code, r.stderr).toBe(0);
        expect(readFileSync(counter, 'utf8').trim()).toBe('2');
        expect(await migrated(dovecot, a.dst)).toBe(2);
      });
    }

    it('a token command that always prints a refused token: exit 3 after exactly two attempts', async () => {
      const a = accounts(dovecot);
      const counter = join(work, `counter-${seq}`);
      const bad = `tok-${a.dst.name}-revoked`;
      const command = `n=$(cat ${counter} 2>/dev/null || echo 0); echo $((n+1)) > ${counter}; echo ${bad}`;
      const r = await runCli(
        ['migrate', pop3s(dovecot, a.src), imaps(dovecot, a.dst), '--ca-file', dovecot.certPath, '--imap-token-command', command],
        env(a),
      );
      expect(r.code, r.stderr).toBe(3);
      expectOneLine(
        r,
        'IMAP',
        new RegExp(
          `127\\.0\\.0\\.1:${dovecot.ports.imaps} refused the OAuth2 access token for ${a.dst.name}.*Authentication failed.*fresh access token`,
        ),
      );
      expect(readFileSync(counter, 'utf8').trim()).toBe('2');
      expect(oauth.asked.filter((t) => t === bad)).toHaveLength(2);
    });

    it('a token spent by the control connection is fetched again for the upload connection', async () => {
      const a = accounts(dovecot);
      const first = `tok-${a.dst.name}-first`;
      const second = `tok-${a.dst.name}-second`;
      oauth.grant(first, a.dst.name, 1);
      oauth.grant(second, a.dst.name);
      const counter = join(work, `counter-upload-${seq}`);
      const command = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; if [ $n -eq 1 ]; then echo ${first}; else echo ${second}; fi`;
      const r = await runCli(
        ['migrate', pop3s(dovecot, a.src), imaps(dovecot, a.dst), '--ca-file', dovecot.certPath, '--imap-token-command', command],
        env(a),
      );
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(counter, 'utf8').trim()).toBe('2');
      expect(await migrated(dovecot, a.dst)).toBe(2);
    });

    it('a token refused on the upload connection after the control connection took it: exit 3, no hang', async () => {
      const a = accounts(dovecot);
      const token = `tok-${a.dst.name}-once`;
      oauth.grant(token, a.dst.name, 1);
      const file = join(work, `once-${seq}`);
      writeFileSync(file, token, { mode: 0o600 });
      const started = Date.now();
      const r = await runCli(
        [
          'migrate',
          pop3s(dovecot, a.src),
          imaps(dovecot, a.dst),
          '--ca-file',
          dovecot.certPath,
          '--imap-token-file',
          file,
          '--timeout',
          '30',
        ],
        env(a),
      );
      // Unanswered, the server's error challenge would leave the upload connection waiting for --timeout.
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/^poplift: IMAP .*refused the OAuth2 access token .*Get a fresh access token/m);
    });
  });

  describe('5. APOP and AUTH PLAIN', () => {
    it('--pop3-auth apop logs in with APOP and migrates', async () => {
      const a = accounts(dovecot);
      const r = await runCli(
        ['migrate', pop3s(dovecot, a.src), imaps(dovecot, a.dst), '--ca-file', dovecot.certPath, '--pop3-auth', 'apop', '--debug'],
        env(a),
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^POP3 C: APOP ${a.src.name} \\*\\*\\*\\*$`, 'm'));
      expect(r.stderr).not.toMatch(/^POP3 C: (AUTH|USER|PASS)/m);
      expect(await migrated(dovecot, a.dst)).toBe(2);
    });

    it('by default POP3 logs in with AUTH PLAIN, shown masked in the trace', async () => {
      const a = accounts(dovecot);
      const r = await runCli(['migrate', pop3s(dovecot, a.src), imaps(dovecot, a.dst), '--ca-file', dovecot.certPath, '--debug'], env(a));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^POP3 C: AUTH PLAIN \*\*\*\*$/m);
      expect(r.stderr).not.toMatch(/^POP3 C: (USER|PASS|APOP)/m);
      expect(await migrated(dovecot, a.dst)).toBe(2);
    });
  });

  describe('6. secrets kept secret', () => {
    for (const tokenSide of ['IMAP', 'POP3'] as const) {
      it(`--debug with a distinctive password and a distinctive ${tokenSide} token: neither appears in stdout, stderr or the state directory`, async () => {
        const a = accounts(dovecot, PASSWORD);
        const tokenUser = tokenSide === 'IMAP' ? a.dst : a.src;
        const token = `${TOKEN}-${tokenUser.name}`;
        oauth.grant(token, tokenUser.name);
        const tokenFile = join(work, `token-${seq}`);
        writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
        const passwordFile = join(work, `password-${seq}`);
        writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
        const stateDir = join(work, `state-${seq}`);
        // The built program in its own process: a library writing to the real stdout would be caught too.
        const child = startChild(
          [
            'migrate',
            pop3(dovecot, a.src),
            imap(dovecot, a.dst),
            '--ca-file',
            dovecot.certPath,
            '--debug',
            '--json',
            '--state-dir',
            stateDir,
            ...(tokenSide === 'IMAP'
              ? ['--pop3-password-file', passwordFile, '--imap-token-file', tokenFile]
              : ['--pop3-token-file', tokenFile, '--imap-password-command', `cat ${passwordFile}`]),
          ],
          {},
        );
        const code = await child.done;
        expect(code, child.stderr()).toBe(0);
        expect(await migrated(dovecot, a.dst)).toBe(2);
        // The trace really covers the logins (masked).
        expect(child.stderr()).toMatch(/\*\*\*\*/);
        const files = filesUnder(stateDir);
        expect(files.length).toBeGreaterThan(0);
        const places: Array<[string, string]> = [
          ['stdout', child.stdout()],
          ['stderr', child.stderr()],
          ...files.map((f): [string, string] => [f, readFileSync(f, 'latin1')]),
        ];
        for (const secret of [PASSWORD, token]) {
          for (const form of secretForms(secret)) {
            for (const [where, text] of places) expect(text.includes(form), `${form} in ${where}`).toBe(false);
          }
        }
        expect(statSync(stateDir).mode & 0o777).toBe(0o700);
        for (const f of files) expect(statSync(f).mode & 0o777, f).toBe(0o600);
      });
    }

    it('a password file others can read gets a warning, and a password in the URL another', async () => {
      const a = accounts(dovecot);
      const file = join(work, `loose-${seq}`);
      writeFileSync(file, `${a.src.password}\n`);
      chmodSync(file, 0o644);
      const url = `imaps://${a.dst.name}:${encodeURIComponent(a.dst.password)}@127.0.0.1:${dovecot.ports.imaps}`;
      const r = await runCli(['migrate', pop3s(dovecot, a.src), url, '--ca-file', dovecot.certPath, '--pop3-password-file', file], {});
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^poplift: warning: The POP3 password file .* can be read by other users/m);
      expect(r.stderr).toMatch(/^poplift: warning: The IMAP password is in the URL/m);
      expect(r.stderr).not.toContain(a.dst.password);
    });
  });

  describe('7. wrong passwords', () => {
    for (const side of ['POP3', 'IMAP'] as const) {
      it(`${side}: exit 3, one line naming the side, the server and its words; one login attempt`, async () => {
        const a = accounts(dovecot);
        const user = side === 'POP3' ? a.src : a.dst;
        const port = side === 'POP3' ? dovecot.ports.pop3s : dovecot.ports.imaps;
        const r = await runCli(
          ['migrate', pop3s(dovecot, a.src), imaps(dovecot, a.dst), '--ca-file', dovecot.certPath],
          side === 'POP3' ? { ...env(a), POPLIFT_POP3_PASSWORD: 'wrong-pw' } : { ...env(a), POPLIFT_IMAP_PASSWORD: 'wrong-pw' },
        );
        expect(r.code, r.stderr).toBe(3);
        const line = expectOneLine(r, side, new RegExp(`127\\.0\\.0\\.1:${port}`));
        expect(line).toContain(user.name);
        // Dovecot's own words.
        expect(line).toMatch(/Authentication failed/);
        expect(line).not.toContain('wrong-pw');
        await waitFor(() => failures(dovecot, user).length > 0);
        await new Promise((res) => setTimeout(res, 300));
        expect(failures(dovecot, user)).toHaveLength(1);
        expect(await migrated(dovecot, a.dst)).toBe(0);
      });
    }
  });
});
