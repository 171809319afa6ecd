/**
 * Uploads into GNU Mailutils 3.15 imap4d at volume. It offers neither
 * MULTIAPPEND nor UIDPLUS, and concurrent APPENDs into one mbox folder go
 * badly: with four or more connections it answers some `NO [TRYCREATE]` and
 * then nothing at all; with two, now and then, it reset a connection and
 * left a stale lock. poplift uploads into such a server over one
 * connection, which stores 600 messages as fast as two. Three migrations,
 * because the failures of two connections came in about one run in five.
 * Skipped where imap4d is absent.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { skipIntegration } from '../helpers/dovecot.js';
import { startDovecotServer } from '../helpers/dovecot-server.js';
import type { MailServer, MailUser } from '../helpers/mail-server.js';
import { mailutilsMissing, startMailutils } from '../helpers/mailutils.js';

const COUNT = 600;

describe.skipIf(skipIntegration() || mailutilsMissing() !== undefined)('uploads into GNU Mailutils imap4d at volume', () => {
  let source: MailServer;
  let destination: MailServer;
  let from: MailUser;

  beforeAll(async () => {
    [source, destination] = await Promise.all([startDovecotServer({ tls: false }), startMailutils()]);
    from = await source.addUser('volume');
    const messages: Buffer[] = [];
    for (let i = 0; i < COUNT; i++)
      messages.push(Buffer.from(`From: s${i}@example.org\r\nSubject: m${i}\r\nMessage-ID: <vol${i}@example.org>\r\n\r\nbody ${i}\r\n`));
    await source.deliver(from, messages);
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), destination?.stop()]);
  });

  // Each into a mailbox of its own.
  it.each([
    ['the default connections', 'volume1', []],
    ['the default connections, a second time', 'volume2', []],
    ['the default connections, a third time', 'volume3', []],
  ])(
    `${COUNT} messages with %s: every one stored, nothing waited out`,
    async (_, name, extra) => {
      const to = await destination.addUser(name);
      const r = await runCli(
        [
          'migrate',
          `pop3://${from.login}@127.0.0.1:${source.pop3!.port}`,
          `imap://${to.login}@127.0.0.1:${destination.imap!.port}`,
          '--folder',
          'INBOX',
          '--timeout',
          '10',
          '--state-dir',
          mkdtempSync(join(tmpdir(), 'poplift-mu-volume-')),
          '--json',
          ...extra,
        ],
        { POPLIFT_POP3_PASSWORD: from.password, POPLIFT_IMAP_PASSWORD: to.password },
      );
      expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
      expect((JSON.parse(r.stdout) as { appended: number }).appended).toBe(COUNT);
      expect(r.stderr).not.toMatch(/did not finish|Reconnecting|sent nothing/);
    },
    180_000,
  );
});
