/**
 * A synthetic mailbox whose sizes look like real mail: most messages are a
 * few kilobytes of text, a long tail carries attachments, and 1% are over
 * 1 MB. Everything comes from a seeded PRNG, so two runs with the same seed
 * move the same bytes.
 */
import { makeCorpus, prng } from '../helpers/corpus.js';

export interface MailboxOptions {
  messages: number;
  seed: number;
  /** Adds one message of this many MiB (0: none), to see how the tool holds one huge message. */
  bigMessageMb: number;
}

export interface Mailbox {
  messages: Buffer[];
  bytes: number;
  medianBytes: number;
  overOneMb: number;
  largestBytes: number;
}

const MIB = 1024 * 1024;
const CRLF = '\r\n';

/**
 * Body sizes: 99% log-normal with a 4 KB median and sigma 1.1 (90% under
 * ~17 KB), capped at 1 MB; 1% log-uniform between 1 and 5 MB, the size of a
 * few photos or a PDF.
 */
function drawSize(rand: () => number): number {
  if (rand() < 0.01) return Math.round(MIB * Math.exp(rand() * Math.log(5)));
  const z = Math.sqrt(-2 * Math.log(rand() || Number.MIN_VALUE)) * Math.cos(2 * Math.PI * rand());
  return Math.round(Math.min(MIB, Math.max(400, 4096 * Math.exp(1.1 * z))));
}

const WORDS = [
  'the',
  'meeting',
  'invoice',
  'attached',
  'please',
  'find',
  'regards',
  'thanks',
  'tomorrow',
  'project',
  'report',
  'schedule',
  'budget',
  'review',
  'draft',
  'update',
  'Grüße',
  'café',
  'naïve',
  'déjà',
  'vu',
  'from',
  'to',
  'with',
  'about',
  'quarterly',
  'numbers',
  'holiday',
  'photos',
  'weekend',
  'call',
  'me',
  'when',
  'you',
  'can',
  'ok',
];

/** Pools of ready-made lines: building 300 MB one random character at a time would dominate the run. */
function linePools(rand: () => number): { text: Buffer[]; base64: Buffer[] } {
  const text: Buffer[] = [];
  for (let i = 0; i < 4096; i++) {
    const words: string[] = [];
    const target = 10 + Math.floor(rand() * 66);
    while (words.join(' ').length < target) words.push(WORDS[Math.floor(rand() * WORDS.length)]!);
    // Lines that start with '.' exercise POP3 dot-stuffing as real mail sometimes does.
    const line = (rand() < 0.02 ? '.' : '') + words.join(' ');
    text.push(Buffer.from(line + CRLF, 'utf8'));
  }
  const base64: Buffer[] = [];
  for (let i = 0; i < 4096; i++) {
    const raw = Buffer.alloc(57);
    for (let k = 0; k < raw.length; k++) raw[k] = Math.floor(rand() * 256);
    base64.push(Buffer.from(raw.toString('base64') + CRLF, 'latin1'));
  }
  return { text, base64 };
}

function fill(out: Buffer[], pool: Buffer[], bytes: number, rand: () => number): number {
  let written = 0;
  while (written < bytes) {
    const line = pool[Math.floor(rand() * pool.length)]!;
    out.push(line);
    written += line.length;
  }
  return written;
}

function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function message(n: number, bodyBytes: number, rand: () => number, pools: { text: Buffer[]; base64: Buffer[] }, seed: number): Buffer {
  const sent = Date.UTC(2005, 0, 1) + Math.floor(rand() * 20 * 365 * 86_400_000);
  const sender = Math.floor(rand() * 500);
  const attachment = bodyBytes > 24 * 1024;
  const headers = [
    `Return-Path: <sender${sender}@example.org>`,
    `Received: from mx${sender % 7}.example.net (mx${sender % 7}.example.net [192.0.2.${sender % 250}]) by mx.old.example with ESMTP id ${n.toString(16)}; ${rfc5322Date(sent + 4000)}`,
    `From: Sender ${sender} <sender${sender}@example.org>`,
    'To: alice@old.example',
    `Subject: bench message ${n} ${WORDS[n % WORDS.length]}`,
    `Date: ${rfc5322Date(sent)}`,
    `Message-ID: <bench.${seed}.${n}@example.org>`,
    'MIME-Version: 1.0',
  ];
  if (rand() < 0.3) headers.push('Status: RO');
  const parts: Buffer[] = [];
  if (!attachment) {
    headers.push('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit');
    parts.push(Buffer.from(headers.join(CRLF) + CRLF + CRLF, 'utf8'));
    fill(parts, pools.text, bodyBytes, rand);
  } else {
    const boundary = `=_bench_${n}`;
    headers.push(`Content-Type: multipart/mixed; boundary="${boundary}"`);
    parts.push(Buffer.from(headers.join(CRLF) + CRLF + CRLF, 'utf8'));
    parts.push(Buffer.from(`--${boundary}${CRLF}Content-Type: text/plain; charset=utf-8${CRLF}${CRLF}`));
    const text = fill(parts, pools.text, 1000 + Math.floor(rand() * 3000), rand);
    parts.push(
      Buffer.from(
        `--${boundary}${CRLF}Content-Type: application/octet-stream${CRLF}Content-Transfer-Encoding: base64${CRLF}` +
          `Content-Disposition: attachment; filename="file${n}.bin"${CRLF}${CRLF}`,
      ),
    );
    fill(parts, pools.base64, bodyBytes - text, rand);
    parts.push(Buffer.from(`--${boundary}--${CRLF}`));
  }
  return Buffer.concat(parts);
}

