/**
 * A copy deleted on the destination after migrate copied it: verify names it
 * MISSING, migrate says how many copies it made earlier are gone and leaves
 * them (the user may have deleted them on purpose), and --recopy-missing
 * copies them again.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { imapClient, readImapFolder } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

const PASSWORD = 'recopy-secret';

function message(i: number): Buffer {
  return Buffer.from(
    [
      `From: Sender ${i} <s${i}@old.example>`,
      'To: alice@old.example',
      `Subject: recopy ${i}`,
      'Date: Wed, 04 Feb 2026 10:00:00 +0000',
      `Message-ID: <recopy-${i}@old.example>`,
      '',
      `Body ${i}.`,
      '',
    ].join('\r\n'),
  );
}

describeIntegration('a copy deleted on the destination after migrate copied it', () => {
  let dovecot: Dovecot;
  let src: DovecotUser;
  let dst: DovecotUser;
  const env = { POPLIFT_POP3_PASSWORD: PASSWORD, POPLIFT_IMAP_PASSWORD: PASSWORD };
  const state = mkdtempSync(join(tmpdir(), 'poplift-recopy-state-'));
  const args = () => [
    `pop3://${src.name}@127.0.0.1:${dovecot.ports.pop3}`,
    `imap://${dst.name}@127.0.0.1:${dovecot.ports.imap}`,
    '--folder',
    'Old',
    '--state-dir',
    state,
  ];

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    src = dovecot.addUser('src', PASSWORD);
    dst = dovecot.addUser('dst', PASSWORD);
    for (let i = 1; i <= 5; i++) dovecot.deliver(src, message(i));
  }, 60_000);
  afterAll(async () => {
    await dovecot?.stop();
  });

  it('migrate says it is gone and leaves it; --recopy-missing copies it again and verify passes', async () => {
    const first = await runCli(['migrate', ...args(), '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ appended: 5, missingFromFolder: 0 });

    // The user deletes one copy on the destination.
    const client = await imapClient(dovecot, dst);
    try {
      await client.mailboxOpen('Old');
      const found = await client.search({ header: { 'message-id': '<recopy-3@old.example>' } }, { uid: true });
      const victim = found ? found[0] : undefined;
      expect(victim).toBeDefined();
      await client.messageDelete(String(victim), { uid: true });
    } finally {
      await client.logout();
    }
    expect(await readImapFolder(dovecot, dst, 'Old')).toHaveLength(4);
    const before = await runCli(['verify', ...args()], env);
    expect(before.code).toBe(1);

    const told = await runCli(['migrate', ...args(), '--json'], env);
    expect(told.code, told.stderr).toBe(0);
    expect(JSON.parse(told.stdout)).toMatchObject({ appended: 0, missingFromFolder: 1 });
    expect(told.stderr).toMatch(
      /1 message copied earlier by poplift is no longer in IMAP folder 'Old' \(deleted there\?\); it was not copied again: run with --recopy-missing to copy it again\./,
    );
    expect(await readImapFolder(dovecot, dst, 'Old')).toHaveLength(4);

    const again = await runCli(['migrate', ...args(), '--recopy-missing', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ appended: 1, missingFromFolder: 1 });
    expect(await readImapFolder(dovecot, dst, 'Old')).toHaveLength(5);

    const after = await runCli(['verify', ...args()], env);
    expect(after.code, after.stderr).toBe(0);
  });
});
