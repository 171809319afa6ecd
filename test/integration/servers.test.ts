import { expect, it } from 'vitest';
import { ImapFlow } from 'imapflow';
import { Pop3Session } from '../../src/pop3/pop3-session.js';
import { describeServers } from '../helpers/servers.js';

const message = Buffer.from('From: a@example.org\r\nTo: b@example.org\r\nSubject: harness\r\nMessage-ID: <harness@example.org>\r\n\r\nhello\r\n');

describeServers('test harness', { each: ['dovecot', 'cyrus', 'courier', 'mailutils', 'popa3d'] }, (ctx) => {
  it('starts privately, takes a delivery and serves it over POP3 and IMAP', async () => {
    const server = await ctx.server();
    const user = await server.addUser('harness');
    await server.deliver(user, [message]);
    if (server.pop3) {
      const session = await Pop3Session.connect({
        host: server.pop3.host,
        port: server.pop3.port,
        tls: false,
        allowPlaintext: true,
        user: user.login,
        password: user.password,
        timeoutMs: 30_000,
      });
      try {
        const sizes = await session.list();
        expect(sizes.size).toBe(1);
        const bodies: Buffer[] = [];
        await session.retrMany([...sizes.keys()], (_n, body) => {
          bodies.push(body);
        });
        expect(bodies[0]!.toString('latin1')).toContain('Message-ID: <harness@example.org>');
        expect(bodies[0]!.toString('latin1')).toContain('\r\n\r\nhello\r\n');
      } finally {
        await session.quit();
      }
    }
    if (server.imap) {
      const client = new ImapFlow({ host: server.imap.host, port: server.imap.port, secure: false, doSTARTTLS: false, auth: { user: user.login, pass: user.password }, logger: false, disableAutoIdle: true });
      client.on('error', () => undefined);
      await client.connect();
      try {
        const box = await client.mailboxOpen('INBOX', { readOnly: true });
        expect(box.exists).toBe(1);
        const m = await client.fetchOne('1', { envelope: true });
        expect(m && m.envelope?.messageId).toBe('<harness@example.org>');
      } finally {
        await client.logout();
      }
    }
  });
});
