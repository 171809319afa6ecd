import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { imapClient } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';
import { runUnderTty } from '../helpers/tty.js';

const PASSWORD = 'batch-secret';
const PER_MAILBOX = 12;

function message(user: string, i: number): Buffer {
  const body = `Message ${i} of ${user}.\r\n${'lorem ipsum dolor sit amet '.repeat(600)}\r\n`;
  return Buffer.from(
    [
      `From: ${user}@old.example`,
      `To: ${user}@new.example`,
      `Subject: batch ${user} ${i}`,
      `Date: Mon, 02 Feb 2026 10:${String(i).padStart(2, '0')}:00 +0000`,
      `Message-ID: <batch-${user}-${i}@old.example>`,
      '',
      body,
    ].join('\r\n'),
    'latin1',
  );
}

async function folderCount(dovecot: Dovecot, user: DovecotUser, folder: string): Promise<number> {
  const client = await imapClient(dovecot, user);
  try {
    const list = await client.list();
    if (!list.some((m) => m.path === folder)) return 0;
    const status = await client.status(folder, { messages: true });
    return status ? (status.messages ?? 0) : 0;
  } finally {
    await client.logout();
  }
}

describeIntegration('batch: six mailboxes, three at a time, one with a wrong password', () => {
  let dovecot: Dovecot;
  let dir: string;
  const users: DovecotUser[] = [];
  let csv: string;
  let first: CliResult;
  const env = () => ({ POPLIFT_POP3_PASSWORD: PASSWORD, POPLIFT_IMAP_PASSWORD: PASSWORD });
  const common = () => ['--ca-file', dovecot.certPath];

  /** A batch file for the six users into `folder`; the 4th row (line 5) has a wrong IMAP password file. */
  const writeCsv = (name: string, folder: string): string => {
    const good = join(dir, 'good-pw');
    const bad = join(dir, 'bad-pw');
    const lines = ['pop3_url,imap_url,folder,pop3_password_file,imap_password_file,mark_seen'];
    users.forEach((u, i) => {
      const pop3 = `pop3s://${u.name}@127.0.0.1:${dovecot.ports.pop3s}`;
      const imap = `imaps://${u.name}@127.0.0.1:${dovecot.ports.imaps}`;
      lines.push(`${pop3},${imap},"${folder}",${i === 1 ? good : ''},${i === 3 ? bad : ''},${i % 2 === 0 ? 'yes' : 'no'}`);
    });
    const path = join(dir, name);
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    dir = mkdtempSync(join(tmpdir(), 'poplift-batch-'));
    writeFileSync(join(dir, 'good-pw'), `${PASSWORD}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'bad-pw'), 'not-the-password\n', { mode: 0o600 });
    for (let u = 1; u <= 6; u++) {
      const user = dovecot.addUser(`user${u}`, PASSWORD);
      users.push(user);
      for (let i = 1; i <= PER_MAILBOX; i++) dovecot.deliver(user, message(user.name, i));
    }
    csv = writeCsv('mailboxes.csv', 'Old/Mail');
    first = await runCli(['batch', csv, '--jobs', '3', '--log-file', join(dir, 'batch.log'), ...common()], env());
  }, 180_000);

  afterAll(async () => {
    await dovecot?.stop();
  });

  it('migrates the other five, marks the failed one in the table and exits 1', async () => {
    expect(first.code, first.stderr).toBe(1);
    for (const [i, u] of users.entries()) {
      expect(await folderCount(dovecot, u, 'Old.Mail'), u.name).toBe(i === 3 ? 0 : PER_MAILBOX);
    }
    const table = first.stderr.slice(first.stderr.indexOf('line  mailbox'));
    const rows = table.split('\n');
    expect(rows.filter((r) => /^\s+\d+\s.*\bok$/.test(r))).toHaveLength(5);
    const failed = rows.find((r) => r.includes('user4@'));
    expect(failed).toMatch(/^\s+5\s.*user4@127\.0\.0\.1.*\s0\s+0\s+0\s+0\s+0\.0\s+[\d.]+s\s+auth failed$/);
    expect(table).toMatch(/total: 6 mailboxes, 5 ok, 1 failed\s+60\s+60\s+0\s+0\s/);
    // The failure is named as it happened, once.
    expect(first.stderr.match(/^poplift: user4@127\.0\.0\.1 -> .*IMAP.*refused/gm)).toHaveLength(1);
  });

  it('writes plain lines only when stderr is not a terminal: no ESC, no CR', () => {
    expect(first.stderr).not.toMatch(/[\x1b\r]/);
    expect(first.stderr.match(/^poplift: started /gm)).toHaveLength(6);
    expect(first.stderr.match(/^poplift: finished /gm)).toHaveLength(6);
    expect(first.stdout).toBe('');
    const log = readFileSync(join(dir, 'batch.log'), 'utf8');
    expect(log).toMatch(/^\d{4}-\d\d-\d\dT\S+ poplift: started /m);
    expect(log).toMatch(/auth failed/);
    expect(log).not.toMatch(/[\x1b\r]/);
  });

  it('runs again without duplicating anything', async () => {
    const again = await runCli(['batch', csv, '--jobs', '3', '--quiet', ...common()], env());
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^poplift: user4@127\.0\.0\.1 -> .*refused/),
      expect.stringMatching(/^poplift batch: 6 mailboxes, 5 ok, 1 failed; found 60, appended 0, duplicates 0, failed 0; 0 KB in [\d.]+ s$/),
    ]);
  });

  it('--verify checks every row, changing nothing: the five migrated are all there, the failed one is not', async () => {
    const r = await runCli(['batch', csv, '--verify', '--json', ...common()], env());
    expect(r.code).toBe(1);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const ends = events.filter((e) => e.event === 'end');
    expect(ends).toHaveLength(6);
    expect(ends.filter((e) => e.ok === true)).toHaveLength(5);
    // user4's destination login fails, so its mailbox cannot be checked.
    expect(ends.find((e) => String(e.imap).includes('user4@'))).toMatchObject({ ok: false });
    expect(events.at(-1)).toMatchObject({
      event: 'summary',
      verify: true,
      mailboxes: 6,
      allThere: 5,
      found: 5 * PER_MAILBOX,
      present: 5 * PER_MAILBOX,
      serverChanged: 0,
    });
    expect(ends.filter((e) => e.ok === true).map((e) => e.serverChanged)).toEqual([0, 0, 0, 0, 0]);
    expect(await folderCount(dovecot, users[0]!, 'Old.Mail')).toBe(PER_MAILBOX);
    // A message removed from one destination is named.
    const client = await imapClient(dovecot, users[0]!);
    await client.mailboxOpen('Old.Mail');
    await client.messageDelete('1');
    await client.logout();
    const after = await runCli(['batch', csv, '--verify', '--json', '--shard', '1/6', ...common()], env());
    expect(after.code).toBe(1);
    const problems = after.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.event === 'message-problem');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ problem: 'missing' });
  });

  it('splits the rows between --shard 1/2 and --shard 2/2, each exactly once', async () => {
    const lines = async (shard: string) => {
      const r = await runCli(['batch', csv, '--shard', shard, '--dry-run', '--json', '--jobs', '2', ...common()], env());
      return r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event: string; line: number; row: number })
        .filter((e) => e.event === 'start');
    };
    const a = await lines('1/2');
    const b = await lines('2/2');
    expect(a.map((e) => e.row).sort()).toEqual([0, 2, 4]);
    expect(b.map((e) => e.row).sort()).toEqual([1, 3, 5]);
    expect([...a, ...b].map((e) => e.line).sort()).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('--json: JSON Lines on stdout, the last one the summary with the right totals', async () => {
    // The same mailboxes from a JSON batch file, into another folder.
    const rows = users.map((u, i) => ({
      pop3_url: `pop3s://${u.name}@127.0.0.1:${dovecot.ports.pop3s}`,
      imap_url: `imaps://${u.name}@127.0.0.1:${dovecot.ports.imaps}`,
      folder: 'Via JSON',
      ...(i === 3 ? { imap_password_file: join(dir, 'bad-pw') } : {}),
      dry_run: false,
    }));
    const file = join(dir, 'mailboxes.json');
    const text = JSON.stringify(rows, null, 2);
    writeFileSync(file, text);
    const objectLines = text.split('\n').flatMap((l, i) => (l === '  {' ? [i + 1] : []));
    const r = await runCli(['batch', file, '--json', '--jobs', '3', ...common()], env());
    expect(r.code, r.stderr).toBe(1);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.filter((e) => e.event === 'start')).toHaveLength(6);
    const ends = events.filter((e) => e.event === 'end');
    expect(ends).toHaveLength(6);
    // migrate's vocabulary: status, exitCode and error {code, message, ...} as `poplift migrate --json` has them.
    expect(
      ends.filter((e) => e.ok === false).map((e) => [e.status, e.exitCode, (e.error as { code?: unknown } | undefined)?.code]),
    ).toEqual([['auth', 3, 'IMAP_AUTH']]);
    expect(ends.filter((e) => e.ok === true).every((e) => e.status === 'ok' && e.exitCode === 0 && e.error === undefined)).toBe(true);
    const last = events.at(-1)!;
    expect(last).toMatchObject({
      event: 'summary',
      mailboxes: 6,
      succeeded: 5,
      failed: 1,
      found: 60,
      appended: 60,
      duplicates: 0,
      failedMessages: 0,
      exitCode: 1,
    });
    expect(last.bytes).toBe(ends.reduce((n, e) => n + (e.bytes as number), 0));
    // JSON rows name their line: each object starts on its own line of the pretty-printed file.
    expect(
      events
        .filter((e) => e.event === 'start')
        .map((e) => e.line)
        .sort((x, y) => (x as number) - (y as number)),
    ).toEqual(objectLines);
    expect(await folderCount(dovecot, users[0]!, 'Via JSON')).toBe(PER_MAILBOX);
  });

  it('reports bad rows with their line numbers and starts nothing (exit 2)', async () => {
    const file = join(dir, 'bad.csv');
    const u = users[0]!;
    writeFileSync(
      file,
      [
        'pop3_url,imap_url,folder,delete',
        `pop3s://${u.name}@127.0.0.1:${dovecot.ports.pop3s},imaps://${u.name}@127.0.0.1:${dovecot.ports.imaps},Never,no`,
        `ftp://${u.name}@127.0.0.1,imaps://${u.name}@127.0.0.1:${dovecot.ports.imaps},Never,no`,
        `pop3s://${u.name}@127.0.0.1:${dovecot.ports.pop3s},imaps://${u.name}@127.0.0.1:${dovecot.ports.imaps},Never,perhaps`,
        '',
      ].join('\n'),
    );
    const r = await runCli(['batch', file, ...common()], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.csv line 3: .*ftp/);
    expect(r.stderr).toMatch(/bad\.csv line 4: delete must be yes\/no/);
    expect(r.stderr).not.toMatch(/line 2:/);
    expect(r.stderr).not.toMatch(/^poplift: started/m);
    expect(await folderCount(dovecot, u, 'Never')).toBe(0);
    // --skip-bad-rows runs the good one, and still says the batch was not clean.
    const skip = await runCli(['batch', file, '--skip-bad-rows', '--dry-run', ...common()], env());
    expect(skip.code).toBe(1);
    expect(skip.stderr).toMatch(/skipping .*line 3/);
    expect(skip.stderr).toMatch(/total: 1 mailbox, 1 ok, 0 failed, 2 bad rows skipped/);
  });

  it('draws bars on a terminal and prints the final table', async () => {
    const file = writeCsv('tty.csv', 'On TTY');
    const state = mkdtempSync(join(tmpdir(), 'poplift-tty-state-'));
    const r = await runUnderTty(['batch', file, '--jobs', '3', '--state-dir', state, ...common()], env());
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(/\x1b\[/);
    expect(r.output).toMatch(/\d+\/\d+ msgs/);
    expect(r.output).toMatch(/line\s+mailbox\s+found\s+appended/);
    expect(r.output).toMatch(/total: 6 mailboxes, 5 ok, 1 failed/);
    // The error was printed above the bars, not lost.
    expect(r.output).toMatch(/poplift: user4@127\.0\.0\.1 -> .*refused/);
    expect(await folderCount(dovecot, users[5]!, 'On TTY')).toBe(PER_MAILBOX);
  });

  it('migrate on a terminal: a bar, then the usual summary', async () => {
    const u = users[2]!;
    const state = mkdtempSync(join(tmpdir(), 'poplift-tty-state-'));
    const args = [
      'migrate',
      `pop3s://${u.name}@127.0.0.1:${dovecot.ports.pop3s}`,
      `imaps://${u.name}@127.0.0.1:${dovecot.ports.imaps}`,
      '--folder',
      'Migrate TTY',
      '--state-dir',
      state,
      ...common(),
    ];
    const r = await runUnderTty(args, env());
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/\x1b\[/);
    expect(r.output).toMatch(/found 12, appended 12, duplicates skipped 0, failed 0/);
    expect(r.output).not.toMatch(/\{[a-z]+\}/);
  });

  it('migrate: non-TTY plain lines, --quiet one line', async () => {
    const u = users[0]!;
    const args = [
      'migrate',
      `pop3s://${u.name}@127.0.0.1:${dovecot.ports.pop3s}`,
      `imaps://${u.name}@127.0.0.1:${dovecot.ports.imaps}`,
      '--folder',
      'Single',
      ...common(),
    ];
    const plain = await runCli(args, env());
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(
      /^poplift: started pop3s:\/\/user1@\S+ -> imaps:\/\/user1@\S+ folder "Single": 12 messages to read, 0\.2 MB$/m,
    );
    expect(plain.stderr).toMatch(/found 12, appended 12/);
    expect(plain.stderr).not.toMatch(/[\x1b\r]/);
    // A login failure stays one line: the start line waits for the listing.
    const refused = await runCli([...args, '--imap-password-file', join(dir, 'bad-pw')], env());
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/^poplift: IMAP server \S+ refused the login for user1: [^\n]*\n$/);
    // Nothing new: --quiet prints nothing at all (cron mails nothing).
    const quiet = await runCli([...args, '--quiet'], env());
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  });
});
