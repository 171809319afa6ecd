import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild } from '../helpers/child-run.js';
import { runCli } from '../helpers/cli.js';
import { makeCorpus } from '../helpers/corpus.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { describeIntegration } from '../helpers/suite.js';

function message(i: number, bodyBytes: number): Buffer {
  return Buffer.concat([
    Buffer.from(`From: a@example.org\r\nSubject: m${i}\r\nMessage-ID: <m${i}@example.org>\r\nDate: Mon, 1 Jun 2020 10:00:00 +0000\r\n\r\n`),
    Buffer.alloc(bodyBytes, 'x'),
    Buffer.from('\r\n'),
  ]);
}

/** What a person, cron and a script see at the end of a run: once, quiet when all is well, one JSON object always. */
describeIntegration('what a run prints: the summary once, --quiet/--silent for cron, --json on every exit path', () => {
  let dovecot: Dovecot;
  let users: Record<'small' | 'quiet' | 'json' | 'big' | 'slow' | 'target', DovecotUser>;
  let slowPop3: FaultProxy;
  const stateDir = mkdtempSync(join(tmpdir(), 'poplift-output-state-'));

  beforeAll(async () => {
    // Messages over 100 KB are refused by the destination: a run with failed messages (exit 1) on demand.
    dovecot = await startDovecot({
      extraConfig: `
mail_plugins = $mail_plugins quota
plugin {
  quota = maildir:User quota
  quota_max_mail_size = 100K
}`,
    });
    users = {
      small: dovecot.addUser('small'),
      quiet: dovecot.addUser('quiet'),
      json: dovecot.addUser('json'),
      big: dovecot.addUser('big'),
      slow: dovecot.addUser('slow'),
      target: dovecot.addUser('target'),
    };
    // One small message: 39 KB, which "0.0 MB" used to hide.
    dovecot.deliver(users.small, message(1, 39_000));
    for (let i = 1; i <= 3; i++) dovecot.deliver(users.quiet, message(i, 2_000));
    for (let i = 1; i <= 3; i++) dovecot.deliver(users.json, message(i, 2_000));
    for (let i = 1; i <= 3; i++) dovecot.deliver(users.big, message(i, i === 2 ? 150_000 : 2_000));
    for (const m of makeCorpus(150, { bigAttachmentBytes: 60_000, seed: 5 })) dovecot.deliver(users.slow, m.raw);
    slowPop3 = await FaultProxy.start({ targetPort: dovecot.ports.pop3s, delayMs: 15, bandwidthBytesPerSec: 400_000 });
  });
  afterAll(async () => {
    await slowPop3?.stop();
    await dovecot?.stop();
  });

  const args = (user: keyof typeof users, folder: string, pop3Port = dovecot.ports.pop3s) => [
    'migrate',
    `pop3s://${user}@127.0.0.1:${pop3Port}`,
    `imaps://target@127.0.0.1:${dovecot.ports.imaps}`,
    '--folder',
    folder,
    '--ca-file',
    dovecot.certPath,
    '--state-dir',
    stateDir,
  ];
  const env = (user: keyof typeof users) => ({ POPLIFT_POP3_PASSWORD: users[user].password, POPLIFT_IMAP_PASSWORD: users.target.password });

  it('without a terminal the summary is printed once, in the right number, small sizes in KB', async () => {
    const r = await runCli(args('small', 'Small'), env('small'));
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^poplift: started pop3s:\/\/small@\S+ -> imaps:\/\/target@\S+ folder "Small": 1 message to read, 39 KB$/);
    // The result once: the summary, not also a "finished" line saying the same.
    expect(r.stderr.match(/found 1, appended 1/g)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/poplift: finished/);
    expect(r.stderr).toMatch(/found 1, appended 1, duplicates skipped 0, failed 0; 39 KB in [\d.]+ s\n$/);
    expect(r.stderr).not.toMatch(/\(s\)|0\.0 MB/);
  });

  describe('--quiet and --silent (cron)', () => {
    it('--quiet: one line when mail moved, nothing at all when nothing was new', async () => {
      const first = await runCli([...args('quiet', 'Quiet'), '--quiet'], env('quiet'));
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toBe('');
      expect(first.stderr).toMatch(
        /^pop3s:\/\/quiet@\S+ -> imaps:\/\/target@\S+ folder "Quiet": ok; found 3, appended 3, duplicates 0, failed 0; \d+ KB in [\d.]+ s\n$/,
      );
      const again = await runCli([...args('quiet', 'Quiet'), '--quiet'], env('quiet'));
      expect(again.code).toBe(0);
      expect(again.stderr).toBe('');
      expect(again.stdout).toBe('');
    });

    it('--silent: nothing even when mail moved; a failure always prints', async () => {
      const moved = await runCli([...args('quiet', 'Silent'), '--silent'], env('quiet'));
      expect(moved.code, moved.stderr).toBe(0);
      expect(moved.stderr).toBe('');
      const refused = await runCli([...args('quiet', 'Silent'), '--silent'], { ...env('quiet'), POPLIFT_IMAP_PASSWORD: 'wrong' });
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(/^poplift: IMAP server \S+ refused the login for target: [^\n]*\n$/);
      const failed = await runCli([...args('big', 'SilentBig'), '--silent'], env('big'));
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(
        /^pop3s:\/\/big@\S+ -> imaps:\/\/target@\S+ folder "SilentBig": incomplete; found 3, appended 2, duplicates 0, failed 1; /,
      );
    });
  });

  describe('--json: exactly one final object on stdout, whatever the outcome', () => {
    const one = (stdout: string): Record<string, unknown> => {
      const lines = stdout.trimEnd().split('\n');
      expect(lines, stdout).toHaveLength(1);
      return JSON.parse(lines[0]!) as Record<string, unknown>;
    };

    it('ok (0), with rounded seconds', async () => {
      const r = await runCli([...args('json', 'Json'), '--json'], env('json'));
      expect(r.code, r.stderr).toBe(0);
      const o = one(r.stdout);
      expect(o).toMatchObject({ schema: 2, command: 'migrate', status: 'ok', exitCode: 0, found: 3, appended: 3, stopped: null });
      expect(String(o.seconds)).toMatch(/^\d+(\.\d{1,3})?$/);
    });

    it('partial (1): some messages failed', async () => {
      const r = await runCli([...args('big', 'JsonBig'), '--json'], env('big'));
      expect(r.code).toBe(1);
      expect(one(r.stdout)).toMatchObject({ schema: 2, status: 'partial', exitCode: 1, failed: 1, stopped: null });
    });

    it('stopped (1): --max-errors stopped the mailbox, with a code besides the sentence', async () => {
      const r = await runCli([...args('big', 'JsonMax'), '--json', '--max-errors', '1', '--batch-messages', '1'], env('big'));
      expect(r.code).toBe(1);
      const o = one(r.stdout);
      expect(o).toMatchObject({ status: 'stopped', exitCode: 1, stopped: { code: 'MAX_ERRORS' } });
      expect((o.stopped as { message: string }).message).toMatch(/--max-errors/);
    });

    it('usage (2): a bad option value, an unknown option, and a config problem found before connecting', async () => {
      const bad = await runCli([...args('json', 'Json'), '--json', '--timeout', 'soon'], env('json'));
      expect(bad.code).toBe(2);
      expect(one(bad.stdout)).toMatchObject({ schema: 2, command: 'migrate', status: 'usage', exitCode: 2, error: { code: 'USAGE' } });
      const unknown = await runCli([...args('json', 'Json'), '--json', '--no-such-option'], env('json'));
      expect(unknown.code).toBe(2);
      expect(one(unknown.stdout)).toMatchObject({ status: 'usage', exitCode: 2, error: { code: 'USAGE' } });
      const noPassword = await runCli([...args('json', 'Json'), '--json']);
      expect(noPassword.code).toBe(2);
      expect((one(noPassword.stdout).error as { message: string }).message).toMatch(/No POP3 password/);
    });

    it('auth (3) and connect (4), naming the side', async () => {
      const auth = await runCli([...args('json', 'Json'), '--json'], { ...env('json'), POPLIFT_POP3_PASSWORD: 'wrong' });
      expect(auth.code).toBe(3);
      const imapAuth = await runCli([...args('json', 'Json'), '--json'], { ...env('json'), POPLIFT_IMAP_PASSWORD: 'wrong' });
      expect(one(imapAuth.stdout)).toMatchObject({ status: 'auth', exitCode: 3, error: { code: 'IMAP_AUTH', side: 'IMAP' } });
      expect(one(auth.stdout)).toMatchObject({ status: 'auth', exitCode: 3, error: { code: 'POP3_AUTH', side: 'POP3' } });
      const closed = await runCli(
        [
          'migrate',
          'pop3s://json@127.0.0.1:9',
          `imaps://target@127.0.0.1:${dovecot.ports.imaps}`,
          '--json',
          '--ca-file',
          dovecot.certPath,
          '--state-dir',
          stateDir,
        ],
        env('json'),
      );
      expect(closed.code).toBe(4);
      expect(one(closed.stdout)).toMatchObject({ status: 'connect', exitCode: 4, error: { code: 'POP3_CONNECT', side: 'POP3' } });
    });

    it('locked (5) while another run is busy, then stopped (130) by SIGINT', async () => {
      const busy = startChild([...args('slow', 'Busy', slowPop3.port), '--json', '--debug', '--batch-messages', '5'], env('slow'));
      await busy.waitFor(/IMAP S: \S+ OK \[APPENDUID/);
      // The same server and port: the lock is per source mailbox.
      const second = await runCli([...args('slow', 'Busy', slowPop3.port), '--json'], env('slow'));
      expect(second.code).toBe(5);
      expect(one(second.stdout)).toMatchObject({ status: 'locked', exitCode: 5, error: { code: 'LOCKED' } });
      busy.child.kill('SIGINT');
      expect(await busy.done).toBe(130);
      expect(one(busy.stdout())).toMatchObject({ schema: 2, status: 'stopped', exitCode: 130, stopped: { code: 'INTERRUPTED' } });
    });

    it('verify: status and exit code in its object too; batch: the summary event carries them', async () => {
      const v = await runCli(['verify', ...args('json', 'Json').slice(1), '--json'], env('json'));
      expect(v.code, v.stderr).toBe(0);
      expect(one(v.stdout)).toMatchObject({ schema: 2, command: 'verify', status: 'ok', exitCode: 0, present: 3 });
      const missing = await runCli(
        ['verify', ...args('json', 'Json').slice(1), '--json'].map((a) => (a === 'Json' ? 'Elsewhere' : a)),
        env('json'),
      );
      expect(missing.code).toBe(1);
      expect(one(missing.stdout)).toMatchObject({ status: 'partial', exitCode: 1 });
    });
  });
});
