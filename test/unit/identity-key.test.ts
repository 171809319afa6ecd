import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { headerBlock, parseHeaders, type HeaderField } from '../../src/message/headers.js';
import {
  HEADER_REWRITES,
  KEY_HEADER_FIELDS,
  alternativeKeys,
  contentKeys,
  bodyDigest,
  contentKeyOfMessage,
  escapeKeyBytes,
  identityKey,
  indexKey,
  indexKeyOf,
  keyOfMessage,
  normalizeMessageId,
} from '../../src/message/identity-key.js';

const bin = (s: string): Buffer => Buffer.from(s, 'latin1');

/**
 * What an IMAP server returns for BODY.PEEK[HEADER.FIELDS (...)]: the raw
 * lines (with their continuation lines) of the wanted fields, in original
 * order, then an empty line. Split by bytes here, independently of
 * parseHeaders, so the test does not check the parser against itself.
 */
function headerFieldsSubset(message: Buffer, wanted: readonly string[]): Buffer {
  const text = message.toString('latin1');
  const blank = /\r?\n\r?\n/.exec(text);
  const header = blank === null ? text : text.slice(0, blank.index + 1);
  const lines = header.split(/(?<=\n)/);
  const kept: string[] = [];
  let keeping = false;
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (keeping) kept.push(line);
      continue;
    }
    const colon = line.indexOf(':');
    keeping = colon > 0 && wanted.includes(line.slice(0, colon).trim().toLowerCase());
    if (keeping) kept.push(line.endsWith('\n') ? line : `${line}\r\n`);
  }
  return bin(`${kept.join('')}\r\n`);
}

const sha256 = (s: string): string => createHash('sha256').update(bin(s)).digest('hex');
const sha128 = (s: string): string => sha256(s).slice(0, 32);

describe('KEY_HEADER_FIELDS', () => {
  it('lists the fields the IMAP side fetches', () => {
    expect(KEY_HEADER_FIELDS).toEqual(['message-id', 'date', 'from', 'to', 'cc', 'subject']);
  });
});

describe('normalizeMessageId', () => {
  it.each<[string, string | undefined]>([
    ['<abc@example.com>', 'abc@example.com'],
    ['  <abc@example.com>  ', 'abc@example.com'],
    ['\t<abc@example.com>', 'abc@example.com'],
    ['<ABC.Def@Example.COM>', 'ABC.Def@Example.COM'],
    ['< abc@example.com >', 'abc@example.com'],
    ['(comment) <abc@example.com>', 'abc@example.com'],
    ['<abc@example.com> (comment)', 'abc@example.com'],
    ['(nested (comment) <fake@x>) <real@x>', 'real@x'],
    ['(escaped \\) paren <fake@x>) <real@x>', 'real@x'],
    ['<a(b)c@x>', 'a(b)c@x'],
    ['<first@x> <second@x>', 'first@x'],
    ['junk <abc@example.com> junk', 'abc@example.com'],
    ['<"quoted local"@example.com>', '"quoted local"@example.com'],
    ['<caf\u00e9@example.com>', 'caf\u00e9@example.com'],
    ['<abc@\r\n example.com>', 'abc@ example.com'],
    ['\r\n <abc@example.com>', 'abc@example.com'],
    ['abc@example.com', 'abc@example.com'],
    ['  abc@example.com (comment)', 'abc@example.com'],
    ['12345.ABC', '12345.ABC'],
    ['', undefined],
    ['   ', undefined],
    ['<>', undefined],
    ['< \t >', undefined],
    ['(only a comment)', undefined],
    ['(unterminated comment <a@b>', undefined],
    ['<abc@example.com', undefined],
    ['two words', undefined],
    ['abc@example.com>', undefined],
  ])('%j → %j', (raw, expected) => {
    expect(normalizeMessageId(raw)).toBe(expected);
  });
});