export function makeMailbox(o: MailboxOptions): Mailbox {
  const rand = prng(o.seed);
  const pools = linePools(rand);
  const messages: Buffer[] = [];
  for (let n = 1; n <= o.messages; n++) messages.push(message(n, drawSize(rand), rand, pools, o.seed));
  if (o.bigMessageMb > 0) {
    // Put the huge one in the middle, where reading and uploading both are in full swing.
    messages.splice(Math.floor(messages.length / 2), 0, message(o.messages + 1, Math.round(o.bigMessageMb * MIB), rand, pools, o.seed));
  }
  const sizes = messages.map((m) => m.length).sort((a, b) => a - b);
  return {
    messages,
    bytes: sizes.reduce((a, b) => a + b, 0),
    medianBytes: sizes[Math.floor(sizes.length / 2)] ?? 0,
    overOneMb: sizes.filter((s) => s > MIB).length,
    largestBytes: sizes[sizes.length - 1] ?? 0,
  };
}

/**
 * A mailbox with the shape of real mail for the whole-process runs: the
 * size mix of makeMailbox, with a few messages as they come from old
 * servers (about 3% without Message-ID, 5% with a raw 8-bit Subject, 2%
 * delivered twice), and the hard cases the tests compose (makeCorpus: 8-bit
 * bodies, bare CR and LF, NUL bytes, a 1 MB header block, a 3 MB attachment,
 * shared Message-IDs, exact duplicates without one). Returns the messages in
 * delivery order; `distinct` is how many a migration uploads at most.
 */
export function makeRealMailbox(o: {
  messages: number;
  seed: number;
}): Mailbox & { withoutMessageId: number; eightBit: number; duplicates: number } {
  const rand = prng(o.seed + 1000);
  const base = makeMailbox({ messages: o.messages, seed: o.seed, bigMessageMb: 0 }).messages;
  const messages: Buffer[] = [];
  let withoutMessageId = 0;
  let eightBit = 0;
  let duplicates = 0;
  for (const m of base) {
    let out = m;
    const draw = rand();
    if (draw < 0.03) {
      const at = out.indexOf('\r\nMessage-ID: ');
      const end = at === -1 ? -1 : out.indexOf('\r\n', at + 2);
      if (end !== -1) {
        out = Buffer.concat([out.subarray(0, at), out.subarray(end)]);
        withoutMessageId++;
      }
    } else if (draw < 0.08) {
      const at = out.indexOf('\r\nSubject: ');
      const end = at === -1 ? -1 : out.indexOf('\r\n', at + 2);
      if (end !== -1) {
        // Raw UTF-8 or Latin-1 in a header, as many clients sent before RFC 2047 was honoured.
        const subject =
          rand() < 0.5
            ? Buffer.from(`Subject: Grüße aus Köln, Ærø ✓ ${messages.length}`, 'utf8')
            : Buffer.from(`Subject: caf\xe9 cr\xe8me \xa3${messages.length}`, 'latin1');
        out = Buffer.concat([out.subarray(0, at + 2), subject, out.subarray(end)]);
        eightBit++;
      }
    }
    messages.push(out);
    if (rand() < 0.02 && messages.length > 1) {
      messages.push(Buffer.from(messages[Math.floor(rand() * (messages.length - 1))]!));
      duplicates++;
    }
  }
  for (const c of makeCorpus(0, { bigAttachmentBytes: 3 * MIB, seed: o.seed })) messages.push(c.raw);
  const sizes = messages.map((m) => m.length).sort((a, b) => a - b);
  return {
    messages,
    bytes: sizes.reduce((a, b) => a + b, 0),
    medianBytes: sizes[Math.floor(sizes.length / 2)] ?? 0,
    overOneMb: sizes.filter((s) => s > MIB).length,
    largestBytes: sizes[sizes.length - 1] ?? 0,
    withoutMessageId,
    eightBit,
    duplicates,
  };
}
