import { describe, expect, it } from 'vitest';
import { fetchNumber, parseResponse, parseTagged, tokenize, type ImapResponse } from '../../src/imap/imap-response.js';

const parse = (line: string, literals: Buffer[] = []): ImapResponse => parseResponse({ line, literals });

describe('parseResponse: tagged replies', () => {
  it('splits status, response code with its arguments, and text', () => {
    expect(parse('U5 OK [APPENDUID 1700000000 7:9,12] Append completed.')).toEqual({
      kind: 'tagged',
      tag: 'U5',
      status: 'OK',
      code: 'APPENDUID',
      codeArgs: ['1700000000', '7:9,12'],
      text: 'Append completed.',
    });
  });

  it('reads [TRYCREATE], [OVERQUOTA] and a code without text', () => {
    expect(parse('A1 NO [TRYCREATE] Mailbox does not exist')).toMatchObject({ status: 'NO', code: 'TRYCREATE', codeArgs: [] });
    expect(parse('A1 no [overquota]')).toMatchObject({ status: 'NO', code: 'OVERQUOTA', text: '' });
  });

  it('reads the capabilities a login reply carries', () => {
    expect(parse('U2 OK [CAPABILITY IMAP4rev1 MULTIAPPEND LITERAL+] Logged in')).toMatchObject({
      code: 'CAPABILITY',
      codeArgs: ['IMAP4rev1', 'MULTIAPPEND', 'LITERAL+'],
      text: 'Logged in',
    });
  });

  it('keeps text without a code whole, and a bracket that does not close as text', () => {
    expect(parse('A1 BAD Error in IMAP command: [x')).toMatchObject({ status: 'BAD', code: undefined, text: 'Error in IMAP command: [x' });
    expect(parse('A1 NO [ALERT unterminated')).toMatchObject({ code: undefined, text: '[ALERT unterminated' });
    expect(parse('A1 OK')).toMatchObject({ status: 'OK', code: undefined, codeArgs: [], text: '' });
  });

  it('takes a status it does not know as BAD with the words as text', () => {
    expect(parseTagged('PREAUTH hello')).toEqual({ status: 'BAD', code: undefined, codeArgs: [], text: 'PREAUTH hello' });
    expect(parseTagged('')).toEqual({ status: 'BAD', code: undefined, codeArgs: [], text: '' });
  });

  it('does not read a response code out of the middle of the text', () => {
    expect(parse('A1 NO Mailbox [TRYCREATE] later')).toMatchObject({ code: undefined, text: 'Mailbox [TRYCREATE] later' });
  });
});