describe('identityKey', () => {
  const base: HeaderField[] = [
    { name: 'date', value: 'Tue, 1 Jul 2003 10:52:37 +0200' },
    { name: 'from', value: 'Ren\u00e9 <r@example.fr>' },
    { name: 'to', value: 'b@example.com' },
    { name: 'subject', value: 'Hello' },
  ];

  it('uses the normalised Message-ID when there is one, whatever the size', () => {
    const fields = [{ name: 'message-id', value: '<id-1@example.com> (x)' }, ...base];
    expect(identityKey(fields, 1234)).toBe('mid:id-1@example.com');
    expect(identityKey(fields, 99)).toBe('mid:id-1@example.com');
  });

  it('falls back, given a size, to a digest of Date, From, To, Cc, Subject and the size', () => {
    const headers = sha128(['Tue, 1 Jul 2003 10:52:37 +0200', 'Ren\u00e9 <r@example.fr>', 'b@example.com', '', 'Hello'].join('\n'));
    expect(identityKey(base, 1234)).toBe(`fb:${headers}/1234`);
  });

  it('keeps every byte of the Message-ID, percent-escaping what is not printable ASCII', () => {
    expect(identityKey([{ name: 'message-id', value: '<caf\u00e9@x>' }], 1)).toBe('mid:caf%E9@x');
    expect(identityKey([{ name: 'message-id', value: '<caf?@x>' }], 1)).toBe('mid:caf?@x');
    expect(identityKey([{ name: 'message-id', value: '<a\u0000\u0001b@x>' }], 1)).toBe('mid:a%80%01b@x');
    expect(identityKey([{ name: 'message-id', value: '<"a b"@x>' }], 1)).toBe('mid:"a%20b"@x');
    expect(identityKey([{ name: 'message-id', value: '<100%@x>' }], 1)).toBe('mid:100%25@x');
  });

  it('falls back when the Message-ID is garbage', () => {
    const withGarbage = [{ name: 'message-id', value: '<>' }, ...base];
    expect(identityKey(withGarbage, 1234)).toBe(identityKey(base, 1234));
  });

  it('uses the first Message-ID when there are two', () => {
    const fields = [{ name: 'message-id', value: '<one@x>' }, ...base, { name: 'message-id', value: '<two@x>' }];
    expect(identityKey(fields, 1)).toBe('mid:one@x');
  });

  it('uses only the first Message-ID, even when it is garbage and a later one is not', () => {
    const fields = [{ name: 'message-id', value: 'not an id' }, ...base, { name: 'message-id', value: '<two@x>' }];
    expect(identityKey(fields, 1234)).toBe(identityKey(base, 1234));
  });

  it('differs when the size differs (the form without the body)', () => {
    expect(identityKey(base, 1234)).not.toBe(identityKey(base, 1235));
  });

  it('differs when a field moves to another field', () => {
    const moved: HeaderField[] = [
      { name: 'date', value: 'Tue, 1 Jul 2003 10:52:37 +0200' },
      { name: 'from', value: 'Ren\u00e9 <r@example.fr>' },
      { name: 'cc', value: 'b@example.com' },
      { name: 'subject', value: 'Hello' },
    ];
    expect(identityKey(moved, 1234)).not.toBe(identityKey(base, 1234));
  });

  it('treats an absent field like an empty one', () => {
    expect(identityKey([...base, { name: 'cc', value: '' }], 10)).toBe(identityKey(base, 10));
  });

  it('uses the first occurrence of each fallback field and ignores other fields', () => {
    const extra = [...base, { name: 'subject', value: 'Second' }, { name: 'received', value: 'x' }];
    expect(identityKey(extra, 10)).toBe(identityKey(base, 10));
  });

  it('is the same for an empty header and rejects an impossible size', () => {
    expect(identityKey([], 0)).toBe(`fb:${sha128('\n\n\n\n')}/0`);
    expect(identityKey([], Buffer.alloc(0))).toBe(`fb:${sha128('\n\n\n\n')}.${sha128('')}`);
    expect(() => identityKey(base, -1)).toThrow(RangeError);
    expect(() => identityKey(base, 1.5)).toThrow(RangeError);
    expect(() => identityKey(base, Number.NaN)).toThrow(RangeError);
  });
});

