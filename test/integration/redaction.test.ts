/**
 * An IMAP server that quotes the login it refused (a proxy in front of
 * Dovecot, which never does): the password and the SASL PLAIN blob must not
 * reach the error, the --debug trace or anything else poplift prints.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PopliftError } from '../../src/errors.js';
import { ImapAppendChannel } from '../../src/imap/imap-append-channel.js';
import { ImapTarget } from '../../src/imap/imap-target.js';
import { startDovecot, type Dovecot } from '../helpers/dovecot.js';
import { EchoImapProxy } from '../helpers/echo-imap-proxy.js';
import { runCli } from '../helpers/cli.js';
import { startScriptedPop3 } from '../helpers/scripted-pop3.js';
import { describeIntegration } from '../helpers/suite.js';

describeIntegration('secrets echoed by an IMAP server', () => {
  let dovecot: Dovecot;
  let proxy: EchoImapProxy;
  const password = 'Xyzzy-pl0ugh&tw1sty';
  const blob = (user: string) => Buffer.from(`\0${user}\0${password}`).toString('base64');

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    proxy = await EchoImapProxy.start(dovecot.ports.imap);
  });
  afterAll(async () => {
    await proxy?.close();
    await dovecot?.stop();
  });

  function login(user: string, trace: string[]) {
    return {
      host: '127.0.0.1',
      port: proxy.port,
      tls: 'starttls' as const,
      allowPlaintext: true,
      user,
      password,
      tlsOptions: {},
      timeoutMs: 10_000,
      debug: (line: string) => trace.push(line),
    };
  }

  function expectClean(text: string, user: string): void {
    expect(text).not.toContain(password);
    expect(text).not.toContain(blob(user));
  }

  it('control connection (LOGIN): neither the error nor the trace shows the password', async () => {
    const user = dovecot.addUser('ctl', password).name;
    const trace: string[] = [];
    const err = await ImapTarget.connect(login(user, trace)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PopliftError);
    expect((err as PopliftError).exitCode).toBe(3);
    // The proxy did echo it: the test would be empty otherwise.
    expect(proxy.logins.some((l) => l.includes(password))).toBe(true);
    expect((err as PopliftError).message).toContain('****');
    expectClean((err as PopliftError).message, user);
    expectClean(trace.join('\n'), user);
  });

  it('upload connection (AUTHENTICATE PLAIN): neither the error nor the trace shows the blob', async () => {
    const user = dovecot.addUser('up', password).name;
    const trace: string[] = [];
    const err = await ImapAppendChannel.open(login(user, trace)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PopliftError);
    expect(proxy.logins.some((l) => l.includes(blob(user)))).toBe(true);
    expect((err as PopliftError).message).toContain('****');
    expectClean((err as PopliftError).message, user);
    expectClean(trace.join('\n'), user);
  });

  it('end to end: stderr, --debug and --log-file never show either password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poplift-redaction-'));
    const logFile = join(dir, 'run.log');
    const pop3Password = 'Pop3-s3cret&echo';
    const pop3Blob = Buffer.from(`\0alice\0${pop3Password}`).toString('base64');
    const message = Buffer.from('Message-ID: <r1@example>\r\nSubject: one\r\n\r\nbody\r\n');
    const pop3 = await startScriptedPop3({
      capa: ['TOP', 'UIDL', 'USER', 'PIPELINING', 'SASL PLAIN'],
      password: pop3Password,
      messages: [message, message],
      hook: async (line, ctx) => {
        if (line !== 'RETR 1') return false;
        await ctx.send(`-ERR cannot read it, ${pop3Password} / ${encodeURIComponent(pop3Password)} / ${pop3Blob}\r\n`);
        return true;
      },
    });
    try {
      const user = dovecot.addUser('cli', password).name;
      const env = { POPLIFT_POP3_PASSWORD: pop3Password, POPLIFT_IMAP_PASSWORD: password };
      const pop3Url = `pop3://alice@127.0.0.1:${pop3.port}`;
      const options = ['--folder', 'Old', '--debug', '--log-file', logFile];
      // The POP3 server quotes its password when it refuses RETR 1; the other message moves.
      const moved = await runCli(['migrate', pop3Url, `imap://${user}@127.0.0.1:${dovecot.ports.imap}`, ...options], env);
      expect(moved.code).toBe(1);
      expect(moved.stderr).toContain('cannot read it, ****');
      // The IMAP server (the echoing proxy) quotes the IMAP password when it refuses the login.
      const refused = await runCli(['migrate', pop3Url, `imap://${user}@127.0.0.1:${proxy.port}`, ...options], env);
      expect(refused.code).toBe(3);
      const everything = [moved.stdout, moved.stderr, refused.stdout, refused.stderr, readFileSync(logFile, 'utf8')].join('\n');
      expect(everything).toContain('Invalid credentials for');
      for (const secret of [password, blob(user), pop3Password, encodeURIComponent(pop3Password), pop3Blob]) {
        expect(everything).not.toContain(secret);
      }
    } finally {
      await pop3.close();
    }
  });
});