describe('parseResponse: continuations and untagged responses', () => {
  it('reads a continuation with or without text', () => {
    expect(parse('+ Ready for literal data')).toEqual({ kind: 'continuation', text: 'Ready for literal data' });
    expect(parse('+')).toEqual({ kind: 'continuation', text: '' });
    expect(parse('+ ')).toEqual({ kind: 'continuation', text: '' });
  });

  it('reads a greeting as an untagged OK or PREAUTH with its capabilities', () => {
    expect(parse('* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] Dovecot ready.')).toEqual({
      kind: 'status',
      status: 'OK',
      code: 'CAPABILITY',
      codeArgs: ['IMAP4rev1', 'STARTTLS', 'AUTH=PLAIN'],
      text: 'Dovecot ready.',
      rest: '[CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] Dovecot ready.',
    });
    expect(parse('* PREAUTH IMAP4rev1 server logged in as alice')).toMatchObject({ kind: 'status', status: 'PREAUTH', code: undefined });
    expect(parse('+OK POP3 server ready')).toMatchObject({ kind: 'continuation' });
  });

  it('keeps what follows BYE whole, code included', () => {
    expect(parse('* BYE [OVERQUOTA] Account exceeded command or bandwidth limits.')).toMatchObject({
      kind: 'status',
      status: 'BYE',
      code: 'OVERQUOTA',
      rest: '[OVERQUOTA] Account exceeded command or bandwidth limits.',
    });
    expect(parse('* BYE')).toMatchObject({ status: 'BYE', rest: '', text: '' });
  });

  it('reads [UIDVALIDITY n] from an untagged OK', () => {
    expect(parse('* OK [UIDVALIDITY 1700000000] UIDs valid')).toMatchObject({ code: 'UIDVALIDITY', codeArgs: ['1700000000'] });
  });

  it('reads an untagged CAPABILITY, upper-cased', () => {
    expect(parse('* CAPABILITY IMAP4rev1 literal+ Multiappend')).toEqual({
      kind: 'capability',
      capabilities: ['IMAP4REV1', 'LITERAL+', 'MULTIAPPEND'],
    });
    expect(parse('* CAPABILITY')).toEqual({ kind: 'capability', capabilities: [] });
  });

  it('reads STATUS counts whatever the mailbox name holds', () => {
    const counts = (r: ImapResponse) => (r.kind === 'mailbox-status' ? Object.fromEntries(r.counts) : r);
    expect(counts(parse('* STATUS "Old ISP" (UIDNEXT 7 MESSAGES 3)'))).toEqual({ UIDNEXT: '7', MESSAGES: '3' });
    expect(counts(parse('* STATUS INBOX.Archive (uidnext 12)'))).toEqual({ UIDNEXT: '12' });
    expect(counts(parse('* STATUS "a (UIDNEXT 1) \\"b" (UIDNEXT 99)'))).toEqual({ UIDNEXT: '99' });
    expect(counts(parse('* STATUS {6} (UIDNEXT 5)', [Buffer.from('a) (b\r')]))).toEqual({ UIDNEXT: '5' });
    // A server that sends a name with spaces unquoted is still read: the counts are the last list.
    expect(counts(parse('* STATUS Old ISP (UIDNEXT 8)'))).toEqual({ UIDNEXT: '8' });
    expect(counts(parse('* STATUS x (UIDVALIDITY 1700000000 UIDNEXT 4294967295)'))).toEqual({
      UIDVALIDITY: '1700000000',
      UIDNEXT: '4294967295',
    });
  });

  it('leaves a STATUS it cannot read unread', () => {
    expect(parse('* STATUS "unterminated (UIDNEXT 5)')).toEqual({ kind: 'untagged', name: 'STATUS' });
    expect(parse('* STATUS x UIDNEXT 5')).toEqual({ kind: 'untagged', name: 'STATUS' });
  });

  it('reads a FETCH with a header section literal', () => {
    const header = Buffer.from('Subject: x\r\n\r\n');
    const r = parse('* 3 FETCH (UID 17 RFC822.SIZE 1200 BODY[HEADER]<0> {14} FLAGS (\\Seen $Forwarded))', [header]);
    expect(r.kind).toBe('fetch');
    if (r.kind !== 'fetch') return;
    expect(r.seq).toBe(3);
    expect(fetchNumber(r.items, 'UID')).toBe(17);
    expect(fetchNumber(r.items, 'RFC822.SIZE')).toBe(1200);
    expect(r.items.get('BODY[HEADER]<0>')).toEqual({ type: 'literal', value: header });
    expect(r.items.get('FLAGS')).toEqual({
      type: 'list',
      items: [
        { type: 'atom', value: '\\Seen' },
        { type: 'atom', value: '$Forwarded' },
      ],
    });
    expect(fetchNumber(r.items, 'MODSEQ')).toBeUndefined();
  });

  it('leaves a FETCH it cannot read unread: a literal missing, an item without value, unbalanced parentheses', () => {
    expect(parse('* 3 FETCH (UID 17 BODY[HEADER] {14})')).toEqual({ kind: 'untagged', name: 'FETCH' });
    expect(parse('* 3 FETCH (UID 17 RFC822.SIZE)')).toEqual({ kind: 'untagged', name: 'FETCH' });
    expect(parse('* 3 FETCH (UID 17')).toEqual({ kind: 'untagged', name: 'FETCH' });
    expect(parse('* 3 FETCH UID 17)')).toEqual({ kind: 'untagged', name: 'FETCH' });
  });

  it('names other untagged responses without reading them', () => {
    expect(parse('* 4 EXISTS')).toEqual({ kind: 'untagged', name: 'EXISTS' });
    expect(parse('* FLAGS (\\Seen)')).toEqual({ kind: 'untagged', name: 'FLAGS' });
    expect(parse('* ID NIL')).toEqual({ kind: 'untagged', name: 'ID' });
  });
});

describe('tokenize', () => {
  it('keeps a section with spaces and parentheses in one atom', () => {
    expect(tokenize('(BODY[HEADER.FIELDS (DATE FROM)]<0> NIL)', [])).toEqual([
      {
        type: 'list',
        items: [
          { type: 'atom', value: 'BODY[HEADER.FIELDS (DATE FROM)]<0>' },
          { type: 'atom', value: 'NIL' },
        ],
      },
    ]);
  });

  it('takes literals in order, literal8 included, and unescapes quoted strings', () => {
    expect(tokenize('{1} ~{1} "a\\"b\\\\"', [Buffer.from('x'), Buffer.from([0])])).toEqual([
      { type: 'literal', value: Buffer.from('x') },
      { type: 'literal', value: Buffer.from([0]) },
      { type: 'string', value: 'a"b\\' },
    ]);
  });

  it('is undefined for more literal markers than literals, or a stray closing parenthesis', () => {
    expect(tokenize('{1} {1}', [Buffer.from('x')])).toBeUndefined();
    expect(tokenize('a)', [])).toBeUndefined();
    expect(tokenize('BODY[HEADER', [])).toBeUndefined();
  });
});