describe('keyOfMessage', () => {
  const crlf = (lines: string[]): Buffer => bin(lines.join('\r\n'));

  const messages: Record<string, Buffer> = {
    'with Message-ID': crlf([
      'Return-Path: <r@example.fr>',
      'Received: from mx.example.com by mail.example.net; Tue, 1 Jul 2003 10:52:40 +0200',
      'Message-ID:',
      '  <20030701105237.GA1234@example.fr>',
      'Date: Tue, 1 Jul 2003 10:52:37 +0200',
      'From: Ren\u00e9 <r@example.fr>',
      'To: b@example.com',
      'Subject: Hello',
      '',
      'Body with Message-ID: <fake@body> in it',
      '',
    ]),
    'without Message-ID, folded, 8-bit': crlf([
      'Received: from x by y; Tue, 1 Jul 2003 10:52:40 +0200',
      'Date: Tue, 1 Jul 2003',
      '\t10:52:37 +0200',
      'From: =?iso-8859-1?q?Ren=E9?= <r@example.fr>',
      'To: a@example.com,',
      ' b@example.com',
      'CC: c@example.com',
      'Subject: caf\u00e9 \u00e0 la cr\u00e8me',
      'X-Mailer: test',
      '',
      'body',
      '',
    ]),
    'two Message-IDs': crlf(['Message-ID: <one@example.com>', 'Subject: s', 'Message-ID: <two@example.com>', '', 'body']),
    'bare LF, no Message-ID': bin('Date: Tue, 1 Jul 2003 10:52:37 +0200\nFrom: a@example.com\nSubject: lf\n\nbody\n'),
    'no header/body separator': bin('From: a@example.com\r\nSubject: no separator\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200'),
    'duplicate Subject and garbage Message-ID': crlf([
      'Message-ID: <>',
      'Subject: first',
      'Subject: second',
      'From: a@example.com',
      '',
      'body',
    ]),
    'NUL byte in Subject': Buffer.concat([bin('Subject: a'), Buffer.from([0]), bin('b\r\nFrom: a@x\r\n\r\nbody')]),
  };

  it.each(Object.entries(messages))('equals the key from the HEADER.FIELDS subset plus RFC822.SIZE: %s', (_name, message) => {
    const subset = headerFieldsSubset(message, KEY_HEADER_FIELDS);
    expect(identityKey(parseHeaders(subset), message.length)).toBe(keyOfMessage(message));
  });

  it('picks the expected kind of key', () => {
    expect(keyOfMessage(messages['with Message-ID'] as Buffer)).toBe('mid:20030701105237.GA1234@example.fr');
    expect(keyOfMessage(messages['two Message-IDs'] as Buffer)).toBe('mid:one@example.com');
    expect(keyOfMessage(messages['without Message-ID, folded, 8-bit'] as Buffer)).toMatch(/^fb:[0-9a-f]{32}\/\d+$/);
    expect(keyOfMessage(messages['no header/body separator'] as Buffer)).toMatch(/^fb:[0-9a-f]{32}\/\d+$/);
  });

  it('ignores a Message-ID that only appears in the body', () => {
    const message = bin('Subject: s\r\n\r\nMessage-ID: <in-body@x>\r\n');
    expect(keyOfMessage(message)).toMatch(/^fb:/);
  });

  it('is the same for a byte-identical copy and differs after a one-byte body change', () => {
    const message = messages['without Message-ID, folded, 8-bit'] as Buffer;
    expect(keyOfMessage(Buffer.from(message))).toBe(keyOfMessage(message));
    const longer = Buffer.concat([message, bin('x')]);
    expect(keyOfMessage(longer)).not.toBe(keyOfMessage(message));
  });

  it('computes the fallback from the unfolded values', () => {
    const message = messages['without Message-ID, folded, 8-bit'] as Buffer;
    const headers = sha128(
      [
        'Tue, 1 Jul 2003 10:52:37 +0200',
        '=?iso-8859-1?q?Ren=E9?= <r@example.fr>',
        'a@example.com, b@example.com',
        'c@example.com',
        'caf\u00e9 \u00e0 la cr\u00e8me',
      ].join('\n'),
    );
    expect(keyOfMessage(message)).toBe(`fb:${headers}/${message.length}`);
    expect(contentKeyOfMessage(message)).toBe(`fb:${headers}.${sha128('body')}`);
  });

  it.each(Object.entries(messages))('has an index key the HEADER.FIELDS subset gives: %s', (_name, message) => {
    const subset = headerFieldsSubset(message, KEY_HEADER_FIELDS);
    expect(indexKey(parseHeaders(subset))).toBe(indexKeyOf(contentKeyOfMessage(message)));
  });
});

describe('escapeKeyBytes', () => {
  it('escapes bytes outside printable ASCII and % only', () => {
    expect(escapeKeyBytes('a-Z~!')).toBe('a-Z~!');
    expect(escapeKeyBytes('\u0000 %\u007f\u0080\u00ff')).toBe('%00%20%25%7F%80%FF');
  });
});

