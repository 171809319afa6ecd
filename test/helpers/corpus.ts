/**
 * A generated mailbox that exercises every way a message can be hard to move
 * byte for byte, with what each message should become on the IMAP side.
 */

export interface CorpusMessage {
  /** Bytes as stored in the source Maildir. */
  raw: Buffer;
  /** Flags the migrated copy must carry (sorted). */
  flags: string[];
  /** Expected INTERNALDATE (ms since epoch), or null for "the server's time". */
  date: number | null;
  /** Messages in the same group share a dedup key: only the first one is uploaded. */
  group: string;
  label: string;
}

/** Small deterministic PRNG (mulberry32) so a failing corpus can be reproduced. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CRLF = '\r\n';

function msg(headers: string[], body: Buffer | string, eol = CRLF): Buffer {
  return Buffer.concat([Buffer.from(headers.join(eol) + eol + eol, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1')]);
}

function base(i: number, extra: string[] = [], opts: { mid?: string | null; date?: string; received?: string } = {}): string[] {
  const h: string[] = [];
  h.push(
    `Received: from relay${i}.example.net (relay${i}.example.net [192.0.2.${i % 250}]) by mx.old.example with ESMTP id ${i}; ${opts.received ?? 'Tue, 01 Jul 2003 10:52:37 +0200'}`,
  );
  h.push(`From: Sender ${i} <sender${i}@example.org>`);
  h.push(`To: alice@old.example`);
  h.push(`Subject: message ${i}`);
  h.push(`Date: ${opts.date ?? 'Mon, 30 Jun 2003 09:00:00 +0000'}`);
  if (opts.mid !== null) h.push(`Message-ID: ${opts.mid ?? `<m${i}.corpus@example.org>`}`);
  h.push(...extra);
  return h;
}

const RECEIVED_MS = Date.UTC(2003, 6, 1, 8, 52, 37);

/**
 * At least `count` messages; the special cases come first, then varied
 * ordinary ones. `bigAttachmentBytes` sizes the large-attachment message.
 */
