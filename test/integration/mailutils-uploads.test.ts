/**
 * Uploads into GNU Mailutils 3.15 imap4d at volume. It offers neither
 * MULTIAPPEND nor UIDPLUS, and does not take APPENDs into one mbox folder
 * over several connections at once safely: with four or more it answers
 * some `NO [TRYCREATE]` and then nothing at all; with two, now and then, it
 * resets a connection, or answers OK for APPENDs that never reach the folder
 * (see upload-pool.ts, appendsUnsafelyInParallel). poplift uploads into it
 * over one connection, which stores 600 messages as fast as two. The run is
 * repeated because the failures of two connections came in about one run
 * in five. Skipped where imap4d is absent.
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

  // Each into a mailbox of its own; with --connections 4, imap4d used to stall after a few messages.
  it.each([
    ['the default connections', 'volume1', []],
    ['--connections 4', 'volume2', ['--connections', '4']],
    ['the default connections, again', 'volume3', []],
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
