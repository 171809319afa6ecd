/**
 * The one rule for "this copy is the message", shared by migrate, verify
 * and --delete. A copy is the message when its bytes are the original's, or
 * when it has the original's lines, with the same content in the same order,
 * once the changes below are undone. Each is a change a named server makes
 * when it stores a message, measured on Debian 12's packages (APPEND, then
 * FETCH BODY[]); nothing else is forgiven.
 *
 * A message is read as lines: each LF ends a line, together with the run of
 * CRs right before it (LF, CRLF and CR CR LF end a line alike); a CR anywhere
 * else is a bare CR, and it is content. The header section is the lines up
 * to the first empty one; a field is a line and the lines after it that
 * start with SP or HTAB.
 *
 * - `lineEnds` (line ends rewritten): only the bytes that end each line
 *   differ. Dovecot drops a CR from each run of CRs before LF; Dovecot,
 *   Courier and Mailutils store a LF-only message with CRLF. A line not
 *   ended in one (the last) must not be ended in the other: a POP3 message
 *   always ends with a line end, and servers keep it.
 * - `bareCrDeleted` (bare CR deleted): Courier deletes every bare CR.
 *   The copy's lines are the original's with their bare CRs left out; the
 *   line ends stay where they were, so a joined line is not this change.
 *   Cyrus 3.6 keeps bare CRs; no server measured makes one a line end, which
 *   would split a line, so that is not forgiven.
 * - `emptyBody` (line end added to an empty body): GNU Mailutils stores a
 *   message without body (nothing after the empty line, or no empty line)
 *   with an empty line and one more empty line as its body, and as a POP3
 *   source it rewrites its mailbox so between two readings. So no body and
 *   a body of exactly one empty line are one body, either way round; any
 *   other empty line added or removed is another message.
 * - `munge8bit` (8-bit header bytes replaced by X): Cyrus (munge8bit, on
 *   by default) stores each byte 0x80-0xFF of the header section as 'X'.
 *   Only that way round: an 'X' in the original is not an 8-bit byte in
 *   the copy, and the body keeps its bytes.
 * - `serverFields` (X-IMAPbase/X-UID/X-UIDL/Status headers added or
 *   rewritten): GNU Mailutils adds X-IMAPbase and X-UID after the other
 *   fields, and as a POP3 source adds X-UIDL and rewrites Status between
 *   sessions. Fields of those names are left out of the header section on
 *   both sides, wherever they are.
 *
 * Not forgiven: a changed NUL (Dovecot deletes it on a plain APPEND,
 * Mailutils cuts the line there; a message with NUL is compared as FETCH
 * BINARY returns it); a line end added to a last line without one (Courier
 * and Mailutils do it, but a POP3 message always ends with a line end); a
 * moved, joined, split, added or removed line (a MIME-tree store that
 * serves the blank lines after the last part before the first one has
 * changed the message).
 */
import { createHash } from 'node:crypto';

const CR = 0x0d;
const LF = 0x0a;

/** Header fields GNU Mailutils adds or rewrites when it stores a message. */
const SERVER_FIELDS = /^(x-imapbase|x-uid|x-uidl|status)$/i;

/** The server changes, by the name reports give them, in the order reports list them. */
export const SERVER_CHANGES = {
  lineEnds: 'line ends rewritten',
  bareCrDeleted: 'bare CR deleted',
  emptyBody: 'line end added to an empty body',
  munge8bit: '8-bit header bytes replaced by X',
  serverFields: 'X-IMAPbase/X-UID/X-UIDL/Status headers added or rewritten',
} as const;

type Change = keyof typeof SERVER_CHANGES;
const CHANGE_NAMES = Object.keys(SERVER_CHANGES) as Change[];
type Undo = Readonly<Record<Change, boolean>>;

/**
 * What the comparison undoes on both sides (the copy's lines, whatever ends
 * them) and what it applies to the original only, as the server would (a
 * server deletes bare CRs or munges, it never puts them back).
 */
const BOTH_WAYS: Undo = { lineEnds: true, bareCrDeleted: false, emptyBody: true, munge8bit: false, serverFields: true };