export function makeCorpus(count: number, options: { bigAttachmentBytes?: number; seed?: number } = {}): CorpusMessage[] {
  const rand = prng(options.seed ?? 7);
  const out: CorpusMessage[] = [];
  const add = (label: string, raw: Buffer, flags: string[] = [], date: number | null = RECEIVED_MS, group?: string) =>
    out.push({ raw, flags: [...flags].sort(), date, group: group ?? `g${out.length}`, label });

  let i = 0;
  add(
    '8-bit latin1 body',
    msg(
      base(++i, ['Content-Type: text/plain; charset=iso-8859-1']),
      Buffer.from('Gr\xfc\xdfe, caf\xe9 \xa3100\r\n\xff\xfe\x80\r\n', 'latin1'),
    ),
  );
  add(
    'utf-8 body and subject',
    msg(
      base(++i, ['Subject: Grüße ✓', 'Content-Type: text/plain; charset=utf-8']).map((l) => Buffer.from(l, 'utf8').toString('latin1')),
      Buffer.from('Grüße ✓ 日本語\r\n', 'utf8'),
    ),
  );
  add('dot lines', msg(base(++i), '.\r\n..\r\n...\r\n.foo\r\n..bar\r\nend\r\n.'));
  add('lone dot line', msg(base(++i), 'before\r\n.\r\nafter\r\n'));
  add('NUL bytes', msg(base(++i), Buffer.from('a\0b\r\n\0\0\0\r\nend\0\r\n', 'latin1')));
  add('bare LF', msg(base(++i), 'line1\nline2\nline3\n', '\n'));
  add('mixed line ends', msg(base(++i), 'crlf\r\nlf\nlast\r\n'));
  add('bare CR', msg(base(++i), 'one\rtwo\r\nthree\r\r\n'));
  add('bare CR, no Message-ID', msg(base(++i, [], { mid: null }), 'cr\r\r\nrun\r\r\r\nend\r\n'));
  add('no trailing newline', msg(base(++i), 'no newline at end'));
  add('empty body', msg(base(++i), ''));
  {
    // A 1 MB header block: many folded Received-like trace fields.
    const hs = base(++i);
    for (let k = 0; hs.join(CRLF).length < 1024 * 1024; k++) hs.push(`X-Trace-${k}: ${'x'.repeat(60)}${CRLF}\t${'y'.repeat(60)}`);
    add('1 MB header block', msg(hs, 'small body\r\n'));
  }
  {
    const size = options.bigAttachmentBytes ?? 25 * 1024 * 1024;
    const b64 = randomBytesSeeded(Math.floor((size * 3) / 4), rand)
      .toString('base64')
      .replace(/.{76}/g, `$&${CRLF}`);
    const body = `--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="big.bin"\r\n\r\n${b64}\r\n--b--\r\n`;
    add('large attachment', msg(base(++i, ['MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"']), body));
  }
  add('no Message-ID', msg(base(++i, [], { mid: null }), 'no id\r\n'));
  {
    // Two different messages that share a Message-ID: the second is a duplicate by key, with a different size.
    const g = 'shared-mid';
    add('shared Message-ID (kept)', msg(base(++i, [], { mid: '<shared@example.org>' }), 'first version\r\n'), [], RECEIVED_MS, g);
    add(
      'shared Message-ID (skipped)',
      msg(base(++i, [], { mid: '<shared@example.org>' }), 'second, longer version\r\n'),
      [],
      RECEIVED_MS,
      g,
    );
  }
  {
    const g = 'exact-dup';
    const m = msg(base(++i, [], { mid: null }), 'exact duplicate without id\r\n');
    add('exact duplicate (kept)', m, [], RECEIVED_MS, g);
    add('exact duplicate (skipped)', Buffer.from(m), [], RECEIVED_MS, g);
  }
  add('folded Message-ID', msg(base(++i, [], { mid: `${CRLF} <folded.${i}@example.org>` }), 'folded\r\n'));
  add('Status: RO', msg(base(++i, ['Status: RO']), 'read\r\n'), ['\\Seen']);
  add('Status: O', msg(base(++i, ['Status: O']), 'old\r\n'), []);
  add('X-Status: AFT', msg(base(++i, ['X-Status: AFT']), 'x\r\n'), ['\\Answered', '\\Flagged', '\\Draft']);
  add('X-Status: D', msg(base(++i, ['X-Status: D']), 'deleted mark\r\n'), []);
  add('X-Mozilla-Status 0x1007', msg(base(++i, ['X-Mozilla-Status: 1007']), 'moz\r\n'), [
    '\\Seen',
    '\\Answered',
    '\\Flagged',
    '$Forwarded',
  ]);
  add('X-Mozilla-Status 0x0008', msg(base(++i, ['X-Mozilla-Status: 0008']), 'moz expunged\r\n'), []);
  add('X-Keywords', msg(base(++i, ['X-Keywords: $Label1, Work  Personal']), 'kw\r\n'), ['$Label1', 'Work', 'Personal']);
  add('X-Mozilla-Keys with invalid', msg(base(++i, ['X-Mozilla-Keys: ok-word bad"word']), 'kw\r\n'), ['ok-word']);
  add('all flag headers', msg(base(++i, ['Status: R', 'X-Status: A', 'X-Mozilla-Status: 0004', 'X-Keywords: Important']), 'all\r\n'), [
    '\\Seen',
    '\\Answered',
    '\\Flagged',
    'Important',
  ]);
  add('lower-case flag headers', msg(base(++i, ['status: r', 'x-status: f']), 'lc\r\n'), ['\\Seen', '\\Flagged']);
  add(
    'no Received, Date only',
    msg(
      [`From: a@example.org`, `Subject: date only`, `Date: Sat, 15 Mar 2008 14:03:00 -0500`, `Message-ID: <date-only@example.org>`],
      'd\r\n',
    ),
    [],
    Date.UTC(2008, 2, 15, 19, 3, 0),
  );
  add(
    'no usable date',
    msg([`From: a@example.org`, `Subject: no date`, `Date: sometime last week`, `Message-ID: <no-date@example.org>`], 'n\r\n'),
    [],
    null,
  );
  add('two-digit year in Received', msg(base(++i, [], { received: '1 Jul 99 10:52 EST' }), 'old\r\n'), [], Date.UTC(1999, 6, 1, 15, 52, 0));

  const words = ['alpha', 'beta', 'gamma', 'delta', 'Grüße', 'caf\xe9', 'naïve', '..', '.', 'From ', '>From'];
  while (out.length < count) {
    const n = ++i;
    const lines: string[] = [];
    // Sizes from a few hundred bytes to ~60 KB, most small, like real mail.
    const nLines = Math.floor(Math.pow(rand(), 3) * 800) + 1;
    for (let l = 0; l < nLines; l++) {
      const w = words[Math.floor(rand() * words.length)]!;
      lines.push(rand() < 0.05 ? `.${w}` : `${w} ${'z'.repeat(Math.floor(rand() * 60))}`);
    }
    const flagHdr = rand() < 0.3 ? ['Status: RO'] : [];
    add(`ordinary ${n}`, msg(base(n, flagHdr), lines.join(CRLF) + CRLF), flagHdr.length ? ['\\Seen'] : []);
  }
  return out;
}

