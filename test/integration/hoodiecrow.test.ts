/**
 * hoodiecrow-imap as the IMAP destination. It answers STATUS on a folder
 * that does not exist with `BAD Invalid mailbox name` (RFC 3501 has NO):
 * poplift must take that as "missing" for a folder it is about to create,
 * and let CREATE's own answer decide.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { startHoodiecrow, type Hoodiecrow } from '../helpers/hoodiecrow.js';
import type { MailUser } from '../helpers/mail-server.js';
import { describeIntegration } from '../helpers/suite.js';

function message(i: number): Buffer {
  return Buffer.from(`From: a@example.org\r\nSubject: crow ${i}\r\nMessage-ID: <crow${i}@example.org>\r\n\r\nbody ${i}\r\n`);
}

describeIntegration('hoodiecrow-imap as the IMAP destination', () => {
  let crow: Hoodiecrow;
  let dovecot: Dovecot;
  let source: DovecotUser;
  let dest: MailUser;

  beforeAll(async () => {
    [crow, dovecot] = await Promise.all([startHoodiecrow(), startDovecot()]);
    source = dovecot.addUser('source');
    dest = crow.addUser('dest');
    for (let i = 1; i <= 3; i++) dovecot.deliver(source, message(i));
  });
  afterAll(async () => {
    await Promise.all([crow?.stop(), dovecot?.stop()]);
  });

  const migrate = (folder: string, ...extra: string[]) =>
    runCli(
      [
        'migrate',
        `pop3s://source@127.0.0.1:${dovecot.ports.pop3s}`,
        `imap://dest@127.0.0.1:${crow.imap!.port}`,
        '--ca-file',
        dovecot.certPath,
        '--folder',
        folder,
        '--timeout',
        '30',
        ...extra,
      ],
      { POPLIFT_POP3_PASSWORD: source.password, POPLIFT_IMAP_PASSWORD: dest.password },
    );

  it('STATUS answered BAD for a folder to create: the folder is created and every message moved (exit 0)', async () => {
    expect(crow.folder('Moved')).toBeUndefined();
    const r = await migrate('Moved');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/found 3, appended 3, duplicates skipped 0, failed 0/);
    const stored = crow.folder('Moved') ?? [];
    expect(stored.map((raw) => /Subject: (crow \d)/.exec(raw)?.[1]).sort()).toEqual(['crow 1', 'crow 2', 'crow 3']);
  });

  it('a run without the journal finds every message in the folder that now exists', async () => {
    const r = await migrate('Moved', '--state-dir', mkdtempSync(join(tmpdir(), 'poplift-crow-state-')));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/found 3, appended 0, duplicates skipped 3, failed 0/);
    expect(crow.folder('Moved')).toHaveLength(3);
  });

  it('verify of a folder that does not exist says so (STATUS BAD, LIST empty), not a protocol failure', async () => {
    const r = await runCli(
      [
        'verify',
        `pop3s://source@127.0.0.1:${dovecot.ports.pop3s}`,
        `imap://dest@127.0.0.1:${crow.imap!.port}`,
        '--ca-file',
        dovecot.certPath,
        '--folder',
        'Never Made',
      ],
      { POPLIFT_POP3_PASSWORD: source.password, POPLIFT_IMAP_PASSWORD: dest.password },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not exist/);
    expect(r.stderr).not.toMatch(/Invalid mailbox name/);
  });
});
