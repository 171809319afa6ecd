import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MAX_STATUS_LINE, Pop3FramingError, Pop3ReplyParser, type Pop3Reply } from '../../src/pop3/pop3-framing.js';
import { HOSTILE, dotStuff, mulberry32, multiLineReply } from '../helpers/scripted-pop3.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const HOSTILE_WIRE = multiLineReply('+OK 158 octets', HOSTILE);
const DELE_WIRE = Buffer.from('+OK Marked to be deleted.\r\n');

function feed(parser: Pop3ReplyParser, chunks: Buffer[]): Pop3Reply[] {
  return chunks.flatMap((chunk) => parser.push(chunk));
}

/** RETR then DELE pipelined: the DELE proves the stream is still in step after the body. */
function retrThenDele(chunks: Buffer[]): Pop3Reply[] {
  const parser = new Pop3ReplyParser();
  parser.expect(true);
  parser.expect(false);
  const replies = feed(parser, chunks);
  expect(parser.pending).toBe(0);
  return replies;
}

function expectHostileThenDele(replies: Pop3Reply[]): void {
  expect(replies).toHaveLength(2);
  const [retr, dele] = replies as [Pop3Reply, Pop3Reply];
  expect(retr.ok).toBe(true);
  expect(retr.text).toBe('158 octets');
  expect(retr.body).toBeDefined();
  expect(sha256(retr.body!)).toBe(sha256(HOSTILE));
  expect(retr.body!.equals(HOSTILE)).toBe(true);
  expect(dele).toEqual({ ok: true, text: 'Marked to be deleted.', body: undefined, unsolicited: false });
}

describe('the hostile test message', () => {
  it('is stuffed on the wire the way RFC 1939 says', () => {
    const wire = HOSTILE_WIRE.toString('latin1');
    expect(wire).toContain('\r\n..leading dot\r\n');
    expect(wire).toContain('\r\n...two leading dots\r\n');
    expect(wire).toContain('\r\n..\r\n...\r\n');
    expect(wire).toContain('\r\n..\rdot then bare CR');
    expect(wire.endsWith('last line\r\n.\r\n')).toBe(true);
    expect(HOSTILE_WIRE.indexOf(Buffer.from('+OK 158 octets\r\n\x00'))).toBe(0);
    expect(HOSTILE.length).toBe(158);
  });
});

