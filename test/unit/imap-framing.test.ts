import { describe, expect, it } from 'vitest';
import { ImapReplyFramer, UPLOAD_CONNECTION_LIMITS, type ImapFrame, type ImapFramingLimits } from '../../src/imap/imap-framing.js';
import { prng } from '../helpers/corpus.js';

/** A header section as a FETCH returns it: CRLFs, a line that looks like a literal, a NUL, a bare CR and bare LF, 8-bit bytes. */
const HEADER = Buffer.concat([
  Buffer.from('Subject: {5}\r\nX-Tag: A1 OK looks tagged\r\n* BYE not a reply\r\n+ nor a continuation\r\nX-Raw: '),
  Buffer.from([0x00, 0xe9, 0x0d, 0x41, 0x0a, 0xff]),
  Buffer.from('\r\n\r\n'),
]);

/**
 * What an upload connection reads in one session, as servers send it:
 * greeting, continuations, tagged replies, a bare-LF line (GNU Mailutils),
 * STATUS brackets, a FETCH with a literal, a response with two literals
 * (one of them empty) and a BYE.
 */
const WIRE = Buffer.concat([
  Buffer.from('* OK [CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND UIDPLUS] Dovecot ready.\r\n'),
  Buffer.from('+ \r\n'),
  Buffer.from('U1 OK [CAPABILITY IMAP4rev1 MULTIAPPEND] Logged in\n'),
  Buffer.from('* STATUS "Old ISP" (UIDNEXT 7)\r\n'),
  Buffer.from('+ Ready for literal data\r\n'),
  Buffer.from('U3 NO [TRYCREATE] Mailbox does not exist\r\n'),
  Buffer.from('* STATUS "Old ISP" (UIDNEXT 9)\r\nU4 OK Status completed.\r\n'),
  Buffer.from('* OK [UIDVALIDITY 1700000000] UIDs valid\r\n'),
  Buffer.from(`* 1 FETCH (UID 7 RFC822.SIZE 120 BODY[HEADER]<0> {${HEADER.length}}\r\n`),
  HEADER,
  Buffer.from(')\r\n'),
  Buffer.from('* 2 FETCH (UID 8 BODY[HEADER] {0}\r\n BODY[TEXT] {3}\r\nab\n)\r\n'),
  Buffer.from('U5 OK [APPENDUID 1700000000 7:8] Append completed.\r\n'),
  Buffer.from('\r\n'),
  Buffer.from('* BYE Logging out\r\nU6 OK Logout completed.\r\n'),
]);

const EXPECTED: ImapFrame[] = [
  { line: '* OK [CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND UIDPLUS] Dovecot ready.', literals: [] },
  { line: '+ ', literals: [] },
  { line: 'U1 OK [CAPABILITY IMAP4rev1 MULTIAPPEND] Logged in', literals: [] },
  { line: '* STATUS "Old ISP" (UIDNEXT 7)', literals: [] },
  { line: '+ Ready for literal data', literals: [] },
  { line: 'U3 NO [TRYCREATE] Mailbox does not exist', literals: [] },
  { line: '* STATUS "Old ISP" (UIDNEXT 9)', literals: [] },
  { line: 'U4 OK Status completed.', literals: [] },
  { line: '* OK [UIDVALIDITY 1700000000] UIDs valid', literals: [] },
  { line: `* 1 FETCH (UID 7 RFC822.SIZE 120 BODY[HEADER]<0> {${HEADER.length}})`, literals: [HEADER] },
  { line: '* 2 FETCH (UID 8 BODY[HEADER] {0} BODY[TEXT] {3})', literals: [Buffer.alloc(0), Buffer.from('ab\n')] },
  { line: 'U5 OK [APPENDUID 1700000000 7:8] Append completed.', literals: [] },
  { line: '', literals: [] },
  { line: '* BYE Logging out', literals: [] },
  { line: 'U6 OK Logout completed.', literals: [] },
];

function feed(chunks: Buffer[], limits?: ImapFramingLimits): { frames: ImapFrame[]; framer: ImapReplyFramer } {
  const framer = new ImapReplyFramer(limits);
  const frames = chunks.flatMap((chunk) => framer.push(chunk));
  return { frames, framer };
}

function expectWhole(chunks: Buffer[], why: string): void {
  const { frames, framer } = feed(chunks);
  try {
    expect(frames).toEqual(EXPECTED);
    expect(framer.midResponse).toBe(false);
    expect(framer.error).toBeUndefined();
  } catch (err) {
    throw new Error(`${why}: ${(err as Error).message}`, { cause: err });
  }
}

