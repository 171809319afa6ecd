import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

function message(i: number, bodyBytes: number): Buffer {
  return Buffer.concat([
    Buffer.from(`From: a@example.org\r\nSubject: q${i}\r\nMessage-ID: <q${i}@example.org>\r\nDate: Mon, 1 Jun 2020 10:00:00 +0000\r\n\r\n`),
    Buffer.alloc(bodyBytes, 'x'),
    Buffer.from('\r\n'),
  ]);
}

/** The destination refuses some messages: each is reported, the rest go on, and over quota stops the mailbox. */
describeIntegration('destination limits: message size and quota', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;

  beforeAll(async () => {
    dovecot = await startDovecot({
      extraConfig: `
mail_plugins = $mail_plugins quota
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=600K
  quota_max_mail_size = 100K
}`,
    });
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  const run = (...extra: string[]) =>
    runCli(
      [
        'migrate',
        `pop3s://alice@127.0.0.1:${dovecot.ports.pop3s}`,
        `imaps://bob@127.0.0.1:${dovecot.ports.imaps}`,
        '--ca-file',
        dovecot.certPath,
        '--folder',
        'Q',
        '--json',
        '--batch-messages',
        '5',
        ...extra,
      ],
      { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password },
    );

  it('a message over the size limit fails alone; the others land; exit 1', async () => {
    for (let i = 1; i <= 6; i++) dovecot.deliver(alice, message(i, i === 3 ? 150_000 : 10_000));
    const r = await run();
    expect(r.code, r.stderr).toBe(1);
    const s = JSON.parse(r.stdout) as MigrationSummary;
    expect(s).toMatchObject({ found: 6, appended: 5, failed: 1 });
    expect(s.failures).toHaveLength(1);
    expect(s.failures[0]!.side).toBe('IMAP');
    // Dovecot refuses it with [LIMIT]; a server advertising APPENDLIMIT is refused before sending.
    expect(s.failures[0]!.reason).toMatch(/APPENDLIMIT|\[LIMIT\]/);
    expect(await readImapFolder(dovecot, bob, 'Q')).toHaveLength(5);
  });

  it('--max-errors stops the mailbox after that many failed messages', async () => {
    const r = await run('--max-errors', '1');
    expect(r.code).toBe(1);
    const s = JSON.parse(r.stdout) as MigrationSummary;
    expect(s.failed).toBeGreaterThanOrEqual(1);
    expect(s.stopped).toMatchObject({ code: 'MAX_ERRORS', message: expect.stringMatching(/--max-errors/) });
  });

  it('over quota stops the mailbox with a clear reason and exit 1', async () => {
    for (let i = 10; i < 80; i++) dovecot.deliver(alice, message(i, 20_000));
    const r = await run();
    expect(r.code).toBe(1);
    const s = JSON.parse(r.stdout) as MigrationSummary;
    expect(s.stopped).toMatchObject({ code: 'OVER_QUOTA', message: expect.stringMatching(/over quota/) });
    // Uploads already in flight when the first refusal came back are refused the same way; nothing else fails.
    expect(s.failures.length).toBeGreaterThan(0);
    expect(s.failures.filter((f) => !/OVERQUOTA/.test(f.reason) && !/APPENDLIMIT|\[LIMIT\]/.test(f.reason)).map((f) => f.reason)).toEqual(
      [],
    );
    expect(s.appended).toBeGreaterThan(0);
    const landed = (await readImapFolder(dovecot, bob, 'Q')).length;
    expect(landed).toBe(5 + s.appended);
  });
});
