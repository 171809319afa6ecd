/**
 * Uploads into a real Courier-IMAP, which has neither LITERAL+ nor
 * MULTIAPPEND (every APPEND waits for '+'), never sets TCP_NODELAY, and
 * locks the folder for each APPEND. Compared in the same test with a
 * minimal client that sends one APPEND at a time and waits for each reply,
 * so a busy machine slows both alike.
 */
import { expect, it } from 'vitest';
import { ImapAppendChannel, type ImapLogin } from '../../src/imap/imap-append-channel.js';
import { UploadPool } from '../../src/imap/upload-pool.js';
import { syncAppendFloor } from '../bench/sync-append-floor.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { readFolderOf } from '../helpers/server-changes.js';
import { describeServers, type MailServer, type MailUser } from '../helpers/servers.js';

const COUNT = 150;

function message(i: number): Buffer {
  return Buffer.from(
    `From: a@example.org\r\nTo: b@example.org\r\nSubject: upload ${i}\r\nMessage-ID: <courier-upload-${i}@example.org>\r\n` +
      `Date: Mon, 1 Jun 2020 10:00:00 +0000\r\n\r\n${'body line\r\n'.repeat(20 + (i % 40) * 10)}`,
    'latin1',
  );
}

function loginOf(user: MailUser, port: number): ImapLogin {
  return {
    host: '127.0.0.1',
    port,
    tls: 'starttls',
    allowPlaintext: true,
    user: user.login,
    password: user.password,
    tlsOptions: {},
    timeoutMs: 30_000,
  };
}

describeServers('uploads into Courier-IMAP', { each: ['courier'] }, ({ server }) => {
  it(`moves ${COUNT} messages within 3 × a minimal one-at-a-time client, over one connection`, async () => {
    const courier = await server();
    const floorUser = await courier.addUser('upload-floor');
    const user = await courier.addUser('upload-pool');
    const messages = Array.from({ length: COUNT }, (_, i) => message(i));

    const floor = await syncAppendFloor({
      host: courier.imap!.host,
      port: courier.imap!.port,
      user: floorUser.login,
      password: floorUser.password,
      mailbox: 'INBOX.Floor',
      messages,
    });

    const login = loginOf(user, courier.imap!.port);
    const pool = new UploadPool({ open: () => ImapAppendChannel.open(login), limit: undefined, multiAppend: true });
    try {
      await pool.opened();
      const started = performance.now();
      const outcomes = await pool.append(
        'INBOX',
        messages.map((content) => ({ content, flags: [], date: undefined })),
        true,
      );
      const seconds = (performance.now() - started) / 1000;
      await pool.settled();
      console.log(`Courier-IMAP, ${COUNT} APPENDs: minimal client ${floor.seconds.toFixed(2)} s, upload pool ${seconds.toFixed(2)} s`);
      expect(outcomes.filter((o) => !o.ok)).toEqual([]);
      // Courier takes one APPEND into a folder at a time: more connections only queue on its lock.
      expect(pool.size).toBe(1);
      // Before: 2.4 s against 0.2 s (eight connections queueing on the folder lock, and a delayed ACK per message).
      expect(seconds).toBeLessThan(3 * floor.seconds + 1);
    } finally {
      await pool.close();
    }
  });

  it('uses 4 connections over a link with longer round trips, and every message arrives byte for byte', async () => {
    const courier: MailServer = await server();
    const user = await courier.addUser('upload-far');
    const messages = Array.from({ length: 40 }, (_, i) => message(1000 + i));
    // 10 ms each way: round trips, not the server's lock, set the pace of one connection.
    const proxy = await FaultProxy.start({ targetPort: courier.imap!.port, delayMs: 10 });
    const pool = new UploadPool({ open: () => ImapAppendChannel.open(loginOf(user, proxy.port)), limit: undefined, multiAppend: true });
    try {
      const outcomes = await pool.append(
        'INBOX',
        messages.map((content) => ({ content, flags: [], date: undefined })),
        true,
      );
      await pool.settled();
      expect(outcomes.filter((o) => !o.ok)).toEqual([]);
      // Before: one connection whatever the link.
      expect(pool.size).toBe(4);
      const stored = (await readFolderOf(courier, user, 'INBOX')) ?? [];
      const sorted = (list: Buffer[]) => list.map((b) => b.toString('latin1')).sort();
      expect(sorted(stored)).toEqual(sorted(messages));
    } finally {
      await pool.close();
      await proxy.stop();
    }
  });
});
