/**
 * Two runs on one POP3 mailbox at once, each with a state directory of its
 * own (a cron job under one user or HOME, a manual run under another): the
 * lock in a state directory cannot see the other run, so runs on one
 * machine must exclude each other whatever their state directory, and no
 * message may land twice.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startChild } from '../helpers/child-run.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { imapClient } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

const PASSWORD = 'concurrent-secret';

function message(i: number): Buffer {
  const lines = Array.from({ length: 5 + (i % 40) }, (_, k) => `Line ${k} of message ${i}: ${'x'.repeat(i % 70)}`);
  return Buffer.from(
    [
      `From: Sender ${i} <sender${i}@old.example>`,
      'To: alice@old.example',
      `Subject: concurrent ${i}`,
      `Date: Tue, 03 Feb 2026 ${String(10 + (i % 10)).padStart(2, '0')}:00:00 +0000`,
      `Message-ID: <concurrent-${i}@old.example>`,
      '',
      ...lines,
      '',
    ].join('\r\n'),
  );
}

describeIntegration('two runs with different state directories at once', () => {
  let dovecot: Dovecot;
  let small: DovecotUser;
  let large: DovecotUser;
  let dst: DovecotUser;
  const env = { POPLIFT_POP3_PASSWORD: PASSWORD, POPLIFT_IMAP_PASSWORD: PASSWORD };

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    small = dovecot.addUser('small', PASSWORD);
    large = dovecot.addUser('large', PASSWORD);
    dst = dovecot.addUser('dst', PASSWORD);
    for (let i = 1; i <= 30; i++) dovecot.deliver(small, message(i));
    for (let i = 1; i <= 300; i++) dovecot.deliver(large, message(1000 + i));
  }, 60_000);
  afterAll(async () => {
    await dovecot?.stop();
  });

  /** How many Message-IDs of the folder have more than one copy, and how many copies it holds. */
  async function copies(folder: string): Promise<{ messages: number; doubled: number }> {
    const client = await imapClient(dovecot, dst);
    try {
      const box = await client.mailboxOpen(folder, { readOnly: true });
      const seen = new Map<string, number>();
      if (box.exists > 0) {
        for await (const m of client.fetch('1:*', { uid: true, envelope: true })) {
          const id = m.envelope?.messageId ?? '';
          seen.set(id, (seen.get(id) ?? 0) + 1);
        }
      }
      return { messages: box.exists, doubled: [...seen.values()].filter((n) => n > 1).length };
    } finally {
      await client.logout();
    }
  }

  /** One trial: two migrate processes started together, each with its own state directory and HOME. */
  async function trial(source: DovecotUser, folder: string): Promise<{ codes: Array<number | string>; stderr: string[] }> {
    const runs = ['a', 'b'].map((side) => {
      const home = mkdtempSync(join(tmpdir(), `poplift-concurrent-${side}-`));
      return startChild(
        [
          'migrate',
          `pop3://${source.name}@127.0.0.1:${dovecot.ports.pop3}`,
          `imap://${dst.name}@127.0.0.1:${dovecot.ports.imap}`,
          '--folder',
          folder,
          '--state-dir',
          join(home, 'state'),
          '--batch-messages',
          '5',
        ],
        { ...env, HOME: home },
      );
    });
    const codes = await Promise.all(runs.map((r) => r.done));
    return { codes, stderr: runs.map((r) => r.stderr()) };
  }

  it('20 trials of 30 messages: no message doubled; a run that finds the mailbox busy exits 5 naming the holder', async () => {
    const doubled: number[] = [];
    const outcomes: string[] = [];
    for (let t = 1; t <= 20; t++) {
      const folder = `Trial${t}`;
      const { codes, stderr } = await trial(small, folder);
      outcomes.push(codes.join('+'));
      const found = await copies(folder);
      doubled.push(found.doubled);
      expect(found.messages - found.doubled, stderr.join('\n')).toBe(30);
      for (const [i, code] of codes.entries()) {
        if (code === 5)
          expect(stderr[i]).toMatch(/^poplift: Another poplift run holds the lock for pop3:\/\/small@127\.0\.0\.1:\d+: PID \d+/m);
      }
    }
    console.log(`exit codes per trial: ${outcomes.join(', ')}; doubled per trial: ${doubled.join(', ')}`);
    expect(doubled).toEqual(Array(20).fill(0));
    for (const o of outcomes) expect(['0+5', '5+0', '0+0']).toContain(o);
  }, 300_000);

  it('one trial of 300 messages: none doubled', async () => {
    const { codes, stderr } = await trial(large, 'Large');
    expect(codes, stderr.join('\n')).toContain(0);
    for (const [i, code] of codes.entries()) expect([0, 5], stderr[i]).toContain(code);
    expect(await copies('Large')).toEqual({ messages: 300, doubled: 0 });
  }, 120_000);
});
