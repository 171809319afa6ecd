/**
 * WildDuck's POP3 lists only the newest `maxMessages` messages of INBOX (250
 * by default; 50 here, for speed), and a later session never lists messages
 * older than the oldest one an earlier session listed. poplift cannot see
 * the rest: it must say so, in the summary and in --json, never exit 0 the
 * first time, and delete nothing but the copies it proved.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { imapClient } from '../helpers/mailboxes.js';
import type { MailUser } from '../helpers/mail-server.js';
import { describeIntegration } from '../helpers/suite.js';
import { startWildDuckPop3, type WildDuckPop3 } from '../helpers/wildduck-pop3.js';

const LIMIT = 50;
const TOTAL = 120;

function message(i: number): Buffer {
  return Buffer.from(
    `From: a@example.org\r\nSubject: duck ${i}\r\nMessage-ID: <duck${i}@example.org>\r\nDate: Mon, 1 Jun 2020 10:00:00 +0000\r\n\r\nbody ${i}\r\n`,
  );
}

const subjects = (raws: Buffer[]) => raws.map((r) => Number(/Subject: duck (\d+)/.exec(r.toString('latin1'))![1])).sort((a, b) => a - b);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

interface Summary {
  exitCode: number;
  found: number;
  appended: number;
  deleted: number;
  window: { limit: number; listed: number; server: string; advice: string } | null;
}

describeIntegration(`WildDuck POP3 as the source (maxMessages ${LIMIT} unless said)`, () => {
  let duck: WildDuckPop3;
  let dovecot: Dovecot;
  let dest: DovecotUser;

  beforeAll(async () => {
    [duck, dovecot] = await Promise.all([startWildDuckPop3({ maxMessages: LIMIT }), startDovecot()]);
    dest = dovecot.addUser('dest');
  });
  afterAll(async () => {
    await Promise.all([duck?.stop(), dovecot?.stop()]);
  });

  const migrate = (user: MailUser, folder: string, stateDir: string, ...extra: string[]) =>
    runCli(
      [
        'migrate',
        `pop3://${user.login}@127.0.0.1:${duck.pop3!.port}`,
        `imaps://dest@127.0.0.1:${dovecot.ports.imaps}`,
        '--ca-file',
        dovecot.certPath,
        '--folder',
        folder,
        '--state-dir',
        stateDir,
        '--timeout',
        '30',
        ...extra,
      ],
      { POPLIFT_POP3_PASSWORD: user.password, POPLIFT_IMAP_PASSWORD: dest.password },
    );

  async function folderSubjects(folder: string): Promise<number[]> {
    const client = await imapClient(dovecot, dest);
    try {
      const box = await client.mailboxOpen(folder, { readOnly: true });
      const out: Buffer[] = [];
      if (box.exists > 0) for await (const m of client.fetch('1:*', { source: true })) out.push(m.source!);
      return subjects(out);
    } finally {
      await client.logout();
    }
  }

  it('--json: the window is reported, exit 1 the first time, and --delete removes only the proven copies', async () => {
    const user = duck.addUser('json');
    duck.deliver(user, range(1, TOTAL).map(message));
    const state = mkdtempSync(join(tmpdir(), 'poplift-duck-'));

    const r = await migrate(user, 'Duck', state, '--json', '--delete');
    const summary = JSON.parse(r.stdout) as Summary;
    expect(r.code, r.stderr).toBe(1);
    expect(summary.exitCode).toBe(1);
    expect(summary.found).toBe(LIMIT);
    expect(summary.appended).toBe(LIMIT);
    expect(summary.window).toMatchObject({ server: 'WildDuck', listed: LIMIT });
    expect(summary.window!.advice).toMatch(/IMAP/);
    expect(r.stderr).toMatch(/lists at most .*older messages may be unreachable over POP3.*IMAP/);
    expect(r.stderr).not.toMatch(/every source message/i);

    // The newest LIMIT were copied and only those were deleted (WildDuck moves them to Trash).
    expect(await folderSubjects('Duck')).toEqual(range(TOTAL - LIMIT + 1, TOTAL));
    expect(summary.deleted).toBe(LIMIT);
    expect(subjects(duck.trash(user))).toEqual(range(TOTAL - LIMIT + 1, TOTAL));
    expect(subjects(duck.inbox(user))).toEqual(range(1, TOTAL - LIMIT));

    // The next run finds what the window now shows (nothing: WildDuck lists no UID below the
    // oldest it listed before), says so again, and exits 0: the first run already told.
    const again = await migrate(user, 'Duck', state, '--json', '--delete');
    const second = JSON.parse(again.stdout) as Summary;
    expect(again.code, again.stderr).toBe(0);
    expect(second.window).toMatchObject({ server: 'WildDuck' });
    expect(second.appended).toBe(0);
    expect(second.deleted).toBe(0);
    expect(subjects(duck.inbox(user))).toEqual(range(1, TOTAL - LIMIT));
  });

  it('text summary: the window and how to reach older mail, not "every message"', async () => {
    const user = duck.addUser('text');
    duck.deliver(user, range(1, 60).map(message));
    const r = await migrate(user, 'Duck text', mkdtempSync(join(tmpdir(), 'poplift-duck-')));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/found 50, appended 50/);
    expect(r.stderr).toMatch(
      /POP3 server 127\.0\.0\.1:\d+ \(WildDuck\) lists at most .* newest messages .*; older messages may be unreachable over POP3/,
    );
    expect(duck.inbox(user)).toHaveLength(60);

    // verify proves what the window shows, and says that is all it can see.
    const checked = await runCli(
      [
        'verify',
        `pop3://${user.login}@127.0.0.1:${duck.pop3!.port}`,
        `imaps://dest@127.0.0.1:${dovecot.ports.imaps}`,
        '--ca-file',
        dovecot.certPath,
        '--folder',
        'Duck text',
      ],
      { POPLIFT_POP3_PASSWORD: user.password, POPLIFT_IMAP_PASSWORD: dest.password },
    );
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stderr).toMatch(/\(WildDuck\) lists at most .*older messages may be unreachable over POP3 and were not checked/);
  });

  it('at its shipped default (250), 300 messages: 250 moved, the window reported, exit 1', async () => {
    const shipped = await startWildDuckPop3();
    try {
      const user = shipped.addUser('shipped');
      shipped.deliver(user, range(1, 300).map(message));
      const r = await runCli(
        [
          'migrate',
          `pop3://${user.login}@127.0.0.1:${shipped.pop3!.port}`,
          `imaps://dest@127.0.0.1:${dovecot.ports.imaps}`,
          '--ca-file',
          dovecot.certPath,
          '--folder',
          'Duck shipped',
          '--json',
          '--state-dir',
          mkdtempSync(join(tmpdir(), 'poplift-duck-')),
        ],
        { POPLIFT_POP3_PASSWORD: user.password, POPLIFT_IMAP_PASSWORD: dest.password },
      );
      const summary = JSON.parse(r.stdout) as Summary;
      expect(r.code, r.stderr).toBe(1);
      expect(summary).toMatchObject({ found: 250, appended: 250, window: { server: 'WildDuck', limit: 250, listed: 250 } });
      expect(await folderSubjects('Duck shipped')).toEqual(range(51, 300));
    } finally {
      await shipped.stop();
    }
  });
});
