import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

const message = (i: number) =>
  Buffer.from(`From: a@example.org\r\nSubject: budget ${i}\r\nMessage-ID: <budget.${i}@example.org>\r\n\r\n${'x'.repeat(900)}\r\n`);

/** --max-bytes-per-run: a daily budget a cron schedule spends a run at a time. */
describeIntegration('--max-bytes-per-run', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  const stateDir = mkdtempSync(join(tmpdir(), 'poplift-budget-'));

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    for (let i = 0; i < 10; i++) dovecot.deliver(alice, message(i));
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  const run = () =>
    runCli(
      [
        'migrate',
        `pop3://alice@127.0.0.1:${dovecot.ports.pop3}`,
        `imap://bob@127.0.0.1:${dovecot.ports.imap}`,
        '--folder',
        'Budget',
        '--state-dir',
        stateDir,
        '--max-bytes-per-run',
        '4k',
        '--batch-messages',
        '1',
        '--json',
      ],
      { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password },
    );

  it('stops each run at the budget with exit 6, and the runs after it finish the mailbox with nothing doubled', async () => {
    const first = await run();
    expect(first.code, first.stderr).toBe(6);
    const summary = JSON.parse(first.stdout) as MigrationSummary & { status: string };
    expect(summary.status).toBe('later');
    expect(summary.appended).toBeLessThanOrEqual(5);
    expect(summary.appended).toBeGreaterThan(0);
    expect(summary.failed).toBe(0);
    let codes = [first.code];
    for (let i = 0; i < 5 && codes.at(-1) !== 0; i++) codes = [...codes, (await run()).code];
    expect(codes.at(-1)).toBe(0);
    const landed = await readImapFolder(dovecot, bob, 'Budget');
    expect(landed.map((m) => m.source.toString('latin1')).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => message(i).toString('latin1')).sort(),
    );
  });
});
