/**
 * UID sets against GNU Mailutils 3.15 imap4d (Debian's mailutils-imap4d).
 * imap4d answers `BAD ... Failed to parse message set` to a UID FETCH whose
 * set names a UID that is no longer in the folder (below its highest UID),
 * where RFC 9051 section 6.4.9 has a server ignore it. A folder of a few
 * thousand messages with every other one expunged gives long sets with gaps,
 * as a real folder that was cleaned up does. Skipped where imap4d is absent.
 */
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTarget } from '../../src/imap/imap-target.js';
import type { FolderInfo } from '../../src/store/mail-store.js';
import { skipIntegration } from '../helpers/dovecot.js';
import type { MailServer, MailUser } from '../helpers/mail-server.js';
import { mailutilsMissing, startMailutils } from '../helpers/mailutils.js';

const COUNT = 3000;

describe.skipIf(skipIntegration() || mailutilsMissing() !== undefined)('GNU Mailutils imap4d: UID sets with gaps', () => {
  let server: MailServer;
  let user: MailUser;
  let target: ImapTarget;
  let folder: FolderInfo;
  /** Every UID the folder ever had, and those left after every other one was expunged. */
  const all: number[] = [];
  let left: number[] = [];

  beforeAll(async () => {
    server = await startMailutils();
    user = await server.addUser('gaps');
    const messages: Buffer[] = [];
    for (let i = 0; i < COUNT; i++) {
      messages.push(Buffer.from(`From: s${i}@example.org\r\nSubject: m${i}\r\nMessage-ID: <m${i}@example.org>\r\n\r\nbody ${i}\r\n`));
    }
    await server.deliver(user, messages);
    const client = new ImapFlow({
      host: '127.0.0.1',
      port: server.imap!.port,
      secure: false,
      doSTARTTLS: false,
      auth: { user: user.login, pass: user.password },
      logger: false,
      disableAutoIdle: true,
    });
    client.on('error', () => undefined);
    await client.connect();
    await client.mailboxOpen('INBOX');
    for await (const m of client.fetch('1:*', { uid: true })) all.push(m.uid);
    all.sort((a, b) => a - b);
    const gone = all.filter((_, i) => i % 2 === 1);
    await client.messageFlagsAdd(gone.join(','), ['\\Deleted'], { uid: true });
    await client.mailboxClose();
    left = [];
    await client.mailboxOpen('INBOX', { readOnly: true });
    for await (const m of client.fetch('1:*', { uid: true })) left.push(m.uid);
    left.sort((a, b) => a - b);
    await client.logout();
    target = await ImapTarget.connect({
      host: '127.0.0.1',
      port: server.imap!.port,
      tls: 'starttls',
      allowPlaintext: true,
      user: user.login,
      password: user.password,
      tlsOptions: {},
      timeoutMs: 30_000,
    });
    folder = await target.openFolder(['INBOX'], false);
  }, 120_000);

  afterAll(async () => {
    await target?.close();
    await server?.stop();
  });

  it('the folder has gaps: every other message is gone', () => {
    expect(all).toHaveLength(COUNT);
    expect(left).toHaveLength(COUNT / 2);
  });

  it('fetchBodies of UIDs some of which are gone delivers exactly those still there', async () => {
    // Every third UID: no runs, a gone UID at every other place, several commands' worth of set.
    const asked = all.filter((_, i) => i % 3 === 0);
    const got = new Map<number, Buffer>();
    await target.fetchBodies(folder, asked, false, (uid, content) => got.set(uid, content));
    expect([...got.keys()].sort((a, b) => a - b)).toEqual(asked.filter((u) => left.includes(u)));
    for (const [uid, content] of got) expect(content.toString('latin1')).toContain(`Subject: m${all.indexOf(uid)}\r\n`);
  });

  it('fetchBodies of one UID that is gone delivers nothing and does not fail', async () => {
    const got: number[] = [];
    await target.fetchBodies(folder, [all[1]!], false, (uid) => got.push(uid));
    expect(got).toEqual([]);
  });

  it('addFlags on UIDs some of which are gone flags those still there, and no other', async () => {
    const asked = all.filter((_, i) => i % 3 === 0 && i < 600);
    await target.addFlags(folder, asked, ['\\Flagged']);
    const client = new ImapFlow({
      host: '127.0.0.1',
      port: server.imap!.port,
      secure: false,
      doSTARTTLS: false,
      auth: { user: user.login, pass: user.password },
      logger: false,
      disableAutoIdle: true,
    });
    client.on('error', () => undefined);
    await client.connect();
    await client.mailboxOpen('INBOX', { readOnly: true });
    const flagged: number[] = [];
    for await (const m of client.fetch('1:*', { uid: true, flags: true })) if (m.flags?.has('\\Flagged')) flagged.push(m.uid);
    await client.logout();
    expect(flagged.sort((a, b) => a - b)).toEqual(asked.filter((u) => left.includes(u)));
  });
});