describe('Pop3ReplyParser', () => {
  const whole = Buffer.concat([HOSTILE_WIRE, DELE_WIRE]);

  it('frames the hostile message fed in one chunk', () => {
    expectHostileThenDele(retrThenDele([whole]));
  });

  it('frames it when status line, body and terminator are split in two at every byte position', () => {
    for (let cut = 0; cut <= whole.length; cut++) {
      const replies = retrThenDele([whole.subarray(0, cut), whole.subarray(cut)]);
      try {
        expectHostileThenDele(replies);
      } catch (err) {
        throw new Error(`split at byte ${cut} of ${whole.length}: ${(err as Error).message}`, { cause: err });
      }
    }
  });

  it('frames it under 50 random chunkings into 1 to 4 byte pieces', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const random = mulberry32(seed);
      const chunks: Buffer[] = [];
      for (let i = 0; i < whole.length;) {
        const size = 1 + Math.floor(random() * 4);
        chunks.push(whole.subarray(i, i + size));
        i += size;
      }
      try {
        expectHostileThenDele(retrThenDele(chunks));
      } catch (err) {
        throw new Error(`seed ${seed}: ${(err as Error).message}`, { cause: err });
      }
    }
  });

  it('frames it fed one byte at a time, status line included', () => {
    const bytes = [...whole].map((b) => Buffer.from([b]));
    expectHostileThenDele(retrThenDele(bytes));
  });

  it('returns a body that is a copy, independent of the chunks it came from', () => {
    const chunk = Buffer.from(whole);
    const [retr] = retrThenDele([chunk]);
    chunk.fill(0x41);
    expect(retr!.body!.equals(HOSTILE)).toBe(true);
  });

  it('gives an empty body when the first body line is the terminator', () => {
    for (const chunks of [['+OK 0 octets\r\n.\r\n'], ['+OK 0 octets\r\n', '.', '\r', '\n'], ['+OK 0 octets\r\n.\r', '\n']]) {
      const parser = new Pop3ReplyParser();
      parser.expect(true);
      const replies = feed(
        parser,
        chunks.map((c) => Buffer.from(c)),
      );
      expect(replies).toHaveLength(1);
      expect(replies[0]!.body).toEqual(Buffer.alloc(0));
    }
  });

  it('unstuffs a body line that is only ".." to "."', () => {
    const parser = new Pop3ReplyParser();
    parser.expect(true);
    const [reply] = parser.push(Buffer.from('+OK\r\n..\r\n.\r\n'));
    expect(reply!.body!.toString('latin1')).toBe('.\r\n');
  });

  it('keeps CRLF line ends and does not treat LF.LF or CR.CR as the terminator', () => {
    const parser = new Pop3ReplyParser();
    parser.expect(true);
    const replies = parser.push(Buffer.from('+OK\r\na\n.\nb\r.\rc\r\n.\r\n'));
    expect(replies[0]!.body!.toString('latin1')).toBe('a\n.\nb\r.\rc\r\n');
  });

  it('keeps the CR of a stuffed ".CR" line even when CR and the next byte arrive apart', () => {
    const parser = new Pop3ReplyParser();
    parser.expect(true);
    const replies = feed(
      parser,
      ['+OK\r\n', '.', '\r', 'x\r\n.\r\n'].map((c) => Buffer.from(c)),
    );
    expect(replies[0]!.body!.toString('latin1')).toBe('\rx\r\n');
  });

  it('treats -ERR to a multi-line command as a single line and stays in step', () => {
    const parser = new Pop3ReplyParser();
    parser.expect(true);
    parser.expect(true);
    const replies = parser.push(Buffer.from('-ERR no such message\r\n+OK\r\nbody\r\n.\r\n'));
    expect(replies.map((r) => [r.ok, r.text, r.body?.toString()])).toEqual([
      [false, 'no such message', undefined],
      [true, '', 'body\r\n'],
    ]);
  });

  describe('with pipelined commands', () => {
    const messages = [Buffer.from('first\r\n'), HOSTILE, Buffer.from('third\r\n.\r\n')];
    const stream = Buffer.concat([
      multiLineReply('+OK 1', messages[0]!),
      Buffer.from('-ERR [SYS/PERM] message 2 is gone\r\n'),
      multiLineReply('+OK 2', messages[1]!),
      multiLineReply('+OK 3', messages[2]!),
      DELE_WIRE,
      Buffer.from('+OK 2 320\r\n'),
    ]);
    const expectations = [true, true, true, true, false, false];

    function check(replies: Pop3Reply[]): void {
      expect(replies.map((r) => r.ok)).toEqual([true, false, true, true, true, true]);
      expect(replies[0]!.body).toEqual(messages[0]);
      expect(replies[1]!.text).toBe('[SYS/PERM] message 2 is gone');
      expect(replies[2]!.body!.equals(messages[1]!)).toBe(true);
      expect(replies[3]!.body).toEqual(messages[2]);
      expect(replies[4]!.body).toBeUndefined();
      expect(replies[5]!.text).toBe('2 320');
    }

    it('matches replies to commands in FIFO order from one chunk', () => {
      const parser = new Pop3ReplyParser();
      for (const e of expectations) parser.expect(e);
      expect(parser.pending).toBe(6);
      check(parser.push(stream));
      expect(parser.pending).toBe(0);
    });

    it('matches them when the stream arrives in 1 to 3 byte pieces', () => {
      for (let seed = 100; seed < 110; seed++) {
        const parser = new Pop3ReplyParser();
        for (const e of expectations) parser.expect(e);
        const random = mulberry32(seed);
        const chunks: Buffer[] = [];
        for (let i = 0; i < stream.length;) {
          const size = 1 + Math.floor(random() * 3);
          chunks.push(stream.subarray(i, i + size));
          i += size;
        }
        check(feed(parser, chunks));
      }
    });

    it('accepts expectations registered while earlier replies are being parsed', () => {
      const parser = new Pop3ReplyParser();
      parser.expect(true);
      // Cut inside the first body: the first reply is still incomplete.
      const half = 10;
      const first = parser.push(stream.subarray(0, half));
      expect(first).toHaveLength(0);
      for (const e of expectations.slice(1)) parser.expect(e);
      check([...first, ...parser.push(stream.subarray(half))]);
    });
  });

  it('flags a line that arrives while no command is pending as unsolicited', () => {
    const parser = new Pop3ReplyParser();
    const [line] = parser.push(Buffer.from('-ERR Disconnected for inactivity.\r\n'));
    expect(line).toEqual({ ok: false, text: 'Disconnected for inactivity.', body: undefined, unsolicited: true });
  });

  it('keeps a line unsolicited even if a command is registered before the line is complete', () => {
    const parser = new Pop3ReplyParser();
    expect(parser.push(Buffer.from('-ERR Disconn'))).toEqual([]);
    parser.expect(false);
    const replies = parser.push(Buffer.from('ected\r\n+OK\r\n'));
    expect(replies.map((r) => r.unsolicited)).toEqual([true, false]);
    expect(parser.pending).toBe(0);
  });

  it('accepts a status line ended by a bare LF and decodes its text as UTF-8', () => {
    const parser = new Pop3ReplyParser();
    parser.expect(false);
    const [reply] = parser.push(Buffer.from('+OK Grüße\n', 'utf8'));
    expect(reply!.text).toBe('Grüße');
  });

  describe('SASL challenges (RFC 5034)', () => {
    const wire = Buffer.from('+ \r\n+ eyJzdGF0dXMiOiI0MDEifQ==\r\n+\r\n+OK Logged in.\r\n-ERR [AUTH] no\r\n');

    function exchange(chunks: Buffer[]): Pop3Reply[] {
      const parser = new Pop3ReplyParser();
      const out: Pop3Reply[] = [];
      // Each answer is registered only after the challenge before it, as Pop3Transport does.
      for (let i = 0; i < 5; i++) parser.expect({ multiLine: false, continuation: true });
      for (const chunk of chunks) out.push(...parser.push(chunk));
      expect(parser.pending).toBe(0);
      return out;
    }

    it('tells "+ <base64>" and "+" challenges from +OK and -ERR, at every split position', () => {
      for (let cut = 0; cut <= wire.length; cut++) {
        const replies = exchange([wire.subarray(0, cut), wire.subarray(cut)]);
        expect(replies).toEqual([
          { ok: true, text: '', body: undefined, unsolicited: false, continuation: true },
          { ok: true, text: 'eyJzdGF0dXMiOiI0MDEifQ==', body: undefined, unsolicited: false, continuation: true },
          { ok: true, text: '', body: undefined, unsolicited: false, continuation: true },
          { ok: true, text: 'Logged in.', body: undefined, unsolicited: false },
          { ok: false, text: '[AUTH] no', body: undefined, unsolicited: false },
        ]);
        expect(replies[3]!.continuation).toBeUndefined();
      }
    });

    it('reads "+ " as a challenge only for commands registered with continuation', () => {
      const parser = new Pop3ReplyParser();
      parser.expect(false);
      parser.expect({ multiLine: false, continuation: true });
      const [plain, challenge] = parser.push(Buffer.from('+OK\r\n+ \r\n'));
      expect(plain!.continuation).toBeUndefined();
      expect(challenge!.continuation).toBe(true);
      expect(() => parser.expect({ multiLine: true, continuation: true })).toThrow(RangeError);
    });
  });

  it('throws on a line that is neither +OK nor -ERR, and keeps throwing', () => {
    const parser = new Pop3ReplyParser();
    parser.expect(false);
    expect(() => parser.push(Buffer.from('HTTP/1.1 400 Bad Request\r\n'))).toThrow(Pop3FramingError);
    expect(() => parser.push(Buffer.from('+OK\r\n'))).toThrow(/out of step/);
    expect(() => parser.expect(false)).toThrow(Pop3FramingError);
  });

  it('throws when a status line grows past its bound without a line end', () => {
    const parser = new Pop3ReplyParser();
    parser.expect(false);
    parser.push(Buffer.from('+OK '));
    expect(() => parser.push(Buffer.alloc(MAX_STATUS_LINE, 0x41))).toThrow(/longer than/);
  });

  it('frames a 25 MB message fed in 64 kB chunks in linear time', () => {
    const line = Buffer.from(`${'.x'.repeat(38)}\r\n`);
    const raw = Buffer.alloc(25 * 1024 * 1024 - ((25 * 1024 * 1024) % line.length));
    for (let i = 0; i < raw.length; i += line.length) line.copy(raw, i);
    const wire = Buffer.concat([multiLineReply('+OK', raw), DELE_WIRE]);
    const parser = new Pop3ReplyParser();
    parser.expect(true);
    parser.expect(false);
    const started = performance.now();
    const replies: Pop3Reply[] = [];
    for (let i = 0; i < wire.length; i += 65536) replies.push(...parser.push(wire.subarray(i, i + 65536)));
    const elapsed = performance.now() - started;
    expect(replies).toHaveLength(2);
    expect(replies[0]!.body!.length).toBe(raw.length);
    expect(replies[0]!.body!.equals(raw)).toBe(true);
    // Quadratic accumulation of 400 chunks takes seconds; linear takes well under one.
    expect(elapsed).toBeLessThan(3000);
  });

  it('dotStuff (test helper) agrees with the parser on arbitrary bytes', () => {
    const random = mulberry32(7);
    for (let round = 0; round < 200; round++) {
      const alphabet = [0x2e, 0x0d, 0x0a, 0x41, 0x00, 0xe9];
      const raw = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 40) }, () => alphabet[Math.floor(random() * 6)]!));
      const framed = Buffer.concat([raw, raw.subarray(-2).equals(Buffer.from('\r\n')) ? Buffer.alloc(0) : Buffer.from('\r\n')]);
      const parser = new Pop3ReplyParser();
      parser.expect(true);
      const [reply] = parser.push(multiLineReply('+OK', raw));
      expect(reply!.body!.equals(framed), JSON.stringify([...raw])).toBe(true);
      expect(dotStuff(raw).length).toBeGreaterThanOrEqual(raw.length);
    }
  });
});

describe('large messages announced as "+OK n octets"', () => {
  // Over the 1 MiB from which the body goes into one preallocated buffer.
  const big = Buffer.concat([HOSTILE, Buffer.alloc(2 * 1024 * 1024, 0x61), Buffer.from('\r\n..dot\r\nend\r\n')]);

  function frame(status: string, chunkSize: number): Buffer {
    const wire = multiLineReply(status, big);
    const parser = new Pop3ReplyParser();
    parser.expect(true);
    const replies = [];
    for (let at = 0; at < wire.length; at += chunkSize) replies.push(...parser.push(wire.subarray(at, at + chunkSize)));
    expect(replies).toHaveLength(1);
    return replies[0]!.body!;
  }

  it.each([
    ['the exact size', big.length],
    ['a size too small (the rest still arrives)', big.length - 1000],
    ['a size too large', big.length + 1000],
  ])('is byte-exact when the server announces %s', (_what, announced) => {
    for (const chunkSize of [1, 7, 16384, 65536]) {
      if (chunkSize === 1 && announced !== big.length) continue;
      expect(frame(`+OK ${announced} octets`, chunkSize).equals(big)).toBe(true);
    }
  });
});
