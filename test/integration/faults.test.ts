import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli } from '../helpers/cli.js';
import { makeCorpus } from '../helpers/corpus.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { FaultProxy, type FaultRule } from '../helpers/fault-proxy.js';
import { ThrottlingImapProxy } from '../helpers/throttling-imap-proxy.js';
import { readImapFolder, readPop3, sha256, type Pop3Message, foldCr } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

/**
 * Network faults in the middle of a run, injected by a proxy in front of a
 * Dovecot without TLS (so the proxy can see where it is in the protocol).
 * Each run must reconnect, go on, and end with every message once.
 */
describeIntegration('network faults: the run reconnects and finishes with nothing lost or doubled', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let source: Pop3Message[];
  let proxies: FaultProxy[] = [];
  let users = 0;

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    alice = dovecot.addUser('alice');
    for (const m of makeCorpus(150, { bigAttachmentBytes: 300_000, seed: 5 })) dovecot.deliver(alice, m.raw);
    source = await readPop3(dovecot, alice);
  });
  afterEach(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    proxies = [];
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  async function migrateVia(
    pop3Port: number,
    imapPort: number,
    user: DovecotUser,
    extra: string[] = [],
  ): Promise<{ summary: MigrationSummary; stderr: string }> {
    const r = await runCli(
      [
        'migrate',
        `pop3://alice@127.0.0.1:${pop3Port}`,
        `imap://${user.name}@127.0.0.1:${imapPort}`,
        '--folder',
        'Faults',
        '--state-dir',
        mkdtempSync(join(tmpdir(), 'poplift-faults-')),
        '--timeout',
        '3',
        '--batch-messages',
        '20',
        '--json',
        ...extra,
      ],
      { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: user.password },
    );
    expect(
      r.code,
      `${r.stderr}\n${(await import('node:fs')).readFileSync(dovecot.logPath, 'utf8').split('\n').slice(-12).join('\n')}`,
    ).toBe(0);
    return { summary: JSON.parse(r.stdout) as MigrationSummary, stderr: r.stderr };
  }

  async function migrateThrough(
    side: 'pop3' | 'imap',
    rule: FaultRule,
    extra: string[] = [],
  ): Promise<{ summary: MigrationSummary; proxy: FaultProxy; user: DovecotUser }> {
    const user = dovecot.addUser(`dest${++users}`);
    const proxy = await FaultProxy.start({ targetPort: side === 'pop3' ? dovecot.ports.pop3 : dovecot.ports.imap });
    proxies.push(proxy);
    proxy.addRule(rule);
    const pop3Port = side === 'pop3' ? proxy.port : dovecot.ports.pop3;
    const imapPort = side === 'imap' ? proxy.port : dovecot.ports.imap;
    const { summary } = await migrateVia(pop3Port, imapPort, user, extra);
    return { summary, proxy, user };
  }

  async function expectEveryMessageOnce(user: DovecotUser): Promise<void> {
    const landed = await readImapFolder(dovecot, user, 'Faults');
    // Two messages may share a key (a Message-ID is a claim): no message's bytes are there twice.
    const keys = landed.map((m) => sha256(foldCr(m.binary)));
    expect(new Set(keys).size).toBe(keys.length);
    // The exact duplicate's bytes are its twin's; the message that shares a Message-ID with another is
    // another message, and lands too.
    expect(landed).toHaveLength(source.length - 1);
    const shas = new Set([...landed.map((m) => sha256(foldCr(m.source))), ...landed.map((m) => sha256(m.binary))]);
    const missing = source.filter((m) => !shas.has(sha256(foldCr(m.source))) && !shas.has(sha256(m.source)));
    expect(missing).toEqual([]);
  }

  it('POP3 connection reset in the middle of a RETR', async () => {
    const { summary, proxy, user } = await migrateThrough('pop3', {
      direction: 'down',
      after: 'Subject: message 60\r\n',
      offset: 10,
      action: 'reset',
    });
    expect(proxy.fired).toBe(1);
    expect(summary.reconnects).toBeGreaterThanOrEqual(1);
    expect(summary.appended).toBe(source.length - 1);
    await expectEveryMessageOnce(user);
  });

  it('POP3 server stalls in the middle of a RETR (idle timeout)', async () => {
    const { summary, proxy, user } = await migrateThrough('pop3', { direction: 'down', after: 'Subject: message 90\r\n', action: 'stall' });
    expect(proxy.fired).toBe(1);
    expect(summary.reconnects).toBeGreaterThanOrEqual(1);
    await expectEveryMessageOnce(user);
  });

  it('IMAP connection closed in the middle of an APPEND literal', async () => {
    const { summary, proxy, user } = await migrateThrough('imap', {
      direction: 'up',
      after: 'Subject: message 70\r\n',
      offset: 5,
      action: 'close',
    });
    expect(proxy.fired).toBe(1);
    expect(summary.reconnects).toBeGreaterThanOrEqual(1);
    expect(summary.appended).toBe(source.length - 1);
    await expectEveryMessageOnce(user);
  });

  it('IMAP connection lost after the literal, before the tagged reply (outcome unknown)', async () => {
    const { summary, proxy, user } = await migrateThrough('imap', { direction: 'down', after: 'OK [APPENDUID', action: 'drop-and-close' });
    expect(proxy.fired).toBe(1);
    expect(summary.reconnects).toBeGreaterThanOrEqual(1);
    // The batch whose reply was lost had landed: it is found by its keys, not sent again.
    expect(summary.appended).toBe(source.length - 1);
    expect(summary.duplicates).toBe(1);
    await expectEveryMessageOnce(user);
  });

  it('with --dedupe none, a batch whose reply was lost is still looked up, not sent again', async () => {
    const { summary, proxy, user } = await migrateThrough('imap', { direction: 'down', after: 'OK [APPENDUID', action: 'drop-and-close' }, [
      '--dedupe',
      'none',
    ]);
    expect(proxy.fired).toBe(1);
    expect(summary.reconnects).toBeGreaterThanOrEqual(1);
    // Without deduplication every source message is uploaded, the corpus's two duplicates too: each exactly once.
    const left = new Map<string, number>();
    for (const m of source) left.set(sha256(foldCr(m.source)), (left.get(sha256(foldCr(m.source))) ?? 0) + 1);
    const landed = await readImapFolder(dovecot, user, 'Faults');
    expect(landed).toHaveLength(source.length);
    for (const m of landed) {
      // BODY[] cannot carry NUL, so a message with NUL is compared through BINARY[].
      const sha = [sha256(foldCr(m.source)), sha256(foldCr(m.binary))].find((x) => (left.get(x) ?? 0) > 0);
      expect(sha, 'a landed message is a source message not already matched').toBeDefined();
      left.set(sha!, left.get(sha!)! - 1);
    }
    expect(summary.appended).toBe(source.length);
  });

  it('IMAP server throttles uploads: poplift waits as asked, sends each refused batch whole again, and every message lands once', async () => {
    const user = dovecot.addUser(`dest${++users}`);
    const backoffMs = 400;
    const proxy = await ThrottlingImapProxy.start({ targetPort: dovecot.ports.imap, refuse: 3, backoffMs });
    try {
      const { summary, stderr } = await migrateVia(dovecot.ports.pop3, proxy.port, user);
      expect(summary.failed).toBe(0);
      expect(summary.appended).toBe(source.length - 1);
      expect(summary.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/throttling uploads; waiting as it asks/)]));
      expect(stderr).toMatch(/throttling/);
      expect(proxy.refused).toBe(3);
      const { appends } = proxy;
      for (const refusal of appends.filter((a) => a.refused)) {
        // The same batch, not its messages one by one, and only after the backoff the server asked for.
        const again = appends.find((a) => !a.refused && a.first === refusal.first && a.at > refusal.at);
        expect(again, 'a refused batch is sent again').toBeDefined();
        expect(again!.at - refusal.at).toBeGreaterThanOrEqual(backoffMs - 50);
      }
      // 149 messages in batches of 20: one command per batch that went through, none per message.
      expect(proxy.passed).toBe(Math.ceil((source.length - 1) / 20));
      await expectEveryMessageOnce(user);
    } finally {
      await proxy.stop();
    }
  });
});
