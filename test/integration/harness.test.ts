import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import Pop3Command from 'node-pop3';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { describeIntegration } from '../helpers/suite.js';

describeIntegration('test harness: private Dovecot', () => {
  let dovecot: Dovecot;
  let user: DovecotUser;
  const message = Buffer.from(
    'From: a@example.org\r\nTo: b@example.org\r\nSubject: harness\r\nMessage-ID: <harness@example.org>\r\n\r\nhello\r\n',
  );

  beforeAll(async () => {
    dovecot = await startDovecot();
    user = dovecot.addUser('alice');
    dovecot.deliver(user, message);
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  it('serves a delivered message over POP3', async () => {
    const pop3 = new Pop3Command({ host: dovecot.host, port: dovecot.ports.pop3, user: user.name, password: user.password });
    const [count] = (await pop3.STAT()).split(' ');
    expect(count).toBe('1');
    const uidl = await pop3.UIDL();
    expect(uidl).toHaveLength(1);
    await pop3.QUIT();
  });

  it('serves the same message over IMAP with TLS verified against the harness certificate', async () => {
    const client = new ImapFlow({
      host: dovecot.host,
      port: dovecot.ports.imaps,
      secure: true,
      auth: { user: user.name, pass: user.password },
      logger: false,
      tls: { ca: readFileSync(dovecot.certPath), servername: 'localhost' },
    });
    client.on('error', () => undefined);
    await client.connect();
    const lock = await client.getMailboxLock('INBOX');
    try {
      const msg = await client.fetchOne('1', { source: true, envelope: true });
      expect(msg && msg.envelope?.messageId).toBe('<harness@example.org>');
      expect(msg && msg.source?.equals(message)).toBe(true);
    } finally {
      lock.release();
    }
    await client.logout();
  });
});
