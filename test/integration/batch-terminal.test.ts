/**
 * batch on an 80-column terminal with one wrong password: the error of the
 * failing row is shown whole (wrapped, not cut at the screen's edge while
 * the bars turn the terminal's wrapping off), every line of the final table
 * fits, and the full reason of the failed row follows the table. The screen
 * is read as the terminal test reads it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BIN } from '../helpers/child-run.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { describeIntegration } from '../helpers/suite.js';
import { screenOf, startUnderTty } from '../helpers/tty.js';

const PASSWORD = 'batch-secret';
const COLS = 80;

describeIntegration('batch on an 80-column terminal, one row with a wrong password', () => {
  let dovecot: Dovecot;
  const users: DovecotUser[] = [];
  let dir: string;

  beforeAll(async () => {
    dovecot = await startDovecot();
    dir = mkdtempSync(join(tmpdir(), 'poplift-batch-tty-'));
    writeFileSync(join(dir, 'bad-pw'), 'not-the-password\n', { mode: 0o600 });
    for (const name of ['alice', 'bob', 'carol']) {
      const user = dovecot.addUser(name, PASSWORD);
      users.push(user);
      for (let i = 1; i <= 5; i++) {
        dovecot.deliver(
          user,
          Buffer.from(
            `From: x@old.example\r\nSubject: ${name} ${i}\r\nMessage-ID: <${name}-${i}@old.example>\r\n\r\n${'text '.repeat(300)}\r\n`,
          ),
        );
      }
    }
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  /** Three rows into "Old ISP"; bob's IMAP password file is wrong. */
  const batchFile = (name: string): string => {
    const lines = ['pop3_url,imap_url,folder,imap_password_file'];
    for (const u of users) {
      const bad = u.name === 'bob' ? join(dir, 'bad-pw') : '';
      lines.push(`pop3s://${u.name}@127.0.0.1:${dovecot.ports.pop3s},imaps://${u.name}@127.0.0.1:${dovecot.ports.imaps},Old ISP,${bad}`);
    }
    writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
    return join(dir, name);
  };
  const env = { POPLIFT_POP3_PASSWORD: PASSWORD, POPLIFT_IMAP_PASSWORD: PASSWORD };

  it('the error is whole, the table fits 80 columns, and the failed row’s full reason follows it', async () => {
    // The error as a log shows it, one line, for comparison.
    const plain = await runCli(['batch', batchFile('plain.csv'), '--ca-file', dovecot.certPath, '--state-dir', join(dir, 'plain')], env);
    expect(plain.code, plain.stderr).toBe(1);
    const errorLine = plain.stderr.split('\n').find((l) => /^poplift: bob@127\.0\.0\.1 -> .*refused/.test(l))!;
    expect(errorLine.length).toBeGreaterThan(COLS);
    const reason = errorLine.slice(errorLine.indexOf(' -> '));

    const run = startUnderTty(
      [process.execPath, BIN, 'batch', batchFile('tty.csv'), '--ca-file', dovecot.certPath, '--state-dir', join(dir, 'tty')],
      env,
      COLS,
    );
    expect(await run.done, run.output()).toBe(1);
    const screen = screenOf(run.output(), COLS);
    const text = screen.join('\n');

    // The error: its first row, then its continuation rows (indented), joined, is the whole line.
    const at = screen.findIndex((r) => r.startsWith('poplift: bob@127.0.0.1 -> bob@127.0.0.1 "Old ISP": '));
    expect(at, text).toBeGreaterThanOrEqual(0);
    let shown = screen[at]!;
    for (let i = at + 1; i < screen.length && /^ {2}\S/.test(screen[i]!); i++) shown += ` ${screen[i]!.trim()}`;
    expect(shown, text).toBe(errorLine);

    // The table: every line of it, as written, is narrower than the screen; the failed row is there.
    const out = run.output().replace(/\r/g, '');
    const table = out.slice(out.lastIndexOf('line  mailbox')).split('\n');
    const end = table.findIndex((l) => /^\s+total/.test(l));
    expect(end, table.join('\n')).toBeGreaterThan(0);
    for (const line of table.slice(0, end + 1)) expect(line.length, line).toBeLessThan(COLS);
    expect(table.slice(0, end + 1).filter((l) => /^\s+\d+\s/.test(l))).toHaveLength(3);
    expect(table.find((l) => /^\s+3\s/.test(l))).toMatch(/\s0\s+0\s+0\s+0\s+0\.0\s+[\d.]+s\s+auth failed$/);
    expect(text).toMatch(/total: 3 mailboxes, 2 ok, 1 failed/);

    // After it, the full reason of the failed row: line 3, the mailbox, and the server's answer, whole.
    const after = screen.slice(screen.findIndex((r) => /mailbox did not succeed:$/.test(r)));
    expect(after[0], text).toBe('1 mailbox did not succeed:');
    const listed = [after[1]!, ...after.slice(2).filter((r) => /^ {4}\S/.test(r))].map((r) => r.trim()).join(' ');
    expect(listed).toBe(`line 3 bob@127.0.0.1${reason}`);
    for (const row of screen) expect(row.length, row).toBeLessThan(COLS);
  });
});
