/**
 * An IMAP server that quotes the login it refused (a proxy in front of
 * Dovecot, which never does): the password and the SASL PLAIN blob must not
 * reach the error, the --debug trace or anything else poplift prints.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PopliftError } from '../../src/errors.js';
import { ImapAppendChannel } from '../../src/imap/imap-append-channel.js';
import { ImapTarget } from '../../src/imap/imap-target.js';
import { startDovecot, type Dovecot } from '../helpers/dovecot.js';
import { EchoImapProxy } from '../helpers/echo-imap-proxy.js';
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
});
