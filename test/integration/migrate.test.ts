import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeCorpus, type CorpusMessage } from '../helpers/corpus.js';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, testStateHome } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import {
  asServed,
  compareLanding,
  imapClient,
  readImapFolder,
  readPop3,
  sha256,
  type ImapMessage,
  type Pop3Message,
  foldCr,
} from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { loadJournal } from '../../src/state/journal.js';

describeIntegration('migrate: a hostile 1,000-message mailbox into a nested folder', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let corpus: CorpusMessage[];
  let pop3: Pop3Message[];
  let first: MigrationSummary;
  let imap: ImapMessage[];
  const byServedSha = new Map<string, CorpusMessage>();

  const args = () => [
    'migrate',
    `pop3s://alice@127.0.0.1:${dovecot.ports.pop3s}`,
    `imaps://bob@127.0.0.1:${dovecot.ports.imaps}`,
    '--folder',
    'Archive/Old ISP',
    '--ca-file',
    dovecot.certPath,
    '--json',
  ];
  const env = () => ({ POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password });

  beforeAll(async () => {
    dovecot = await startDovecot();
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    corpus = makeCorpus(1000);
    for (const m of corpus) {
      dovecot.deliver(alice, m.raw);
      byServedSha.set(sha256(asServed(m.raw)), m);
    }
    pop3 = await readPop3(dovecot, alice);
    const result = await runCli(args(), env());
    // The one message with an invalid keyword is the only thing worth a warning.
    expect(result.stderr).toMatch(
      /^poplift: warning: Keyword 'bad"word' \(from message \S+ and perhaps others\) is not a valid IMAP keyword and was dropped\.\n$/,
    );
    expect(result.code).toBe(0);
    first = JSON.parse(result.stdout) as MigrationSummary;
    imap = await readImapFolder(dovecot, bob, ['Archive', 'Old ISP']);
  }, 300_000);

  afterAll(async () => {
    await dovecot?.stop();
  });

  it('reads back every stored message from POP3 as Dovecot serves it', () => {
    expect(pop3).toHaveLength(corpus.length);
    // A message without a final line end is served with one added; everything else as stored, LF as CRLF.
    const servedWithEol = new Set(corpus.map((m) => sha256(Buffer.concat([asServed(m.raw), Buffer.from('\r\n')]))));
    const unmatched = pop3.filter((m) => !byServedSha.has(sha256(m.source)));
    expect(unmatched).toHaveLength(2);
    for (const m of unmatched) expect(servedWithEol.has(sha256(m.source))).toBe(true);
  });

  it('counts what it did', () => {
    const skipped = new Set(first.duplicateList.map((d) => d.uidl));
    expect(first.found).toBe(corpus.length);
    // Only the exact duplicate is skipped: the message that shares a Message-ID with another is another message.
    expect(first.duplicates).toBe(1);
    expect(first.appended).toBe(corpus.length - 1);
    expect(first.failed).toBe(0);
    expect(first.bytes).toBe(pop3.filter((m) => !skipped.has(m.uidl)).reduce((n, m) => n + m.source.length, 0));
  });

  it('lands every message once, byte for byte', () => {
    expect(imap).toHaveLength(corpus.length - 1);
    const skipped = new Set(first.duplicateList.map((d) => d.uidl));
    const landing = compareLanding(
      pop3.filter((m) => !skipped.has(m.uidl)),
      imap,
    );
    expect(landing.missing.map((m) => m.uidl)).toEqual([]);
    // Dovecot stores CR CR LF as CR LF on APPEND; every other message is identical to the byte.
    expect(landing.folded.map((m) => byServedSha.get(sha256(m.source))?.label ?? m.uidl).sort()).toEqual([
      'bare CR',
      'bare CR, no Message-ID',
    ]);
    expect(landing.exact).toHaveLength(corpus.length - 3);
    // The NUL message was compared through BINARY[].
    expect(landing.exact.filter((m) => m.source.includes(0))).toHaveLength(1);
  });

  it('keeps the 25 MB attachment and the 1 MB header block intact', () => {
    const big = pop3.filter((m) => m.source.length > 1_000_000).map((m) => sha256(m.source));
    expect(big).toHaveLength(2);
    const imapShas = new Set(imap.map((m) => sha256(m.source)));
    for (const sha of big) expect(imapShas.has(sha)).toBe(true);
  });

  it('sets the flags and internal date each message records', () => {
    const imapBySha = new Map(imap.flatMap((m) => [[sha256(foldCr(m.source)), m] as const, [sha256(m.binary), m] as const]));
    let checked = 0;
    for (const m of pop3) {
      const expected = byServedSha.get(sha256(m.source));
      const landed = imapBySha.get(sha256(foldCr(m.source))) ?? imapBySha.get(sha256(m.source));
      if (!expected || !landed || expected.label === 'exact duplicate (skipped)') continue;
      expect(landed.flags, expected.label).toEqual(expected.flags);
      if (expected.date !== null) expect(landed.internalDate, expected.label).toBe(expected.date);
      else expect(Math.abs(landed.internalDate - Date.now()), expected.label).toBeLessThan(600_000);
      checked++;
    }
    // Not checked: the two served with an added line end, the exact duplicate and its kept twin.
    expect(checked).toBe(corpus.length - 4);
    expect(first.serverDates).toBe(1);
  });

  it('lists each skipped duplicate with its key and whether the size differs', () => {
    // A Message-ID is a claim: the second message under it is not its first's copy, so it is not skipped.
    expect(first.duplicateList.find((d) => d.key === 'mid:shared@example.org')).toBeUndefined();
    const exact = first.duplicateList.find((d) => d.key.startsWith('fb:'));
    expect(exact).toMatchObject({ keptIn: 'this-run', sizeDiffers: false });
  });

  it('records in the journal how the run left the folder (UIDVALIDITY, UIDNEXT, messages)', async () => {
    const dir = join(testStateHome, 'poplift');
    const journals = readdirSync(dir).filter((f) => f.endsWith('.journal'));
    expect(journals).toHaveLength(1);
    const recorded = loadJournal(join(dir, journals[0]!)).folder;
    const client = await imapClient(dovecot, bob);
    try {
      const status = await client.status(['Archive', 'Old ISP'], { uidNext: true, uidValidity: true, messages: true });
      expect(status && { uidValidity: String(status.uidValidity), uidNext: status.uidNext, messages: status.messages }).toEqual(recorded);
    } finally {
      await client.logout();
    }
  });

  it('reads nothing on a second run: the journal knows every message', async () => {
    const again = await runCli(args(), env());
    expect(again.code).toBe(0);
    const second = JSON.parse(again.stdout) as MigrationSummary;
    expect(second).toMatchObject({ found: corpus.length, knownFromJournal: corpus.length, appended: 0, duplicates: 0, bytes: 0 });
    expect(await readImapFolder(dovecot, bob, ['Archive', 'Old ISP'])).toHaveLength(corpus.length - 1);
  });

  it('appends nothing when the journal is gone: the destination index decides', async () => {
    rmSync(join(testStateHome, 'poplift'), { recursive: true, force: true });
    const again = await runCli(args(), env());
    expect(again.code).toBe(0);
    const third = JSON.parse(again.stdout) as MigrationSummary;
    expect(third).toMatchObject({ appended: 0, duplicates: corpus.length, knownFromJournal: 0 });
    expect(third.duplicateList.every((d) => d.keptIn === 'destination')).toBe(true);
    expect(await readImapFolder(dovecot, bob, ['Archive', 'Old ISP'])).toHaveLength(corpus.length - 1);
  });

  it('lands the same bytes through single APPENDs (--no-multiappend)', async () => {
    const single = dovecot.addUser('carol');
    const r = await runCli(
      [
        'migrate',
        `pop3s://alice@127.0.0.1:${dovecot.ports.pop3s}`,
        `imaps://carol@127.0.0.1:${dovecot.ports.imaps}`,
        '--folder',
        'Single',
        '--ca-file',
        dovecot.certPath,
        '--no-multiappend',
        '--json',
      ],
      { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: single.password },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ appended: corpus.length - 1, duplicates: 1, failed: 0 });
    const viaSingle = await readImapFolder(dovecot, single, 'Single');
    const key = (m: ImapMessage) => sha256(m.binary.includes(0) ? m.binary : m.source);
    // Same bytes, flags and dates as the MULTIAPPEND run, message for message.
    const viaMulti = new Map(imap.map((m) => [key(m), m]));
    expect(viaSingle).toHaveLength(imap.length);
    for (const m of viaSingle) {
      const twin = viaMulti.get(key(m));
      expect(twin, 'a message differs between the two paths').toBeDefined();
      expect(m.flags).toEqual(twin!.flags);
      // The one message dated by the server's clock got each run's own time.
      if (Date.now() - m.internalDate > 600_000) expect(m.internalDate).toBe(twin!.internalDate);
    }
  });
});
