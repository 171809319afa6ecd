/**
 * The bridge that replaces Gmail's retired fetcher: `poplift watch` polling
 * the real Dovecot for a minute while mail arrives, alerts on the change
 * from healthy to failing and back (a password changed and restored), the
 * history `poplift status` reads after a cron run, a batch and a watch, and
 * cron's --quiet telling a persistent failure once.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startChild } from '../helpers/child-run.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';
import { MailboxLock } from '../../src/state/lock.js';
import { mailboxIdentity } from '../../src/state/mailbox-identity.js';
import { lockStem } from '../../src/state/state-dir.js';

const SECRET = 'pw-Bridge-distinctive-91';

function message(tag: string, i: number): Buffer {
  return Buffer.from(`From: a@example.org\r\nSubject: ${tag} ${i}\r\nMessage-ID: <${tag}.${i}@bridge.example>\r\n\r\nbody ${tag} ${i}\r\n`);
}

/** Resident memory (kB) and open descriptors of a process. */
function usage(pid: number): { rss: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0), fds: readdirSync(`/proc/${pid}/fd`).length };
}

function historyLines(stateDir: string): number {
  return readdirSync(stateDir)
    .filter((n) => n.startsWith('history-'))
    .reduce((sum, n) => sum + readFileSync(join(stateDir, n), 'utf8').split('\n').filter(Boolean).length, 0);
}