export interface CopyDigests {
  /** SHA-256 of the bytes, truncated to 128 bits (hex). */
  exact: string;
  /** The same of the message's lines (see the file's header): line ends, an empty body and Mailutils' fields undone. */
  tolerant: string;
  /**
   * The same of the message as a server that deletes bare CRs, munges 8-bit
   * header bytes, or both, would store it: only those that differ from
   * `tolerant`, so usually none. A copy whose `tolerant` is one of these is
   * the message too.
   */
  storedAs: readonly string[];
}

/** Shared by the many messages a server would store as they are. */
const NONE: readonly string[] = [];

/** Where the content of the line starting at `start` ends (before the CR run of its line end), and where the next line starts. */
function lineAt(bytes: Buffer, start: number): { end: number; next: number; ended: boolean } {
  const lf = bytes.indexOf(LF, start);
  if (lf === -1) return { end: bytes.length, next: bytes.length, ended: false };
  let end = lf;
  while (end > start && bytes[end - 1] === CR) end--;
  return { end, next: lf + 1, ended: true };
}

/** Whether the line starting at `start` is followed by nothing, or by exactly one empty line. */
function atMostOneEmptyLine(bytes: Buffer, start: number): boolean {
  if (start >= bytes.length) return true;
  const line = lineAt(bytes, start);
  return line.ended && line.end === start && line.next === bytes.length;
}

function fieldName(bytes: Buffer, start: number, end: number): string {
  const colon = bytes.indexOf(0x3a, start);
  return colon === -1 || colon >= end ? '' : bytes.toString('latin1', start, colon).trim();
}

/**
 * The bytes compared: the message's lines with `undo` applied, each ended by
 * LF (with lineEnds) or by its own line end. `original` applies the
 * one-way changes (bareCrDeleted, munge8bit) as the server would.
 */
function form(content: Buffer, undo: Undo, original: boolean): Buffer {
  const out = Buffer.allocUnsafe(content.length + 8);
  let n = 0;
  const deleteCr = original && undo.bareCrDeleted;
  const munge = original && undo.munge8bit;
  const end = (from: number, to: number) => {
    if (undo.lineEnds) out[n++] = LF;
    else n += content.copy(out, n, from, to);
  };
  let inHeader = true;
  let dropping = false;
  let lastEnded = true;
  let start = 0;
  while (start < content.length) {
    const line = lineAt(content, start);
    lastEnded = line.ended;
    if (inHeader && line.end === start && line.ended) {
      inHeader = false;
      end(line.end, line.next);
      start = line.next;
      if (undo.emptyBody && atMostOneEmptyLine(content, start)) break;
      continue;
    }
    if (inHeader) {
      const first = content[start];
      if (first !== 0x20 && first !== 0x09) dropping = undo.serverFields && SERVER_FIELDS.test(fieldName(content, start, line.end));
      if (dropping) {
        start = line.next;
        continue;
      }
    }
    if (deleteCr || (munge && inHeader)) {
      for (let i = start; i < line.end; i++) {
        const b = content[i]!;
        if (deleteCr && b === CR) continue;
        out[n++] = munge && inHeader && b >= 0x80 ? 0x58 : b;
      }
    } else n += content.copy(out, n, start, line.end);
    if (line.ended) end(line.end, line.next);
    start = line.next;
  }
  // No empty line: a message without body, which Mailutils stores with one (see emptyBody).
  if (inHeader && undo.emptyBody) {
    if (!lastEnded) n += undo.lineEnds ? out.write('\n', n, 'latin1') : out.write('\r\n', n, 'latin1');
    n += undo.lineEnds ? out.write('\n', n, 'latin1') : out.write('\r\n', n, 'latin1');
  }
  return out.subarray(0, n);
}

