/**
 * Uploads into GNU Mailutils 3.15 imap4d at volume. It offers neither
 * MULTIAPPEND nor UIDPLUS, so poplift uploads over several connections; with
 * four or more appending into one mbox folder at once imap4d answers some
 * APPENDs `NO [TRYCREATE]` and then nothing at all (measured with raw
 * sockets, 500 messages a connection: 1 or 2 connections store everything
 * in 6.5 s; 4 store 3 messages and stall). Skipped where imap4d is absent.
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
  let to: MailUser;

  beforeAll(async () => {
    [source, destination] = await Promise.all([startDovecotServer({ tls: false }), startMailutils()]);
    from = await source.addUser('volume');
    to = await destination.addUser('volume');
    const messages: Buffer[] = [];
    for (let i = 0; i < COUNT; i++)
      messages.push(Buffer.from(`From: s${i}@example.org\r\nSubject: m${i}\r\nMessage-ID: <vol${i}@example.org>\r\n\r\nbody ${i}\r\n`));
    await source.deliver(from, messages);
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), destination?.stop()]);
  });

  it(`${COUNT} messages with the default connections: every one stored, nothing waited out`, async () => {
    const started = Date.now();
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
      ],
      { POPLIFT_POP3_PASSWORD: from.password, POPLIFT_IMAP_PASSWORD: to.password },
    );
    const seconds = (Date.now() - started) / 1000;
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { appended: number }).appended).toBe(COUNT);
    expect(r.stderr).not.toMatch(/did not finish|Reconnecting|sent nothing/);
    expect(seconds).toBeLessThan(60);
  }, 180_000);
});
