import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { readImapFolder } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

/**
 * A poison message: a proxy in front of Dovecot resets every connection that
 * carries one particular message. The rest of the mailbox must move, and
 * after 3 runs that failed on it, later runs leave it alone until asked.
 */
describeIntegration('a message the connection always drops on', () => {
  let dovecot: Dovecot;
  const proxies: FaultProxy[] = [];
  let users = 0;

  const message = (i: number, body = `Body ${i}.`) =>
    Buffer.from(
      `Message-ID: <poison${i}@example.org>\r\nFrom: a@example.org\r\nTo: b@example.org\r\nSubject: message ${i}\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n${body}\r\n`,
      'latin1',
    );

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
  });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await dovecot?.stop();
  });

  function mailbox(): { source: DovecotUser; dest: DovecotUser } {
    const source = dovecot.addUser(`src${++users}`);
    const dest = dovecot.addUser(`dst${users}`);
    for (let i = 1; i <= 8; i++) dovecot.deliver(source, message(i, i === 4 ? 'POISON-MARKER in this body.' : undefined));
    return { source, dest };
  }

  async function run(
    source: DovecotUser,
    dest: DovecotUser,
    ports: { pop3: number; imap: number },
    stateDir: string,
    extra: string[] = [],
  ): Promise<{ code: number; summary: MigrationSummary; stderr: string }> {
    const r = await runCli(
      [
        'migrate',
        `pop3://${source.name}@127.0.0.1:${ports.pop3}`,
        `imap://${dest.name}@127.0.0.1:${ports.imap}`,
        '--folder',
        'Poison',
        '--state-dir',
        stateDir,
        '--timeout',
        '5',
        '--retries',
        '2',
        '--json',
        ...extra,
      ],
      { POPLIFT_POP3_PASSWORD: source.password, POPLIFT_IMAP_PASSWORD: dest.password },
    );
    return { code: r.code, summary: JSON.parse(r.stdout) as MigrationSummary, stderr: r.stderr };
  }

  it('POP3: the other messages move; after 3 failed runs it is skipped; --retry-failed tries it again', async () => {
    const { source, dest } = mailbox();
    const proxy = await FaultProxy.start({ targetPort: dovecot.ports.pop3 });
    proxies.push(proxy);
    proxy.addRule({ direction: 'down', after: 'POISON-MARKER', action: 'reset', once: false });
    const ports = { pop3: proxy.port, imap: dovecot.ports.imap };
    const stateDir = mkdtempSync(join(tmpdir(), 'poplift-poison-'));

    const first = await run(source, dest, ports, stateDir);
    expect(first.code, first.stderr).toBe(1);
    expect(first.summary).toMatchObject({ found: 8, appended: 7, failed: 1 });
    expect(first.summary.failures[0]!.reason).toMatch(/dropped the connection/);
    expect(proxy.fired).toBe(2);
    expect(await readImapFolder(dovecot, dest, 'Poison')).toHaveLength(7);

    for (let i = 2; i <= 3; i++) {
      const again = await run(source, dest, ports, stateDir);
      expect(again.code).toBe(1);
      expect(again.summary).toMatchObject({ appended: 0, failed: 1 });
      expect(proxy.fired).toBe(2 * i);
    }

    const skipped = await run(source, dest, ports, stateDir);
    expect(skipped.code).toBe(1);
    expect(proxy.fired).toBe(6);
    expect(skipped.summary).toMatchObject({ knownFromJournal: 7, appended: 0, failed: 1 });
    expect(skipped.summary.failures[0]!.reason).toMatch(/3 runs in a row.*--retry-failed/);

    const retried = await run(source, dest, ports, stateDir, ['--retry-failed']);
    expect(retried.code).toBe(1);
    expect(proxy.fired).toBe(8);
    expect(await readImapFolder(dovecot, dest, 'Poison')).toHaveLength(7);
  }, 120_000);

  it('IMAP: an APPEND that always kills the connection fails alone, and the rest moves', async () => {
    const { source, dest } = mailbox();
    const proxy = await FaultProxy.start({ targetPort: dovecot.ports.imap });
    proxies.push(proxy);
    proxy.addRule({ direction: 'up', after: 'POISON-MARKER', action: 'reset', once: false });
    const stateDir = mkdtempSync(join(tmpdir(), 'poplift-poison-'));
    const r = await run(source, dest, { pop3: dovecot.ports.pop3, imap: proxy.port }, stateDir);
    expect(r.code, r.stderr).toBe(1);
    expect(r.summary).toMatchObject({ found: 8, appended: 7, duplicates: 0, failed: 1 });
    expect(r.summary.failures[0]).toMatchObject({ side: 'IMAP' });
    expect(r.summary.failures[0]!.reason).toMatch(/dropped the connection/);
    const landed = await readImapFolder(dovecot, dest, 'Poison');
    expect(landed).toHaveLength(7);
    expect(landed.some((m) => m.binary.toString('latin1').includes('POISON-MARKER'))).toBe(false);
  }, 60_000);
});