function digest(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

/**
 * A digest of the message's lines in no order (each line without the bytes
 * that end it, repeats counted). Not a rule for "this copy is the message":
 * a copy with the message's lines in another order is another message by the
 * copy rule. It recognises what a MIME-tree store (WildDuck) serves for a
 * message with text after a multipart's closing boundary: that text moved
 * before the first part. Such a copy is the server's, changed, not proven:
 * it is not to be taken for another message and uploaded again.
 */
export function movedLinesDigest(content: Buffer): string {
  const lines: Buffer[] = [];
  for (let start = 0; start < content.length;) {
    const line = lineAt(content, start);
    lines.push(content.subarray(start, line.end));
    start = line.next;
  }
  lines.sort((a, b) => Buffer.compare(a, b));
  const hash = createHash('sha256');
  // Each line prefixed by its length, so no two lists of lines hash alike.
  for (const line of lines) hash.update(`${line.length}:`).update(line);
  return hash.digest('hex').slice(0, 32);
}

/** Whether the message has a CR that does not end a line (Courier would delete it). */
function hasBareCr(content: Buffer): boolean {
  for (let cr = content.indexOf(CR); cr !== -1; cr = content.indexOf(CR, cr)) {
    while (content[cr] === CR) cr++;
    if (content[cr] !== LF) return true;
  }
  return false;
}

/** Whether the header section has a byte Cyrus's munge8bit would make X. */
function has8bitHeader(content: Buffer): boolean {
  let start = 0;
  while (start < content.length) {
    const line = lineAt(content, start);
    if (line.ended && line.end === start) return false;
    for (let i = start; i < line.end; i++) if (content[i]! >= 0x80) return true;
    start = line.next;
  }
  return false;
}

export function copyDigests(content: Buffer): CopyDigests {
  const tolerant = digest(form(content, BOTH_WAYS, true));
  const oneWay: Array<Partial<Undo>> = [];
  const bareCr = hasBareCr(content);
  const eightBit = has8bitHeader(content);
  if (bareCr) oneWay.push({ bareCrDeleted: true });
  if (eightBit) oneWay.push({ munge8bit: true });
  if (bareCr && eightBit) oneWay.push({ bareCrDeleted: true, munge8bit: true });
  const storedAs: string[] = [];
  for (const change of oneWay) {
    const d = digest(form(content, { ...BOTH_WAYS, ...change }, true));
    if (d !== tolerant && !storedAs.includes(d)) storedAs.push(d);
  }
  return { exact: digest(content), tolerant, storedAs: storedAs.length === 0 ? NONE : storedAs };
}

/**
 * - identical: byte for byte;
 * - server-changed: equal once the known server changes are undone;
 * - different: another message.
 */
export type CopyVerdict = 'identical' | 'server-changed' | 'different';

export function judgeCopy(original: CopyDigests, copy: CopyDigests): CopyVerdict {
  if (original.exact === copy.exact) return 'identical';
  return original.tolerant === copy.tolerant || original.storedAs.includes(copy.tolerant) ? 'server-changed' : 'different';
}

/**
 * The fewest known changes that make `copy` equal to `original`, by name
 * (in SERVER_CHANGES order); undefined when none do. Finds a name for every
 * copy judgeCopy calls server-changed.
 */
export function serverChanges(original: Buffer, copy: Buffer): string[] | undefined {
  const subsets: Change[][] = [];
  for (let mask = 0; mask < 1 << CHANGE_NAMES.length; mask++) subsets.push(CHANGE_NAMES.filter((_, i) => mask & (1 << i)));
  subsets.sort((a, b) => a.length - b.length);
  const copyForms = new Map<string, Buffer>();
  for (const subset of subsets) {
    const undo = Object.fromEntries(CHANGE_NAMES.map((c) => [c, subset.includes(c)])) as Record<Change, boolean>;
    // The copy is never changed one way, so its form depends on the other changes only.
    const copyKey = `${undo.lineEnds} ${undo.emptyBody} ${undo.serverFields}`;
    let copyForm = copyForms.get(copyKey);
    if (copyForm === undefined) {
      copyForm = form(copy, undo, false);
      copyForms.set(copyKey, copyForm);
    }
    if (form(original, undo, true).equals(copyForm)) return subset.map((c) => SERVER_CHANGES[c]);
  }
  return undefined;
}
