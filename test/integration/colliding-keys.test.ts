import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder, readPop3, sha256, foldCr, type Pop3Message } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

const headers = (extra: string) =>
  `From: robot@example.org\r\nTo: alice@example.org\r\nDate: Tue, 2 Jun 2020 10:00:00 +0000\r\nSubject: status\r\n${extra}\r\n`;

/** Pairs of different messages that an identity key may take for one message. */
const PAIRS: Array<[string, Buffer, Buffer]> = [
  [
    'one Message-ID, one size, different bodies',
    Buffer.from(`${headers('Message-ID: <constant@device>\r\n')}pay 100 EUR\r\n`),
    Buffer.from(`${headers('Message-ID: <constant@device>\r\n')}pay 900 EUR\r\n`),
  ],
  [
    '8-bit Message-IDs that differ only in their 8-bit bytes',
    Buffer.from(`${headers('Message-ID: <caf\xe9@x>\r\n')}one\r\n`, 'latin1'),
    Buffer.from(`${headers('Message-ID: <caf\xe8@x>\r\n')}two\r\n`, 'latin1'),
  ],
  [
    'no Message-ID, same fields and size',
    Buffer.from(`${headers('')}backup result: OK\r\n`),
    Buffer.from(`${headers('')}backup result: NO\r\n`),
  ],
  [
    'Message-IDs that differ only in a control byte',
    Buffer.from(`${headers('Message-ID: <a\x01b@x>\r\n')}first\r\n`, 'latin1'),
    Buffer.from(`${headers('Message-ID: <a\x02b@x>\r\n')}other\r\n`, 'latin1'),
  ],
];

describeIntegration('different messages that share a key are never deleted on the strength of each other', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let original: Pop3Message[];

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    for (const [, a, b] of PAIRS) {
      dovecot.deliver(alice, a);
      dovecot.deliver(alice, b);
    }
    original = await readPop3(dovecot, alice);
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  it('--delete removes only messages whose own bytes are in the folder', async () => {
    const r = await runCli(
      [
        'migrate',
        `pop3://alice@127.0.0.1:${dovecot.ports.pop3}`,
        `imap://bob@127.0.0.1:${dovecot.ports.imap}`,
        '--folder',
        'Pairs',
        '--state-dir',
        mkdtempSync(join(tmpdir(), 'poplift-pairs-')),
        '--delete',
        '--json',
      ],
      { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password },
    );
    const summary = JSON.parse(r.stdout) as MigrationSummary;
    const onImap = new Set((await readImapFolder(dovecot, bob, 'Pairs')).map((m) => sha256(foldCr(m.binary))));
    const onPop3 = new Set((await readPop3(dovecot, alice)).map((m) => sha256(m.source)));
    for (const m of original) {
      const subject = PAIRS.find(([, a, b]) => sha256(a) === sha256(m.source) || sha256(b) === sha256(m.source))?.[0];
      expect(
        onPop3.has(sha256(m.source)) || onImap.has(sha256(foldCr(m.source))),
        `${subject}: a message was deleted whose bytes are not on IMAP\n${r.stderr}`,
      ).toBe(true);
    }
    expect(summary.deleted).toBe(onImap.size);
  });
});
