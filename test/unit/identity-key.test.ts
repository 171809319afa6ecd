import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseHeaders, type HeaderField } from '../../src/message/headers.js';
import { KEY_HEADER_FIELDS, identityKey, keyOfMessage, normalizeMessageId } from '../../src/message/identity-key.js';

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

  it('falls back to a hash of Date, From, To, Cc, Subject and the size', () => {
    const expected = sha256(['Tue,1Jul200310:52:37+0200', 'Ren?<r@example.fr>', 'b@example.com', '', 'Hello', '1234'].join('\n'));
    expect(identityKey(base, 1234)).toBe(`fb:${expected}`);
  });

  // Servers rewrite header bytes in IMAP header fetches (Dovecot NUL → 0x80,
  // Zimbra/Yahoo 8-bit → '?', one '?' per UTF-8 sequence, Zimbra strips
  // trailing blanks), so the key must not depend on those differences.
  it.each<[string, string, string]>([
    ['NUL vs 0x80 (Dovecot)', 'a\u0000b', 'a\u0080b'],
    ['latin1 é vs ? (Zimbra)', 'caf\u00e9', 'caf?'],
    ['UTF-8 é vs a single ? (Yahoo)', 'caf\u00c3\u00a9', 'caf?'],
    ['8-bit next to a literal ?', 'what\u00e9?', 'what?'],
    ['stripped trailing blanks before a fold (Zimbra)', 'a  \t b', 'a b'],
    ['tab vs space', 'a\tb', 'a b'],
  ])('gives the same fallback key across server rewrites: %s', (_name, source, destination) => {
    const withSubject = (subject: string): HeaderField[] => [
      ...base.filter((f) => f.name !== 'subject'),
      { name: 'subject', value: subject },
    ];
    expect(identityKey(withSubject(destination), 1234)).toBe(identityKey(withSubject(source), 1234));
  });

  it('still tells printable ASCII differences apart', () => {
    const withSubject = (subject: string): HeaderField[] => [
      ...base.filter((f) => f.name !== 'subject'),
      { name: 'subject', value: subject },
    ];
    expect(identityKey(withSubject('Hello'), 1234)).not.toBe(identityKey(withSubject('hello'), 1234));
    expect(identityKey(withSubject('a-b'), 1234)).not.toBe(identityKey(withSubject('a_b'), 1234));
  });

  it('applies the same byte rewriting to the Message-ID', () => {
    expect(identityKey([{ name: 'message-id', value: '<caf\u00e9@x>' }], 1)).toBe('mid:caf?@x');
    expect(identityKey([{ name: 'message-id', value: '<caf?@x>' }], 1)).toBe('mid:caf?@x');
    expect(identityKey([{ name: 'message-id', value: '<a\u0000\u0001b@x>' }], 1)).toBe('mid:a?b@x');
    expect(identityKey([{ name: 'message-id', value: '<"a b"@x>' }], 1)).toBe('mid:"a b"@x');
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

  it('differs when the size differs', () => {
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
    expect(identityKey([], 0)).toBe(`fb:${sha256('\n\n\n\n\n0')}`);
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
    expect(keyOfMessage(messages['without Message-ID, folded, 8-bit'] as Buffer)).toMatch(/^fb:[0-9a-f]{64}$/);
    expect(keyOfMessage(messages['no header/body separator'] as Buffer)).toMatch(/^fb:[0-9a-f]{64}$/);
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
    const expected = sha256(
      [
        'Tue,1Jul200310:52:37+0200',
        '=?iso-8859-1?q?Ren=E9?=<r@example.fr>',
        'a@example.com,b@example.com',
        'c@example.com',
        'caf?lacr?me',
        String(message.length),
      ].join('\n'),
    );
    expect(keyOfMessage(message)).toBe(`fb:${expected}`);
  });

  it('matches a destination that rewrote 8-bit and NUL bytes in its header fetch', () => {
    const message = crlf(['From: Ren\u00e9 <r@example.fr>', 'Subject: a\u0000b \u00e0 la cr\u00e8me  ', ' folded', '', 'body']);
    const rewritten = bin('From: Ren? <r@example.fr>\r\nSubject: a\u0080b ? la cr?me\r\n folded\r\n\r\n');
    expect(identityKey(parseHeaders(rewritten), message.length)).toBe(keyOfMessage(message));
  });
});