/** Colliding pairs from issue reports: distinct messages that earlier keys merged. */
describe('keys keep what tells messages apart', () => {
  const crlf = (lines: string[]): Buffer => bin(lines.join('\r\n'));
  const key = (m: Buffer): string => contentKeyOfMessage(m);

  const payment = (amount: string, withId: boolean): Buffer =>
    crlf([
      ...(withId ? ['Message-ID: <constant@device.example>'] : []),
      'Date: Mon, 2 Mar 2026 08:00:00 +0000',
      'From: device@example.com',
      'To: accounts@example.com',
      'Subject: payment order',
      '',
      `pay ${amount} EUR`,
      '',
    ]);

  it('gives messages that share a Message-ID one key, whatever their content', () => {
    const a = payment('100', true);
    const b = payment('900', true);
    expect(a.length).toBe(b.length);
    expect(key(a)).toBe(key(b));
    expect(key(a)).toBe('mid:constant@device.example');
    expect(keyOfMessage(a)).toBe(keyOfMessage(b));
  });

  it('tells apart messages without a Message-ID that differ only in their body, at the same size', () => {
    const a = payment('100', false);
    const b = payment('900', false);
    expect(a.length).toBe(b.length);
    expect(key(a)).not.toBe(key(b));
    expect(indexKeyOf(key(a))).toBe(indexKeyOf(key(b)));
  });

  it('tells apart "backup OK" and "backup FAILED" with equal headers and size', () => {
    const report = (status: string, pad: string): Buffer =>
      crlf([
        'Date: Sun, 1 Mar 2026 03:00:00 +0100',
        'From: root@host.example',
        'To: admin@example.com',
        'Subject: nightly backup',
        '',
        `backup ${status}${pad}`,
        '',
      ]);
    const ok = report('OK', '....');
    const failed = report('FAILED', '');
    expect(ok.length).toBe(failed.length);
    expect(key(ok)).not.toBe(key(failed));
  });

  it('tells apart 8-bit Message-IDs that differ only in their non-ASCII bytes', () => {
    const a = crlf(['Message-ID: <r\u00e9sum\u00e9@example.com>', 'Subject: a', '', 'x']);
    const b = crlf(['Message-ID: <r\u00e8sum\u00e8@example.com>', 'Subject: a', '', 'x']);
    const utf8 = Buffer.concat([bin('Message-ID: <r'), Buffer.from('é', 'utf8'), bin('sum@example.com>\r\n\r\nx')]);
    const utf8other = Buffer.concat([bin('Message-ID: <r'), Buffer.from('è', 'utf8'), bin('sum@example.com>\r\n\r\nx')]);
    expect(key(a)).not.toBe(key(b));
    expect(key(utf8)).not.toBe(key(utf8other));
    expect(keyOfMessage(a)).not.toBe(keyOfMessage(b));
    expect(key(a)).toBe('mid:r%E9sum%E9@example.com');
    expect(key(utf8)).toBe('mid:r%C3%A9sum@example.com');
  });

  it('tells apart Message-IDs that differ only in a control byte', () => {
    const withByte = (b: number): Buffer => Buffer.concat([bin('Message-ID: <id'), Buffer.from([b]), bin('1@example.com>\r\n\r\nx')]);
    const keys = [0x00, 0x01, 0x07, 0x1b, 0x7f].map((b) => key(withByte(b)));
    expect(new Set(keys).size).toBe(keys.length);
    expect(keyOfMessage(withByte(0x01))).not.toBe(keyOfMessage(withByte(0x02)));
    expect(key(withByte(0x01))).not.toBe(key(bin('Message-ID: <id1@example.com>\r\n\r\nx')));
  });

  // An IMAP literal cannot carry NUL: a header FETCH shows it as something
  // else (Dovecot: 0x80), so the destination can never tell the two apart.
  it('counts NUL as 0x80 in key fields, the byte a header fetch shows for it', () => {
    const nul = Buffer.concat([bin('Message-ID: <a'), Buffer.from([0]), bin('@x>\r\n\r\nx')]);
    const fetched = Buffer.concat([bin('Message-ID: <a'), Buffer.from([0x80]), bin('@x>\r\n\r\n')]);
    expect(key(nul)).toBe('mid:a%80@x');
    expect(indexKey(parseHeaders(fetched))).toBe(key(nul));
    expect(keyOfMessage(nul)).toBe('mid:a%80@x');
    const subject = (b: number): Buffer => Buffer.concat([bin('From: a@x\r\nSubject: a'), Buffer.from([b]), bin('\r\n\r\nbody')]);
    expect(indexKey(parseHeaders(headerBlock(subject(0x80))))).toBe(indexKeyOf(key(subject(0))));
    expect(keyOfMessage(subject(0))).toBe(keyOfMessage(subject(0x80)));
  });

  it('tells apart fallback fields that differ only in 8-bit, control or ? bytes', () => {
    const subject = (s: string): Buffer => Buffer.concat([bin('From: a@example.com\r\nSubject: '), bin(s), bin('\r\n\r\nsame body\r\n')]);
    const keys = ['caf\u00e9', 'caf\u00e8', 'caf?', 'caf\u0001', 'cafX'].map((s) => key(subject(s)));
    expect(new Set(keys).size).toBe(keys.length);
  });
});