function randomBytesSeeded(n: number, rand: () => number): Buffer {
  // One 4 KiB block, repeated: cheap for a 25 MB attachment. It comes from a PRNG of its own,
  // seeded by one draw of `rand`, so the rest of the corpus stays what the seed made it.
  const own = prng(Math.floor(rand() * 2 ** 32));
  const block = Buffer.alloc(4096);
  for (let i = 0; i < block.length; i++) block[i] = Math.floor(own() * 256);
  const out = Buffer.alloc(n);
  for (let o = 0; o < n; o += 4096) block.copy(out, o, 0, Math.min(4096, n - o));
  return out;
}

/**
 * A small corpus for migrating between different real servers: every
 * message distinct (no intended duplicates), nothing a server must refuse
 * (no NUL: Cyrus rejects it), every message with a From: header (Mailutils
 * refuses APPEND without one), and the cases servers are known to treat
 * differently: 8-bit header bytes, bare CRs, CR runs, bare LFs, no
 * Message-ID, lines starting with "From " or a dot, a missing final line end.
 */
export function makeInteropCorpus(count = 48, seed = 11): Buffer[] {
  const rand = prng(seed);
  const out: Buffer[] = [];
  const date = 'Mon, 30 Jun 2003 09:00:00 +0000';
  const hdr = (n: number, extra: string[] = [], mid: string | null = `<i${n}.interop@example.org>`) => [
    `Received: from relay${n}.example.net by mx.old.example with ESMTP id i${n}; Tue, 01 Jul 2003 10:52:37 +0200`,
    `From: Sender ${n} <sender${n}@example.org>`,
    'To: alice@old.example',
    `Date: ${date}`,
    ...(mid === null ? [] : [`Message-ID: ${mid}`]),
    ...extra,
  ];
  let n = 0;
  const add = (headers: string[], body: Buffer | string, eol = CRLF) => out.push(msg(headers, body, eol));
  // 8-bit header bytes: Latin-1 and raw UTF-8 in Subject and From.
  add(hdr(++n, ['Subject: Offer: \xa37,000 caf\xe9', 'Content-Type: text/plain; charset=iso-8859-1']), 'Gr\xfc\xdfe\r\n');
  add(
    hdr(++n, ['Subject: ' + Buffer.from('Grüße ✓ 日本', 'utf8').toString('latin1'), 'Content-Type: text/plain; charset=utf-8']),
    Buffer.from('Grüße ✓\r\n', 'utf8'),
  );
  add(
    [
      `From: J\xfcrgen M\xfcller <jm@example.org>`,
      'To: alice@old.example',
      `Date: ${date}`,
      `Message-ID: <i${++n}.interop@example.org>`,
      'Subject: 8-bit From',
    ],
    'hi\r\n',
  );
  add(hdr(++n, ['Subject: 8-bit header, no Message-ID \xe9t\xe9'], null), 'no id, 8-bit\r\n');
  // Bare CRs and CR runs.
  add(hdr(++n, ['Subject: bare CR']), 'one\rtwo\r\nthree\r\n');
  add(hdr(++n, ['Subject: CR run']), 'run\r\r\nend\r\n');
  add(hdr(++n, ['Subject: bare CR, no Message-ID'], null), 'cr\r\r\nrun\r\r\r\nmid\rline\r\n');
  // Line ends and framing.
  add(hdr(++n, ['Subject: bare LF']), 'line1\nline2\n', '\n');
  add(hdr(++n, ['Subject: dots']), '.\r\n..\r\n.foo\r\nend\r\n');
  add(hdr(++n, ['Subject: From lines']), 'From the start\r\n>From quoted\r\n>>From twice\r\nend\r\n');
  add(hdr(++n, ['Subject: no final line end']), 'no newline at end');
  add(hdr(++n, ['Subject: empty body']), '');
  // Messages without Message-ID, told apart only by content.
  for (let k = 0; k < 4; k++) add(hdr(++n, [`Subject: no Message-ID ${k}`], null), `body ${k} ${'x'.repeat(k * 37)}\r\n`);
  // Flag-bearing headers some servers rewrite.
  add(hdr(++n, ['Subject: read', 'Status: RO']), 'read\r\n');
  add(hdr(++n, ['Subject: flagged', 'X-Status: F']), 'flagged\r\n');
  const words = ['alpha', 'beta', 'gamma', 'From ', '.', 'caf\xe9'];
  while (out.length < count) {
    const lines: string[] = [];
    const nLines = Math.floor(Math.pow(rand(), 3) * 400) + 1;
    for (let l = 0; l < nLines; l++) lines.push(`${words[Math.floor(rand() * words.length)]!} ${'z'.repeat(Math.floor(rand() * 70))}`);
    ++n;
    add(hdr(n, [`Subject: ordinary ${n}`], rand() < 0.15 ? null : `<i${n}.interop@example.org>`), lines.join(CRLF) + CRLF);
  }
  return out;
}

