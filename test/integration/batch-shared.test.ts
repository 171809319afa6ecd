import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mailboxIdentity } from '../../src/state/mailbox-identity.js';
import { lockStem } from '../../src/state/state-dir.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder, readPop3 } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

const PASSWORD = 'shared-secret';
const PER_MAILBOX = 3;

function message(user: string, i: number): Buffer {
  return Buffer.from(
    [
      `From: ${user}@old.example`,
      'To: someone@new.example',
      `Subject: shared ${user} ${i}`,
      'Date: Mon, 02 Feb 2026 10:00:00 +0000',
      `Message-ID: <shared-${user}-${i}@old.example>`,
      '',
      `Message ${i} of ${user}.`,
      '',
    ].join('\r\n'),
  );
}

const events = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describeIntegration('batch: rows that share a POP3 mailbox run one after another', () => {
  let dovecot: Dovecot;
  let dir: string;
  let src1: DovecotUser;
  let src2: DovecotUser;
  let dst1: DovecotUser;
  let dst2: DovecotUser;
  const env = { POPLIFT_POP3_PASSWORD: PASSWORD, POPLIFT_IMAP_PASSWORD: PASSWORD };
  const pop3 = (u: DovecotUser, host = '127.0.0.1') => `pop3://${u.name}@${host}:${dovecot.ports.pop3}`;
  const imap = (u: DovecotUser) => `imap://${u.name}@127.0.0.1:${dovecot.ports.imap}`;
  const csv = (name: string, rows: string[]): string => {
    const path = join(dir, name);
    writeFileSync(path, `${['pop3_url,imap_url,folder,delete', ...rows].join('\n')}\n`);
    return path;
  };

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    dir = mkdtempSync(join(tmpdir(), 'poplift-batch-shared-'));
    [src1, src2, dst1, dst2] = ['src1', 'src2', 'dst1', 'dst2'].map((n) => dovecot.addUser(n, PASSWORD)) as [
      DovecotUser,
      DovecotUser,
      DovecotUser,
      DovecotUser,
    ];
    for (const u of [src1, src2]) for (let i = 1; i <= PER_MAILBOX; i++) dovecot.deliver(u, message(u.name, i));
  }, 60_000);
  afterAll(async () => {
    await dovecot?.stop();
  });

  it('refuses, at the row check, a delete on a row that is not the last one naming its mailbox', async () => {
    const file = csv('early-delete.csv', [`${pop3(src1)},${imap(dst1)},A,yes`, `${pop3(src1, 'localhost')},${imap(dst2)},B,no`]);
    const r = await runCli(['batch', file, '--state-dir', join(dir, 'state-refused')], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /line 2: delete is set, but line 3 reads the same POP3 mailbox after this row; only the last row naming a mailbox may delete/,
    );
    expect(r.stderr).toMatch(/nothing was started/);
    expect(await readPop3(dovecot, src1)).toHaveLength(PER_MAILBOX);
  });

  it('two rows on each of two mailboxes, --jobs 4, twenty runs: every run exits 0 with every row ok', async () => {
    // Row 2 names src1 as localhost: the same mailbox. Only the last row of each mailbox deletes.
    const file = csv('shared.csv', [
      `${pop3(src1)},${imap(dst1)},From src1,no`,
      `${pop3(src1, 'localhost')},${imap(dst2)},From src1,yes`,
      `${pop3(src2)},${imap(dst1)},From src2,no`,
      `${pop3(src2)},${imap(dst2)},From src2,yes`,
    ]);
    const state = join(dir, 'state-shared');
    for (let run = 1; run <= 20; run++) {
      const r = await runCli(['batch', file, '--jobs', '4', '--json', '--state-dir', state], env);
      const ends = events(r.stdout).filter((e) => e.event === 'end');
      expect(
        ends.map((e) => e.status),
        `run ${run}: ${r.stderr}`,
      ).toEqual(['ok', 'ok', 'ok', 'ok']);
      expect(r.code, `run ${run}`).toBe(0);
    }
    for (const d of [dst1, dst2]) {
      expect(await readImapFolder(dovecot, d, 'From src1')).toHaveLength(PER_MAILBOX);
      expect(await readImapFolder(dovecot, d, 'From src2')).toHaveLength(PER_MAILBOX);
    }
    expect(await readPop3(dovecot, src1)).toHaveLength(0);
    expect(await readPop3(dovecot, src2)).toHaveLength(0);
  }, 240_000);

  it('--shard K/N puts rows sharing a mailbox into one shard', async () => {
    const file = csv('shards.csv', [
      `${pop3(src1)},${imap(dst1)},S1,no`,
      `${pop3(src1, 'localhost')},${imap(dst2)},S2,no`,
      `${pop3(src2)},${imap(dst1)},S3,no`,
      `${pop3(dst1)},${imap(dst2)},S4,no`,
    ]);
    const lines = async (shard: string) => {
      const r = await runCli(['batch', file, '--shard', shard, '--dry-run', '--json', '--state-dir', join(dir, 'state-shards')], env);
      expect(r.code, r.stderr).toBe(0);
      return events(r.stdout)
        .filter((e) => e.event === 'start')
        .map((e) => e.line)
        .sort();
    };
    // Rows are 0-based 0..3 on lines 2..5. A group goes where its first row would: row 1 shares row 0's
    // mailbox, so it follows row 0 instead of going by its own index.
    expect(await lines('1/2')).toEqual([2, 3, 4]);
    expect(await lines('2/2')).toEqual([5]);
    expect(await lines('1/3')).toEqual([2, 3, 5]);
    expect(await lines('2/3')).toEqual([]);
    expect(await lines('3/3')).toEqual([4]);
  });

  it('the deleting row does not delete when an earlier row on its mailbox failed', async () => {
    const owner = dovecot.addUser('src3', PASSWORD);
    for (let i = 1; i <= PER_MAILBOX; i++) dovecot.deliver(owner, message(owner.name, i));
    const wrong = join(dir, 'wrong-pw');
    writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
    const file = join(dir, 'failed-first.csv');
    writeFileSync(
      file,
      [
        'pop3_url,imap_url,folder,delete,imap_password_file',
        `${pop3(owner)},${imap(dst1)},F,no,${wrong}`,
        `${pop3(owner)},${imap(dst2)},F,yes,`,
      ].join('\n'),
    );
    const r = await runCli(['batch', file, '--json', '--state-dir', join(dir, 'state-failed-first')], env);
    expect(r.code).toBe(1);
    expect(
      events(r.stdout)
        .filter((e) => e.event === 'end')
        .map((e) => [e.status, e.deleted]),
    ).toEqual([
      ['auth', 0],
      ['ok', 0],
    ]);
    expect(r.stderr).toMatch(/not deleting from POP3 this time: line 2 reading the same mailbox did not finish/);
    expect(await readPop3(dovecot, owner)).toHaveLength(PER_MAILBOX);
    expect(await readImapFolder(dovecot, dst2, 'F')).toHaveLength(PER_MAILBOX);
  });

  it('a row given twice runs twice, one after the other, without naming its own process as "another run"', async () => {
    const row = `${pop3(src2)},${imap(dst1)},Twice,no`;
    const r = await runCli(['batch', csv('twice.csv', [row, row]), '--jobs', '2', '--json', '--state-dir', join(dir, 'state-twice')], env);
    expect(
      events(r.stdout)
        .filter((e) => e.event === 'end')
        .map((e) => e.status),
      r.stderr,
    ).toEqual(['ok', 'ok']);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/Another poplift run|PID/);
  });

  it('a lock held outside the batch still ends that row `locked`', async () => {
    const state = join(dir, 'state-locked');
    const file = csv('locked.csv', [`${pop3(dst2)},${imap(dst1)},L1,no`, `${pop3(src2)},${imap(dst1)},L2,no`]);
    // Makes the state directory.
    expect((await runCli(['batch', file, '--state-dir', state], env)).code).toBe(0);
    const stem = join(state, lockStem(await mailboxIdentity({ host: 'localhost', port: dovecot.ports.pop3, user: 'dst2' }, 5000)));
    const lockJs = fileURLToPath(new URL('../../dist/state/lock.js', import.meta.url));
    const holder: ChildProcess = spawn(process.execPath, [
      '--input-type=module',
      '-e',
      `const { MailboxLock } = await import(${JSON.stringify(lockJs)}); MailboxLock.acquire(${JSON.stringify(stem)}, 'x', () => {}); console.log('held'); setTimeout(() => {}, 60000);`,
    ]);
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.once('data', () => resolve());
        holder.once('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
      });
      const r = await runCli(['batch', file, '--json', '--state-dir', state], env);
      expect(r.code).toBe(1);
      expect(
        events(r.stdout)
          .filter((e) => e.event === 'end')
          .map((e) => e.status),
      ).toEqual(['locked', 'ok']);
      expect(r.stderr).toContain(`PID ${holder.pid}`);
    } finally {
      holder.kill();
    }
  });
});