describeIntegration('bridge: poplift watch, alerts, history and status (Dovecot)', () => {
  let dovecot: Dovecot;
  const work = mkdtempSync(join(tmpdir(), 'poplift-bridge-'));
  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
  });
  afterAll(async () => {
    await dovecot?.stop();
  });
  const pop3 = (u: DovecotUser) => `pop3://${u.name}@127.0.0.1:${dovecot.ports.pop3}`;
  const imap = (u: DovecotUser) => `imap://${u.name}@127.0.0.1:${dovecot.ports.imap}`;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('watch --every 1s for 60 cycles: every message once, idle cycles silent, one alert and one recovery, flat memory and descriptors, SIGTERM within a second', async () => {
    const src = dovecot.addUser('wsrc', SECRET);
    const dst = dovecot.addUser('wdst', SECRET);
    const stateDir = join(work, 'watch-state');
    const notifyLog = join(work, 'notify.log');
    const notifyJson = join(work, 'notify.json');
    const notify = `printf '%s %s %s\\n' "$POPLIFT_NOTIFY_EVENT" "$POPLIFT_NOTIFY_ERROR_CODE" "$(env | grep -c PASSWORD)" >> ${notifyLog}; cat >> ${notifyJson}`;
    const watch = startChild(
      [
        'watch',
        pop3(src),
        imap(dst),
        '--folder',
        'Bridge',
        '--every',
        '1s',
        '--max-interval',
        '2s',
        '--state-dir',
        stateDir,
        '--notify-command',
        notify,
      ],
      { HOME: work, POPLIFT_POP3_PASSWORD: SECRET, POPLIFT_IMAP_PASSWORD: SECRET },
    );
    const samples: Array<{ rss: number; fds: number }> = [];
    let delivered = 0;
    let lastCycles = 0;
    let brokeAt: number | undefined;
    let fixedAt: number | undefined;
    // Mail arrives at random moments; in the middle the POP3 password changes, and changes back.
    const seed = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4];
    // A cycle takes about a second and a half on a quiet machine; a loaded one (the whole suite beside) may take three.
    for (let tick = 0; lastCycles < 60 && tick < 1000; tick++) {
      await sleep(250);
      const cycles = existsSync(stateDir) ? historyLines(stateDir) : 0;
      if (cycles > lastCycles) {
        samples.push(usage(watch.child.pid!));
        lastCycles = cycles;
      }
      if (seed[tick % seed.length]! === 9 && delivered < 40) dovecot.deliver(src, message('w', ++delivered));
      if (brokeAt === undefined && cycles >= 25) {
        brokeAt = cycles;
        dovecot.addUser('wsrc', 'changed-by-the-provider');
      }
      if (brokeAt !== undefined && fixedAt === undefined && cycles >= brokeAt + 4) {
        fixedAt = cycles;
        dovecot.addUser('wsrc', SECRET);
      }
    }
    expect(lastCycles, watch.stderr()).toBeGreaterThanOrEqual(60);

    const stopAt = Date.now();
    watch.child.kill('SIGTERM');
    expect(await watch.done).toBe(143);
    expect(Date.now() - stopAt).toBeLessThan(1000 + 500);

    // Every delivered message once in the folder (a last cycle may not have seen the latest one yet).
    const final = startChild(['migrate', pop3(src), imap(dst), '--folder', 'Bridge', '--state-dir', stateDir, '--quiet'], {
      HOME: work,
      POPLIFT_POP3_PASSWORD: SECRET,
      POPLIFT_IMAP_PASSWORD: SECRET,
    });
    expect(await final.done, final.stderr()).toBe(0);
    const folder = await readImapFolder(dovecot, dst, 'Bridge');
    const ids = folder.map((m) => /Message-ID: (\S+)/.exec(m.source.toString('latin1'))?.[1]);
    expect(new Set(ids).size).toBe(delivered);
    expect(folder).toHaveLength(delivered);

    // One alert when the login was refused, one recovery; no password in the command's environment.
    const events = readFileSync(notifyLog, 'utf8').trim().split('\n');
    expect(events).toEqual(['failing POP3_AUTH 0', 'recovered  0']);
    const payloads = readFileSync(notifyJson, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; mailbox: { folder: string } });
    expect(payloads.map((p) => p.event)).toEqual(['failing', 'recovered']);
    expect(payloads[0]!.mailbox.folder).toBe('Bridge');

    // Idle cycles print nothing: each line is a cycle that moved mail, or the one failure.
    const lines = watch.stderr().trim().split('\n').filter(Boolean);
    expect(lines.length).toBeLessThanOrEqual(delivered + 1);
    for (const line of lines) expect(line).toMatch(/appended|POP3/);
    expect(lines.filter((l) => /POP3/.test(l) && !/appended/.test(l))).toHaveLength(1);
    expect(watch.stderr() + readFileSync(notifyJson, 'utf8')).not.toContain(SECRET);

    // Memory and descriptors stay flat: the last 10 cycles against the first 10.
    const first = samples.slice(0, 10);
    const last = samples.slice(-10);
    // The fewest open at a sample: connections a cycle leaves closing (QUIT and LOGOUT are not waited for)
    // come and go with the machine's load, while a leak raises the floor by one or more every cycle.
    expect(Math.min(...last.map((s) => s.fds)), JSON.stringify(samples)).toBeLessThanOrEqual(Math.min(...first.map((s) => s.fds)) + 1);
    expect(Math.max(...last.map((s) => s.rss))).toBeLessThan(Math.max(...first.map((s) => s.rss)) * 1.5);
  }, 420_000);

  it('poplift status --json lists the mailboxes a cron run, a batch and a watch moved, with their last runs', async () => {
    const stateDir = join(work, 'status-state');
    const env = { HOME: work, POPLIFT_POP3_PASSWORD: SECRET, POPLIFT_IMAP_PASSWORD: SECRET };
    const users = ['cron', 'batch', 'watcher'].map((n) => ({
      src: dovecot.addUser(`${n}src`, SECRET),
      dst: dovecot.addUser(`${n}dst`, SECRET),
    }));
    for (const u of users) for (const i of [1, 2]) dovecot.deliver(u.src, message(u.src.name, i));
    const cron = startChild(
      ['migrate', pop3(users[0]!.src), imap(users[0]!.dst), '--folder', 'F', '--state-dir', stateDir, '--quiet'],
      env,
    );
    expect(await cron.done, cron.stderr()).toBe(0);
    const rows = join(work, 'rows.csv');
    writeFileSync(rows, `pop3_url,imap_url,folder\n${pop3(users[1]!.src)},${imap(users[1]!.dst)},F\n`);
    const batch = startChild(['batch', rows, '--state-dir', stateDir, '--quiet'], env);
    expect(await batch.done, batch.stderr()).toBe(0);
    const watch = startChild(['watch', pop3(users[2]!.src), imap(users[2]!.dst), '--folder', 'F', '--state-dir', stateDir, '--once'], env);
    expect(await watch.done, watch.stderr()).toBe(0);

    const status = startChild(['status', '--json', '--state-dir', stateDir], env);
    expect(await status.done).toBe(0);
    const report = JSON.parse(status.stdout()) as {
      schema: number;
      mailboxes: Array<{
        pop3: string;
        status: string;
        movedTotal: number;
        lastRun: { mode: string; exitCode: number };
        running: unknown;
        runs: unknown[];
      }>;
    };
    expect(report.schema).toBe(1);
    const byMode = Object.fromEntries(report.mailboxes.map((m) => [m.lastRun.mode, m]));
    expect(Object.keys(byMode).sort()).toEqual(['batch', 'migrate', 'watch']);
    for (const m of report.mailboxes) {
      expect(m.status).toBe('ok');
      expect(m.movedTotal).toBe(2);
      expect(m.runs).toHaveLength(1);
      expect(m.running).toBeNull();
    }
    const text = startChild(['status', '--state-dir', stateDir], env);
    expect(await text.done).toBe(0);
    expect(text.stdout()).toMatch(/ok; last run .* \(watch, exit 0, moved 2\)/);
  });

  it('cron under --quiet: a refused login is told once, not on every run; a run that finds another moving the mailbox prints nothing', async () => {
    const src = dovecot.addUser('qsrc', SECRET);
    const dst = dovecot.addUser('qdst', SECRET);
    const stateDir = join(work, 'quiet-state');
    const args = ['migrate', pop3(src), imap(dst), '--folder', 'Q', '--state-dir', stateDir, '--quiet'];
    const wrong = { HOME: work, POPLIFT_POP3_PASSWORD: 'wrong', POPLIFT_IMAP_PASSWORD: SECRET };
    const first = startChild(args, wrong);
    expect(await first.done).toBe(3);
    expect(first.stderr()).toMatch(/POP3/);
    const second = startChild(args, wrong);
    expect(await second.done).toBe(3);
    expect(second.stderr()).toBe('');

    const identity = await mailboxIdentity({ host: '127.0.0.1', port: dovecot.ports.pop3, user: src.name }, 5000);
    const lock = MailboxLock.acquire(join(stateDir, lockStem(identity)), 'held by the test', () => undefined);
    try {
      const locked = startChild(args, { ...wrong, POPLIFT_POP3_PASSWORD: SECRET });
      expect(await locked.done).toBe(5);
      expect(locked.stderr()).toBe('');
      const status = startChild(['status', '--json', '--state-dir', stateDir], { HOME: work });
      expect(await status.done).toBe(0);
      const [mailbox] = (JSON.parse(status.stdout()) as { mailboxes: Array<{ status: string; running: { pid: number } | null }> })
        .mailboxes;
      expect(mailbox!.status).toBe('failing');
      expect(mailbox!.running?.pid).toBe(process.pid);
    } finally {
      lock.release();
    }
  });
});
