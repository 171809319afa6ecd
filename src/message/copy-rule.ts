/**
 * The one rule for "this copy is the message", shared by migrate, verify
 * and --delete. A copy is the message when its bytes are the original's, or
 * when they are equal once the changes real servers are known to make on
 * storage are undone on both sides:
 * - line ends: Dovecot folds runs of CRs before LF, Cyrus turns a bare CR
 *   into a line end, Courier deletes it, GNU Mailutils adds a line end to an
 *   empty body;
 * - 8-bit bytes in the header section become 'X' (Cyrus munge8bit);
 * - GNU Mailutils adds or rewrites X-IMAPbase, X-UID, X-UIDL and Status.
 * The comparison form drops every CR and LF byte, turns 8-bit header bytes
 * into 'X' and leaves those header fields out. Anything else that differs
 * (one byte of the body, a header value) makes the copy another message.
 */
import { createHash, type Hash } from 'node:crypto';

/** Header fields GNU Mailutils adds or rewrites when it stores a message. */
const SERVER_FIELDS = /^(x-imapbase|x-uid|x-uidl|status)$/i;

/** The server changes, by the name reports give them. */
export const SERVER_CHANGES = {
  lineEnds: 'line ends rewritten',
  munge8bit: '8-bit header bytes replaced by X',
  serverFields: 'X-IMAPbase/X-UID/X-UIDL/Status headers added or rewritten',
} as const;

type Change = keyof typeof SERVER_CHANGES;
type Undo = Readonly<Record<Change, boolean>>;

const ALL: Undo = { lineEnds: true, munge8bit: true, serverFields: true };

export interface CopyDigests {
  /** SHA-256 of the bytes, truncated to 128 bits (hex). */
  exact: string;
  /** The same of the comparison form (see the file's header). */
  tolerant: string;
}

/** Where the header section ends: after the first empty line (CRLF or LF), or the whole message. */
function headerLength(content: Buffer): number {
  for (let lf = content.indexOf(0x0a); lf !== -1; lf = content.indexOf(0x0a, lf + 1)) {
    let next = lf + 1;
    if (content[next] === 0x0d) next++;
    if (content[next] === 0x0a) return next + 1;
  }
  return content.length;
}

/** `bytes` without CR and LF (with lineEnds) and with 8-bit bytes made 'X' (with munge). */
function comparable(bytes: Buffer, lineEnds: boolean, munge: boolean): Buffer {
  if (!lineEnds && !munge) return bytes;
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (const b of bytes) {
    if (lineEnds && (b === 0x0d || b === 0x0a)) continue;
    out[n++] = munge && b >= 0x80 ? 0x58 : b;
  }
  return out.subarray(0, n);
}

/** The header section one field at a time (RFC 5322 folding kept with its field). */
function* fields(header: Buffer): Generator<{ name: string; bytes: Buffer }> {
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(0x0a, start);
    while (end !== -1 && (header[end + 1] === 0x20 || header[end + 1] === 0x09)) end = header.indexOf(0x0a, end + 1);
    const stop = end === -1 ? header.length : end + 1;
    const bytes = header.subarray(start, stop);
    const colon = bytes.indexOf(0x3a);
    yield { name: colon === -1 ? '' : bytes.toString('latin1', 0, colon).trim(), bytes };
    start = stop;
  }
}

/** Hashes `bytes` leaving out every CR and LF, a run at a time rather than a byte at a time. */
function updateWithoutLineEnds(hash: Hash, bytes: Buffer): void {
  let start = 0;
  while (start < bytes.length) {
    const lf = bytes.indexOf(0x0a, start);
    const end = lf === -1 ? bytes.length : lf;
    let cr = bytes.indexOf(0x0d, start);
    let from = start;
    while (cr !== -1 && cr < end) {
      if (cr > from) hash.update(bytes.subarray(from, cr));
      from = cr + 1;
      cr = bytes.indexOf(0x0d, from);
    }
    if (end > from) hash.update(bytes.subarray(from, end));
    start = end + 1;
  }
}

function formDigest(content: Buffer, undo: Undo): string {
  const hash = createHash('sha256');
  const split = headerLength(content);
  for (const field of fields(content.subarray(0, split))) {
    if (undo.serverFields && SERVER_FIELDS.test(field.name)) continue;
    hash.update(comparable(field.bytes, undo.lineEnds, undo.munge8bit));
  }
  const body = content.subarray(split);
  if (undo.lineEnds) updateWithoutLineEnds(hash, body);
  else hash.update(body);
  return hash.digest('hex').slice(0, 32);
}

export function copyDigests(content: Buffer): CopyDigests {
  return { exact: createHash('sha256').update(content).digest('hex').slice(0, 32), tolerant: formDigest(content, ALL) };
}

/**
 * - identical: byte for byte;
 * - server-changed: equal once the known server changes are undone;
 * - different: another message.
 */
export type CopyVerdict = 'identical' | 'server-changed' | 'different';

export function judgeCopy(original: CopyDigests, copy: CopyDigests): CopyVerdict {
  if (original.exact === copy.exact) return 'identical';
  return original.tolerant === copy.tolerant ? 'server-changed' : 'different';
}

/** The fewest known changes that make `copy` equal to `original`, by name; undefined when none do. */
export function serverChanges(original: Buffer, copy: Buffer): string[] | undefined {
  const names = Object.keys(SERVER_CHANGES) as Change[];
  const subsets: Change[][] = [];
  for (let mask = 0; mask < 1 << names.length; mask++) subsets.push(names.filter((_, i) => mask & (1 << i)));
  subsets.sort((a, b) => a.length - b.length);
  for (const subset of subsets) {
    const undo = {
      lineEnds: subset.includes('lineEnds'),
      munge8bit: subset.includes('munge8bit'),
      serverFields: subset.includes('serverFields'),
    };
    if (formDigest(original, undo) === formDigest(copy, undo)) return subset.map((c) => SERVER_CHANGES[c]);
  }
  return undefined;
}