/**
 * What real servers do to a message they store (or serve), measured on
 * Dovecot 2.3, Cyrus 3.6, Courier-IMAP 5.0 and GNU Mailutils 3.15. Each
 * copy must be recognised as its original from what a fresh run can see of
 * the destination: the index key from the HEADER.FIELDS subset, and the full
 * key (or one of the original's alternatives) once the copy's body is read.
 */
describe('a copy stored with a server change is recognised', () => {
  const latin1 = (b: Buffer): string => b.toString('latin1');
  const headerEnd = (s: string): number => {
    const m = /\r?\n\r?\n/.exec(s);
    return m === null ? s.length : m.index + m[0].length;
  };
  const changes: Record<string, (s: string) => string> = {
    'Dovecot: CR runs before LF folded': (s) => s.replace(/\r+\n/g, '\r\n'),
    'Dovecot: one CR dropped from each run before LF': (s) => s.replace(/\r(\r+\n)/g, '$1'),
    'Cyrus, Courier: a CR not followed by LF made a line end': (s) => s.replace(/\r+\n/g, '\r\n').replace(/\r(?!\n)/g, '\r\n'),
    'Courier: every CR not followed by LF deleted': (s) => s.replace(/\r(?!\n)/g, ''),
    'Cyrus munge8bit: 8-bit header bytes replaced by X': (s) => {
      const end = headerEnd(s);
      return s.slice(0, end).replace(/[\x80-\xff]/g, 'X') + s.slice(end);
    },
    'Mailutils: X-IMAPbase, X-UID, X-UIDL and Status added, Status rewritten': (s) => {
      const end = headerEnd(s);
      const head = s
        .slice(0, end)
        .split(/(?<=\n)/)
        .filter((l) => !/^Status:/i.test(l));
      const blank = head.pop() as string;
      return [
        'X-IMAPbase: 1772345678 0000000007\n',
        ...head.map((l) => l.replace(/\r\n$/, '\n')),
        'Status: OR\n',
        'X-UIDL: 1f2e3d4c5b6a\n',
        'X-UID: 7\n',
        blank.replace(/\r\n$/, '\n'),
        s.slice(end).replace(/\r\n/g, '\n'),
      ].join('');
    },
    'Mailutils: a line end added to an empty body': (s) =>
      /^(\r?\n)*$/.test(s.slice(headerEnd(s))) ? `${s.slice(0, headerEnd(s))}\r\n` : s,
    'mbox store: every CRLF stored as LF': (s) => s.replace(/\r\n/g, '\n'),
  };

  const originals: Record<string, Buffer> = {
    'no Message-ID, CR runs and bare CRs in the body': bin(
      'Date: Sun, 1 Mar 2026 03:00:00 +0100\r\nFrom: root@host.example\r\nTo: admin@example.com\r\nSubject: progress\r\nStatus: O\r\n\r\n10%\r20%\r30%\r\r\nend\r\r\r\n',
    ),
    'no Message-ID, 8-bit headers': bin(
      'Date: Sun, 1 Mar 2026 03:00:00 +0100\r\nFrom: Ren\u00e9 <r@example.fr>\r\nTo: a@example.com,\r\n  b@example.com\r\nSubject: \u00a37,000 invoice\r\n\r\npay \u00a37,000\r\n',
    ),
    'no Message-ID, bare CR in the Subject': bin('From: a@example.com\r\nSubject: one\rtwo\r\n\r\nbody\r\n'),
    'no Message-ID, empty body': bin('From: a@example.com\r\nSubject: empty\r\n\r\n'),
    'no Message-ID, no body at all': bin('From: a@example.com\r\nSubject: nothing\r\n'),
    '8-bit Message-ID': bin('Message-ID: <caf\u00e9.\u00a3@example.com>\r\nSubject: x\r\n\r\nbody\r\n'),
    'ASCII Message-ID, 8-bit Subject': bin('Message-ID: <plain@example.com>\r\nSubject: caf\u00e9\r\n\r\nb\rody\r\n'),
  };

  // A bare CR made a line end inside a header value cuts the value there: no
  // key built from header fields survives that, and it is not claimed.
  const unsupported = new Set(['no Message-ID, bare CR in the Subject / Cyrus, Courier: a CR not followed by LF made a line end']);

  const cases = Object.entries(originals).flatMap(([o, original]) =>
    Object.entries(changes)
      .map(([c, change]) => [`${o} / ${c}`, original, bin(change(latin1(original)))] as const)
      .filter(([name, original, copy]) => !copy.equals(original) && !unsupported.has(name)),
  );

  it.each(cases)('%s', (_name, original, copy) => {
    const fields = parseHeaders(headerBlock(original));
    const accepted = [contentKeyOfMessage(original), ...alternativeKeys(fields, original).map((a) => a.key)];
    // What a fresh run finds in the folder index, from the copy's header fields only.
    const copyIndexKey = indexKey(parseHeaders(headerFieldsSubset(copy, KEY_HEADER_FIELDS)));
    expect(accepted.map(indexKeyOf)).toContain(copyIndexKey);
    // What reading the copy's body proves.
    expect(accepted).toContain(contentKeyOfMessage(copy));
  });

  it('covers every change on at least one original', () => {
    for (const c of Object.keys(changes))
      expect(
        cases.some(([name]) => name.endsWith(` / ${c}`)),
        c,
      ).toBe(true);
  });

  it('names the server change behind an alternative key', () => {
    const original = originals['8-bit Message-ID'] as Buffer;
    const alternatives = alternativeKeys(parseHeaders(headerBlock(original)), original);
    expect(alternatives).toContainEqual({ key: 'mid:cafX.X@example.com', change: '8-bit header bytes replaced by X' });
    expect(alternatives).toContainEqual({ key: 'mid:caf?.?@example.com', change: '8-bit header bytes sent as ?' });
    expect(alternatives.map((a) => a.key)).not.toContain(contentKeyOfMessage(original));
  });

  it('has no alternative key for a message whose key fields are ASCII', () => {
    const m = originals['no Message-ID, CR runs and bare CRs in the body'] as Buffer;
    expect(alternativeKeys(parseHeaders(headerBlock(m)), m)).toEqual([]);
  });

  it('is a rewrite each HEADER_REWRITES entry makes to some value', () => {
    for (const r of HEADER_REWRITES) expect(r.apply('\u0000caf\u00c3\u00a9\u00ff'), r.name).not.toBe('\u0000caf\u00c3\u00a9\u00ff');
  });
});

