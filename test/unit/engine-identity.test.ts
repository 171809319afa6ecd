/**
 * What the engine takes for "already on the destination": keys that keep
 * every byte telling messages apart, and copies found again after a server
 * changed them on storage (run without the journal, as after a lost state
 * directory).
 */
import { describe, expect, it } from 'vitest';
import { mail, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox } from '../stores/memory-source.js';

function headed(head: string[], body: string): Buffer {
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

const COMMON = ['From: backup@example.org', 'To: admin@example.org', 'Subject: nightly backup', 'Date: Mon, 2 Mar 2026 03:00:00 +0000'];

/** Pairs of distinct messages that older keys took for one. */
const COLLIDING: Array<[string, Buffer, Buffer]> = [
  ['no Message-ID, same headers and size', headed(COMMON, 'backup OK\r\n'), headed(COMMON, 'backup KO\r\n')],
  [
    '8-bit Message-IDs that differ only in their 8-bit bytes',
    headed(['Message-ID: <caf\xe9@example.org>', ...COMMON], 'one\r\n'),
    headed(['Message-ID: <caf\xe8@example.org>', ...COMMON], 'two\r\n'),
  ],
  [
    'Message-IDs that differ only in a control byte',
    headed(['Message-ID: <a\x01b@example.org>', ...COMMON], 'one\r\n'),
    headed(['Message-ID: <a\x02b@example.org>', ...COMMON], 'two\r\n'),
  ],
];

function copiesOf(account: MemoryImapServer, message: Buffer): number {
  return account.allMessages().filter((m) => m.content.equals(message)).length;
}

describe('distinct messages are never taken for one another', () => {
  it.each(COLLIDING)('%s: both are uploaded, and --delete removes both', async (_, a, b) => {
    const mailbox = new MemoryMailbox([a, b]);
    const account = new MemoryImapServer();
    const { summary } = await migrate(memoryEndpoints(mailbox, account), migrateOptions({ delete: true }));
    expect(copiesOf(account, a)).toBe(1);
    expect(copiesOf(account, b)).toBe(1);
    expect(summary.appended).toBe(2);
    expect(mailbox.messages).toHaveLength(0);
  });

  it('no Message-ID: a message whose twin is in the folder is uploaded; the twin is not taken for it', async () => {
    const [, ok, ko] = COLLIDING[0]!;
    const mailbox = new MemoryMailbox([ko]);
    const account = new MemoryImapServer();
    account.addFolder('Archive', [ok]);
    const { summary } = await migrate(memoryEndpoints(mailbox, account), migrateOptions({ delete: true }));
    expect(summary.appended).toBe(1);
    expect(copiesOf(account, ko)).toBe(1);
    expect(mailbox.messages).toHaveLength(0);
  });
});

/** What real servers do to a message they store. */
const SERVER_CHANGES: Array<[string, (content: Buffer) => Buffer]> = [
  // Courier deletes every CR not followed by LF.
  ['bare CRs deleted (Courier)', (c) => Buffer.from(c.toString('latin1').replace(/\r(?!\n)/g, ''), 'latin1')],
  // mbox stores (GNU Mailutils) add their own header fields and keep LF line ends.
  [
    'header fields added and CRLF made LF (Mailutils)',
    (c) => Buffer.from(`X-UID: 7\nStatus: O\n${c.toString('latin1').replace(/\r\n/g, '\n')}`, 'latin1'),
  ],
  // Cyrus's munge8bit: every 8-bit byte of the header section becomes X, at the same size.
  [
    '8-bit header bytes made X (Cyrus munge8bit)',
    (c) => {
      const s = c.toString('latin1');
      const end = s.indexOf('\r\n\r\n');
      return Buffer.from(s.slice(0, end).replace(/[\x80-\xff]/g, 'X') + s.slice(end), 'latin1');
    },
  ],
];

const CHANGED_MAIL = [
  headed(COMMON, 'no Message-ID, a bare CR here:\r and there\r\r\n'),
  headed(['Subject: Pr\xe9visions', 'From: a@example.org'], 'no Message-ID, 8-bit subject\r\n'),
  headed(['Message-ID: <r\xe9sum\xe9@example.org>', ...COMMON], '8-bit Message-ID\r\n'),
  mail(1),
  mail(2, { messageId: false, body: 'lines\r\nand a bare CR\rhere\r\n' }),
];

describe('copies a server changed are found again without the journal', () => {
  it.each(SERVER_CHANGES)('%s: a second run appends nothing', async (_, onStore) => {
    const mailbox = new MemoryMailbox(CHANGED_MAIL);
    const account = new MemoryImapServer({ onStore });
    const endpoints = memoryEndpoints(mailbox, account);
    const first = await migrate(endpoints, migrateOptions());
    expect(first.summary.appended).toBe(CHANGED_MAIL.length);
    const second = await migrate(endpoints, migrateOptions());
    expect(second.summary.appended).toBe(0);
    expect(account.allMessages()).toHaveLength(CHANGED_MAIL.length);
  });
});

describe('after a lost reply, only a copy with the message content is taken for its upload', () => {
  // Two messages share a Message-ID and a size ("pay 100 EUR" / "pay 900 EUR"): the copy of one is not the other's.
  const pay = (amount: string) => headed(['Message-ID: <invoice@example.org>', ...COMMON], `pay ${amount} EUR\r\n`);
  it('--dedupe none: the message whose reply was lost is sent again, not matched to its twin', async () => {
    const [p100, p900] = [pay('100'), pay('900')];
    const mailbox = new MemoryMailbox([p900]);
    const account = new MemoryImapServer({ uidPlus: false });
    account.addFolder('Archive', [p100]);
    account.faults.drops = [{ afterUploads: 0, stored: false }];
    const { summary } = await migrate(memoryEndpoints(mailbox, account), migrateOptions({ dedupe: false, retries: 3 }));
    expect(summary.appended).toBe(1);
    expect(copiesOf(account, p900)).toBe(1);
  });
});