export interface MimeTreeMessage {
  raw: Buffer;
  label: string;
  /** Unique in the corpus: `Subject: tree <n>`. */
  subject: string;
  /** Text after the closing boundary of the outermost multipart: a MIME-tree store serves it elsewhere. */
  epilogue: boolean;
}

/**
 * Real-shaped mail for a server that stores a MIME tree and rebuilds the
 * message from it (WildDuck): every message distinct and with a Message-ID;
 * multipart/alternative (some with the usual preamble), multipart/mixed with
 * a base64 attachment in 76-column lines, nested multiparts, plain text
 * (some ending in blank lines). One in `epilogueEvery` multipart messages has
 * text after its closing boundary, as real mail does: blank lines a client
 * left, or a mailing list's footer added after the last part. One in
 * `noIdEvery` multipart messages has no Message-ID (its key then has a
 * digest of its body), some of them with such text too.
 */
export function makeMimeTreeCorpus(
  count: number,
  options: { seed?: number; epilogueEvery?: number; noIdEvery?: number } = {},
): MimeTreeMessage[] {
  const rand = prng(options.seed ?? 26);
  const every = options.epilogueEvery ?? 8;
  const noIdEvery = options.noIdEvery ?? 5;
  const out: MimeTreeMessage[] = [];
  const words = ['alpha', 'beta', 'gamma', 'delta', 'meeting', 'invoice', 'attached', 'regards', 'thanks', 'tomorrow'];
  const text = (n: number) => {
    const lines: string[] = [];
    for (let l = 0; l < n; l++) {
      const len = 3 + Math.floor(rand() * 10);
      lines.push(Array.from({ length: len }, () => words[Math.floor(rand() * words.length)]!).join(' '));
    }
    return lines.join(CRLF) + CRLF;
  };
  const epilogues = [
    CRLF,
    CRLF + CRLF,
    `${CRLF}_______________________________________________${CRLF}list mailing list${CRLF}list@lists.example.org${CRLF}`,
  ];
  let multipart = 0;
  for (let i = 1; out.length < count; i++) {
    const shape = rand();
    const subject = `tree ${i}`;
    const headers = [
      `Received: from relay${i}.example.net (relay${i}.example.net [192.0.2.${i % 250}]) by mx.old.example with ESMTP id w${i}; Tue, 01 Jul 2003 10:52:37 +0200`,
      `From: Sender ${i} <sender${i}@example.org>`,
      'To: alice@old.example',
      `Subject: ${subject}`,
      'Date: Mon, 30 Jun 2003 09:00:00 +0000',
      `Message-ID: <t${i}.tree@example.org>`,
      'MIME-Version: 1.0',
    ];
    if (shape < 0.15) {
      const body = text(1 + Math.floor(rand() * 20)) + (rand() < 0.3 ? CRLF + CRLF : '');
      out.push({
        raw: msg([...headers, 'Content-Type: text/plain; charset=us-ascii'], body),
        label: `plain ${i}`,
        subject,
        epilogue: false,
      });
      continue;
    }
    const epilogue = ++multipart % every === 0;
    if (multipart % noIdEvery === 0) headers.splice(5, 1);
    const tail = epilogue ? epilogues[Math.floor(rand() * epilogues.length)]! : '';
    const b = `----=_Part_${i}_${Math.floor(rand() * 1e9)}`;
    const plain = text(2 + Math.floor(rand() * 30));
    const html = `<html><body>${CRLF}${plain.replace(/\r\n/g, `<br>${CRLF}`)}</body></html>${CRLF}`;
    const alternative = (bd: string) =>
      `--${bd}${CRLF}Content-Type: text/plain; charset=utf-8${CRLF}Content-Transfer-Encoding: 7bit${CRLF}${CRLF}${plain}` +
      `--${bd}${CRLF}Content-Type: text/html; charset=utf-8${CRLF}Content-Transfer-Encoding: 7bit${CRLF}${CRLF}${html}--${bd}--${CRLF}`;
    if (shape < 0.55) {
      const preamble = rand() < 0.5 ? `This is a multi-part message in MIME format.${CRLF}` : '';
      out.push({
        raw: msg([...headers, `Content-Type: multipart/alternative; boundary="${b}"`], preamble + alternative(b) + tail),
        label: `alternative ${i}`,
        subject,
        epilogue,
      });
      continue;
    }
    const attachment = randomBytesSeeded(200 + Math.floor(rand() * 6000), rand)
      .toString('base64')
      .replace(/.{76}/g, `$&${CRLF}`)
      .replace(/\r\n$/, '');
    const file =
      `--${b}${CRLF}Content-Type: application/pdf; name="doc${i}.pdf"${CRLF}Content-Transfer-Encoding: base64${CRLF}` +
      `Content-Disposition: attachment; filename="doc${i}.pdf"${CRLF}${CRLF}${attachment}${CRLF}--${b}--${CRLF}`;
    const first =
      shape < 0.8
        ? `--${b}${CRLF}Content-Type: text/plain; charset=utf-8${CRLF}${CRLF}${plain}`
        : `--${b}${CRLF}Content-Type: multipart/alternative; boundary="alt-${b}"${CRLF}${CRLF}${alternative(`alt-${b}`)}${CRLF}`;
    out.push({
      raw: msg([...headers, `Content-Type: multipart/mixed; boundary="${b}"`], first + file + tail),
      label: shape < 0.8 ? `mixed ${i}` : `nested ${i}`,
      subject,
      epilogue,
    });
  }
  return out;
}
