/**
 * Identity keys against a real Dovecot: messages that earlier keys merged
 * are stored side by side, then recognised the way a run without its
 * journal sees the folder, through the destination driver: one header FETCH
 * of KEY_HEADER_FIELDS for the whole folder (indexKey), and the bodies of
 * only the copies whose index key is a fallback key some original shares.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ImapDestination } from '../../src/imap/imap-destination.js';
import { headerBlock, parseHeaders } from '../../src/message/headers.js';
import { alternativeKeys, contentKeyOfMessage, indexKey, indexKeyOf, KEY_HEADER_FIELDS } from '../../src/message/identity-key.js';
import type { FolderInfo } from '../../src/store/mail-store.js';
import { startDovecot, type Dovecot } from '../helpers/dovecot.js';
import { describeIntegration } from '../helpers/suite.js';

const bin = (s: string): Buffer => Buffer.from(s, 'latin1');
const crlf = (lines: string[]): Buffer => bin(lines.join('\r\n'));

const payment = (amount: string, id: string | undefined): Buffer =>
  crlf([
    ...(id === undefined ? [] : [`Message-ID: <${id}>`]),
    'Date: Mon, 2 Mar 2026 08:00:00 +0000',
    'From: device@example.com',
    'To: accounts@example.com',
    'Subject: payment order',
    '',
    `pay ${amount} EUR`,
    '',
  ]);
const backup = (status: string): Buffer =>
  crlf([
    'Date: Sun, 1 Mar 2026 03:00:00 +0100',
    'From: root@host.example',
    'To: admin@example.com',
    'Subject: nightly backup',
    '',
    status,
    '',
  ]);
const withIdBytes = (id: Buffer): Buffer => Buffer.concat([bin('Message-ID: <'), id, bin('>\r\nSubject: same\r\n\r\nsame body\r\n')]);

const ORIGINALS: Record<string, Buffer> = {
  'pay 100, no Message-ID': payment('100', undefined),
  'pay 900, no Message-ID': payment('900', undefined),
  'backup OK': backup('backup OK....'),
  'backup FAILED': backup('backup FAILED'),
  'pay 100, constant Message-ID': payment('100', 'constant@device.example'),
  'pay 900, constant Message-ID': payment('900', 'constant@device.example'),
  '8-bit Message-ID, e acute': withIdBytes(bin('r\u00e9sum\u00e9@example.com')),
  '8-bit Message-ID, e grave': withIdBytes(bin('r\u00e8sum\u00e8@example.com')),
  'Message-ID with 0x01': withIdBytes(Buffer.concat([bin('id'), Buffer.from([0x01]), bin('@example.com')])),
  'Message-ID with 0x02': withIdBytes(Buffer.concat([bin('id'), Buffer.from([0x02]), bin('@example.com')])),
  'no Message-ID, CR runs before LF': bin('From: a@example.com\r\nSubject: cr runs\r\n\r\none\r\r\ntwo\r\r\r\nthree\r\n'),
  'no Message-ID, bare CRs': bin('From: a@example.com\r\nSubject: progress\r\n\r\n10%\r20%\r30%\r\n'),
  'no Message-ID, 8-bit Subject': bin('From: Ren\u00e9 <r@example.fr>\r\nSubject: \u00a37,000 invoice\r\n\r\npay \u00a37,000\r\n'),
};

describeIntegration('identity keys: a fresh run tells stored messages apart and finds each one', () => {
  let dovecot: Dovecot;
  let destination: ImapDestination;
  let folder: FolderInfo;

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    const user = dovecot.addUser('keys');
    destination = await ImapDestination.connect({
      host: dovecot.host,
      port: dovecot.ports.imap,
      tls: 'starttls',
      allowPlaintext: true,
      user: user.name,
      password: user.password,
      tlsOptions: {},
      timeoutMs: 20_000,
    });
    folder = await destination.openFolder(['Keys'], true);
    const outcomes = await destination.upload(
      folder,
      Object.values(ORIGINALS).map((content) => ({ content, flags: [], date: undefined })),
      false,
    );
    expect(outcomes.map((o) => o.outcome)).toEqual(Object.values(ORIGINALS).map(() => 'stored'));
  }, 60_000);

  afterAll(async () => {
    await destination?.close();
    await dovecot?.stop();
  });

  it('keeps one copy per original, each found by its key', async () => {
    // The whole-folder scan: header fields and sizes only.
    const index = new Map<string, number[]>();
    const sizes: number[] = [];
    folder = await destination.inspect(folder, {
      flags: false,
      scan: {
        fields: KEY_HEADER_FIELDS,
        each({ uid, size, headers }) {
          const key = indexKey(parseHeaders(headers));
          index.set(key, [...(index.get(key) ?? []), uid]);
          sizes.push(size);
        },
      },
    });
    expect([...index.values()].flat()).toHaveLength(Object.keys(ORIGINALS).length);
    // Dovecot drops one CR of each run before LF: the copy that must still be found really changed.
    const crRuns = ORIGINALS['no Message-ID, CR runs before LF']!;
    expect(sizes).not.toContain(crRuns.length);

    // Bodies only for the copies a fallback key points at.
    const wanted = new Set<number>();
    const accepted = new Map<string, string[]>();
    for (const [name, original] of Object.entries(ORIGINALS)) {
      const fields = parseHeaders(headerBlock(original));
      const keys = [contentKeyOfMessage(original), ...alternativeKeys(fields, original).map((a) => a.key)];
      accepted.set(name, keys);
      const candidates = keys.flatMap((k) => index.get(indexKeyOf(k)) ?? []);
      expect(candidates, `${name}: nothing in the folder index under its key`).not.toEqual([]);
      if (keys[0]!.startsWith('fb:')) for (const uid of candidates) wanted.add(uid);
    }
    const copyKeys = new Map<number, string>();
    await destination.fetchBodies(folder, [...wanted], destination.readsBinary, (uid, copy) =>
      copyKeys.set(uid, contentKeyOfMessage(copy)),
    );
    expect(copyKeys.size).toBe(wanted.size);

    const fallback = Object.entries(ORIGINALS).filter(([name]) => accepted.get(name)![0]!.startsWith('fb:'));
    const matched = new Map<string, number[]>();
    for (const [name] of fallback) {
      matched.set(
        name,
        [...copyKeys].filter(([, key]) => accepted.get(name)!.includes(key)).map(([uid]) => uid),
      );
    }
    // Each original without a Message-ID has exactly its own copy, no other.
    for (const [name, uids] of matched) expect(uids, name).toHaveLength(1);
    expect(new Set([...matched.values()].flat()).size).toBe(fallback.length);
  });

  it('gives distinct Message-IDs distinct keys on the destination, and one key to a shared Message-ID', async () => {
    const keys: string[] = [];
    await destination.inspect(folder, {
      flags: false,
      scan: { fields: KEY_HEADER_FIELDS, each: ({ headers }) => void keys.push(indexKey(parseHeaders(headers))) },
    });
    const mid = keys.filter((k) => k.startsWith('mid:')).sort();
    expect(mid).toEqual(
      [
        'mid:constant@device.example',
        'mid:constant@device.example',
        'mid:id%01@example.com',
        'mid:id%02@example.com',
        'mid:r%E8sum%E8@example.com',
        'mid:r%E9sum%E9@example.com',
      ].sort(),
    );
  });
});
