import { connect } from 'node:net';
import { expect, it } from 'vitest';
import { imapClientOf } from '../helpers/server-changes.js';
import { Pop3Session } from '../../src/pop3/pop3-session.js';
import { HARNESS_RUN_ENV } from '../helpers/dovecot.js';
import { harnessProcesses, killHarnessServers } from '../helpers/reaper.js';
import { describeServers, SERVERS, type MailServer } from '../helpers/servers.js';

const message = Buffer.from(
  'From: a@example.org\r\nTo: b@example.org\r\nSubject: harness\r\nMessage-ID: <harness@example.org>\r\n\r\nhello\r\n',
);

describeServers(
  'test harness',
  { each: ['dovecot', 'cyrus', 'courier', 'mailutils', 'popa3d', 'solid-pop3d', 'hoodiecrow', 'wildduck'] },
  (ctx) => {
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
        const client = await imapClientOf(server, user);
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
  },
);

describeServers('global teardown', { each: ['dovecot', 'cyrus', 'courier', 'mailutils', 'popa3d', 'solid-pop3d'] }, (ctx) => {
  it('kills every process of a server its test file left running', async () => {
    // A run id of its own, so only this server is reaped.
    const runId = `reap${process.pid}${ctx.name}`;
    const saved = process.env[HARNESS_RUN_ENV];
    process.env[HARNESS_RUN_ENV] = runId;
    let server: MailServer;
    try {
      server = await SERVERS[ctx.name].start();
    } finally {
      process.env[HARNESS_RUN_ENV] = saved;
    }
    try {
      const ports = [server.imap?.port, server.pop3?.port].filter((p): p is number => p !== undefined);
      expect(harnessProcesses(runId).length).toBeGreaterThan(0);
      expect(killHarnessServers(runId)).toBeGreaterThan(0);
      await expect.poll(() => harnessProcesses(runId), { timeout: 5_000 }).toEqual([]);
      for (const port of ports) await expect.poll(() => answers(port), { timeout: 5_000 }).toBe(false);
    } finally {
      await server.stop();
    }
  });
});

/** Whether anything still accepts connections and greets on the port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.setTimeout(1_000);
    sock.once('data', () => {
      sock.destroy();
      resolve(true);
    });
    for (const ev of ['error', 'timeout', 'close'] as const)
      sock.once(ev, () => {
        sock.destroy();
        resolve(false);
      });
  });
}
