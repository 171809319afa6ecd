import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { compareLanding, readImapFolder, readPop3, sha256, type ImapMessage, type Pop3Message } from '../helpers/mailboxes.js';
import { buildRealMailbox, type RealMailbox } from '../helpers/real-mail.js';
import { describeIntegration } from '../helpers/suite.js';
import { firstHeader, headerBlock, parseHeaders } from '../../src/message/headers.js';
import { receivedDate } from '../../src/message/internal-date.js';
import type { MigrationSummary } from '../../src/engine/summary.js';

const MESSAGES = 2000;

describeIntegration('migrate: a mailbox written by mutt and delivered by exim', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let built: RealMailbox;
  let pop3: Pop3Message[];
  let first: MigrationSummary;
  let imap: ImapMessage[];

  const args = () => [
    'migrate',
    `pop3s://alice@127.0.0.1:${dovecot.ports.pop3s}`,
    `imaps://bob@127.0.0.1:${dovecot.ports.imaps}`,
    '--folder',
    'Old ISP/Real',
    '--ca-file',
    dovecot.certPath,
    '--json',
  ];
  const env = () => ({ POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password });
  const folder = ['Old ISP', 'Real'];

  beforeAll(async () => {
    dovecot = await startDovecot();
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    built = await buildRealMailbox(alice, { messages: MESSAGES });
    pop3 = await readPop3(dovecot, alice);
    const result = await runCli(args(), env());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    first = JSON.parse(result.stdout) as MigrationSummary;
    imap = await readImapFolder(dovecot, bob, folder);
  }, 600_000);

  afterAll(async () => {
    await dovecot?.stop();
  });

  it('has the mailbox mutt and exim wrote: thousands of messages, bounces, MB-sized attachments, 8-bit bodies', () => {
    expect(built.delivered).toBe(MESSAGES);
    expect(pop3).toHaveLength(MESSAGES);
    expect(built.bounces).toBeGreaterThan(0);
    expect(pop3.filter((m) => m.source.length > 2_000_000).length).toBe(built.big);
    expect(built.big).toBeGreaterThan(0);
    expect(pop3.filter((m) => /^Content-Transfer-Encoding: 8bit/im.test(m.source.toString('latin1'))).length).toBeGreaterThan(MESSAGES / 2);
    expect(pop3.filter((m) => m.source.some((b) => b >= 0x80)).length).toBeGreaterThan(MESSAGES / 2);
    expect(pop3.filter((m) => /^Content-Type: multipart\/report/im.test(m.source.toString('latin1')))).toHaveLength(built.bounces);
  });

  it('counts what it did', () => {
    expect(first.found).toBe(MESSAGES);
    expect(first.appended + first.duplicates).toBe(first.found);
    // Every message has its own Message-ID from mutt or exim: nothing is a duplicate.
    expect(first.duplicates).toBe(0);
    expect(first.failed).toBe(0);
    expect(first.serverDates).toBe(0);
    expect(first.bytes).toBe(pop3.reduce((n, m) => n + m.source.length, 0));
  });

  it('lands every message once, byte for byte', () => {
    expect(imap).toHaveLength(first.appended);
    const landing = compareLanding(pop3, imap);
    expect(landing.missing.map((m) => m.uidl)).toEqual([]);
    // mutt and exim write clean CRLF (served from LF) mail: every message is identical to the byte.
    expect(landing.folded).toEqual([]);
    expect(landing.exact).toHaveLength(MESSAGES);
  });

  it('sets no flags and the internal date of the topmost Received field exim wrote', () => {
    const bySha = new Map(imap.map((m) => [sha256(m.source), m]));
    const byBinarySha = new Map(imap.map((m) => [sha256(m.binary), m]));
    for (const m of pop3) {
      const landed = (m.source.includes(0) ? byBinarySha : bySha).get(sha256(m.source));
      expect(landed, m.uidl).toBeDefined();
      const fields = parseHeaders(headerBlock(m.source));
      const received = firstHeader(fields, 'received');
      expect(received, m.uidl).toMatch(/^from \S+ by mx\.poplift\.test with local \(Exim [\d.]+\)/);
      const date = receivedDate(received!);
      expect(date, m.uidl).toBeDefined();
      expect(landed!.internalDate, m.uidl).toBe(date!.getTime());
      // Nothing wrote Status, X-Status or X-Mozilla-Status: an unread message stays unflagged.
      expect(landed!.flags, m.uidl).toEqual([]);
    }
  });

  it('appends nothing on a second run', async () => {
    const again = await runCli(args(), env());
    expect(again.code).toBe(0);
    const second = JSON.parse(again.stdout) as MigrationSummary;
    expect(second).toMatchObject({ found: MESSAGES, appended: 0, bytes: 0 });
    expect(await readImapFolder(dovecot, bob, folder)).toHaveLength(first.appended);
  });
});
