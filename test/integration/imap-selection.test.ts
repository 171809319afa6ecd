/**
 * The IMAP control connection is shared: the engine may ask a STATUS (the
 * confirmation, the watch for another writer) while copies are being
 * fetched. A STATUS leaves the selected folder first, so it must wait for a
 * FETCH that reads under that selection, or the FETCH's next command finds
 * no mailbox selected. Against the real Dovecot.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ImapTarget } from '../../src/imap/imap-target.js';
import type { FolderInfo } from '../../src/store/mail-store.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { describeIntegration } from '../helpers/suite.js';

const COUNT = 6000;

describeIntegration('IMAP control connection: a STATUS while copies are fetched (Dovecot)', () => {
  let dovecot: Dovecot;
  let user: DovecotUser;
  let target: ImapTarget;
  let folder: FolderInfo;

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    user = dovecot.addUser('selection');
    for (let i = 0; i < COUNT; i++)
      dovecot.deliver(
        user,
        Buffer.from(`From: s${i}@example.org\r\nSubject: m${i}\r\nMessage-ID: <sel${i}@example.org>\r\n\r\nbody ${i}\r\n`),
      );
    target = await ImapTarget.connect({
      host: '127.0.0.1',
      port: dovecot.ports.imap,
      tls: 'starttls',
      allowPlaintext: true,
      user: user.name,
      password: user.password,
      tlsOptions: {},
      timeoutMs: 30_000,
    });
    folder = await target.openFolder(['INBOX'], false);
  }, 120_000);
  afterAll(async () => {
    await target?.close();
    await dovecot?.stop();
  });

  it('a STATUS asked during a FETCH of several commands waits for it; every copy arrives', async () => {
    // Every other UID: no runs, so the set takes several commands.
    const asked = Array.from({ length: COUNT / 2 }, (_, i) => 2 * i + 1);
    const got = new Set<number>();
    let status: Promise<unknown> | undefined;
    await target.fetchBodies(folder, asked, false, (uid) => {
      got.add(uid);
      status ??= target.status(folder);
    });
    expect(await status).toMatchObject({ messages: COUNT });
    expect(got.size).toBe(asked.length);
  });
});