describe('bodyDigest', () => {
  it('ignores the header section and every CR and LF of the body', () => {
    expect(bodyDigest(bin('Subject: a\r\n\r\nx\r\ny'))).toBe(bodyDigest(bin('Subject: b\n\nx\r\r\n\ry\n')));
    expect(bodyDigest(bin('Subject: a\r\n\r\nx y'))).not.toBe(bodyDigest(bin('Subject: a\r\n\r\nxy')));
  });

  it('counts NUL as 0x80, the byte a body fetch without BINARY shows for it', () => {
    expect(bodyDigest(bin('Subject: a\r\n\r\nx\u0000\u0000y'))).toBe(bodyDigest(bin('Subject: a\r\n\r\nx\u0080\u0080y')));
    expect(bodyDigest(bin('Subject: a\r\n\r\nx\u0000y'))).not.toBe(bodyDigest(bin('Subject: a\r\n\r\nxy')));
  });

  it('reads a large body in bounded time', () => {
    const big = Buffer.concat([bin('Subject: big\r\n\r\n'), Buffer.alloc(32 * 1024 * 1024, 'a\r\n')]);
    const started = Date.now();
    expect(bodyDigest(big)).toBe(sha128('a'.repeat(Math.ceil((32 * 1024 * 1024) / 3))));
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('contentKeys', () => {
  it('gives identityKey of the whole message and its alternativeKeys', () => {
    const messages = [
      Buffer.from('Message-ID: <caf\xe9@x>\r\nSubject: s\r\n\r\nbody\r\n', 'latin1'),
      Buffer.from('From: a@example.org\r\nSubject: \xa37,000\r\n\r\nbody\r\n', 'latin1'),
      Buffer.from('From: a@example.org\r\nSubject: plain\r\n\r\nbody\r\n', 'latin1'),
    ];
    for (const m of messages) {
      const fields = parseHeaders(headerBlock(m));
      expect(contentKeys(fields, m)).toEqual({ key: identityKey(fields, m), alternatives: alternativeKeys(fields, m) });
    }
  });
});