describe('ImapReplyFramer', () => {
  it('frames the recorded session fed in one chunk', () => {
    expectWhole([WIRE], 'one chunk');
  });

  it('frames it the same when split in two at every byte offset', () => {
    for (let cut = 0; cut <= WIRE.length; cut++) expectWhole([WIRE.subarray(0, cut), WIRE.subarray(cut)], `split at ${cut}`);
  });

  it('frames it the same when split in three at every pair of offsets around each literal', () => {
    const at = WIRE.indexOf(HEADER);
    for (let a = at - 40; a <= at + HEADER.length + 4; a++) {
      for (const b of [a + 1, a + 2, a + 13, at + HEADER.length + 1]) {
        if (b <= a || b > WIRE.length) continue;
        expectWhole([WIRE.subarray(0, a), WIRE.subarray(a, b), WIRE.subarray(b)], `split at ${a} and ${b}`);
      }
    }
  });

  it('frames it the same under 200 random chunkings into 1 to 7 byte pieces', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = prng(seed);
      const chunks: Buffer[] = [];
      for (let i = 0; i < WIRE.length;) {
        const size = 1 + Math.floor(random() * 7);
        chunks.push(WIRE.subarray(i, i + size));
        i += size;
      }
      expectWhole(chunks, `seed ${seed}`);
    }
  });

  it('frames it the same fed one byte at a time', () => {
    expectWhole(
      [...WIRE].map((b) => Buffer.from([b])),
      'one byte at a time',
    );
  });

  it('returns literals that are copies, independent of the chunks they came from', () => {
    const chunk = Buffer.from(WIRE);
    const { frames } = feed([chunk]);
    chunk.fill(0x41);
    expect(frames[9]!.literals[0]!.equals(HEADER)).toBe(true);
  });

  it('says a response is under way while a line or a literal is incomplete', () => {
    const framer = new ImapReplyFramer();
    framer.push(Buffer.from('U1 OK'));
    expect(framer.midResponse).toBe(true);
    framer.push(Buffer.from(' done\r\n* 1 FETCH (BODY[] {4}\r\nab'));
    expect(framer.midResponse).toBe(true);
    framer.push(Buffer.from('cd'));
    expect(framer.midResponse).toBe(true);
    expect(framer.push(Buffer.from(')\r\n'))).toEqual([{ line: '* 1 FETCH (BODY[] {4})', literals: [Buffer.from('abcd')] }]);
    expect(framer.midResponse).toBe(false);
  });

  it('takes a `{n}` only at the end of a line as a literal', () => {
    const { frames } = feed([Buffer.from('U2 NO {5} is not a literal here\r\n')]);
    expect(frames).toEqual([{ line: 'U2 NO {5} is not a literal here', literals: [] }]);
  });
});

describe('ImapReplyFramer limits', () => {
  const small: ImapFramingLimits = { maxLineBytes: 32, maxLiteralBytes: 16, maxLiteralsPerResponse: 2, maxResponseBytes: 64 };

  it('keeps the upload connection at 1 MiB lines and literals, 8 literals and 2 MiB a response', () => {
    expect(UPLOAD_CONNECTION_LIMITS).toEqual({
      maxLineBytes: 1024 * 1024,
      maxLiteralBytes: 1024 * 1024,
      maxLiteralsPerResponse: 8,
      maxResponseBytes: 2 * 1024 * 1024,
    });
  });

  it('stops at a line longer than the limit, whether it comes whole or in pieces, after the responses before it', () => {
    const long = Buffer.from(`U1 OK done\r\n${'x'.repeat(40)}\r\nU2 OK never read\r\n`);
    for (let cut = 0; cut <= long.length; cut++) {
      const { frames, framer } = feed([long.subarray(0, cut), long.subarray(cut)], small);
      expect(frames, `split at ${cut}`).toEqual([{ line: 'U1 OK done', literals: [] }]);
      expect(framer.error?.what, `split at ${cut}`).toBe('a line longer than 32 octets');
    }
  });

  it('stops a line without an end once it passes the limit, before its end comes', () => {
    const framer = new ImapReplyFramer(small);
    expect(framer.push(Buffer.from('x'.repeat(32)))).toEqual([]);
    expect(framer.error).toBeUndefined();
    framer.push(Buffer.from('x'));
    expect(framer.error?.what).toBe('a line longer than 32 octets');
    expect(framer.push(Buffer.from('\r\nU1 OK\r\n'))).toEqual([]);
  });

  it('names the 1 MiB bound of the upload connection in its words', () => {
    const framer = new ImapReplyFramer();
    framer.push(Buffer.alloc(1024 * 1024 + 1, 0x78));
    expect(framer.error?.what).toBe('a line longer than 1 MiB');
    const literal = new ImapReplyFramer();
    literal.push(Buffer.from('* 1 FETCH (BODY[] {1048577}\r\n'));
    expect(literal.error?.what).toBe('a literal of 1048577 octets (more than 1 MiB)');
  });

  it('stops at a literal over the limit, and at one literal too many in a response', () => {
    expect(feed([Buffer.from('* 1 FETCH (BODY[] {17}\r\n')], small).framer.error?.what).toBe(
      'a literal of 17 octets (more than 16 octets)',
    );
    const three = Buffer.from('* 1 FETCH (A {1}\r\na B {1}\r\nb C {1}\r\nc)\r\n');
    expect(feed([three], small).framer.error?.what).toBe('a response with more literals than any answer on this connection has');
    const two = Buffer.from('* 1 FETCH (A {1}\r\na B {1}\r\nb)\r\n');
    expect(feed([two], small).frames).toEqual([{ line: '* 1 FETCH (A {1} B {1})', literals: [Buffer.from('a'), Buffer.from('b')] }]);
  });

  it('stops at a response whose lines and literals together pass the limit', () => {
    const big = Buffer.from(`* 1 FETCH (A {16}\r\n${'a'.repeat(16)} B {16}\r\n${'b'.repeat(16)} C)\r\n`);
    const { frames, framer } = feed([big], { ...small, maxResponseBytes: 40 });
    expect(frames).toEqual([]);
    expect(framer.error?.what).toBe('a response with more literals than any answer on this connection has');
  });
});
