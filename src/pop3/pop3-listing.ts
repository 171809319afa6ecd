/**
 * LIST and UIDL replies (RFC 1939 §5, §7), read straight from the reply's
 * bytes. A mailbox of 100,000 messages gives replies of that many lines;
 * splitting them into strings and matching each with a regular expression
 * made hundreds of thousands of short-lived objects at the start of every
 * run, which set the process's peak memory. Each UID becomes its own small
 * string, so none keeps the whole reply's text alive.
 */
import { isWellFormedUidl } from '../store/listing.js';

/** A line that is not "number SP value"; `line` is its text (latin1). */
export class MalformedLine extends Error {
  readonly line: string;

  constructor(line: string) {
    super(`unreadable line "${line.slice(0, 80)}"`);
    this.line = line;
  }
}

const CR = 0x0d;
const LF = 0x0a;

function isBlank(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0xa0;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/** Calls `each(start, end)` for every line that is not blank; `end` excludes CRLF or LF. */
function forEachLine(body: Buffer, each: (start: number, end: number) => void): void {
  let start = 0;
  while (start < body.length) {
    let eol = body.indexOf(LF, start);
    if (eol === -1) eol = body.length;
    const end = eol > start && body[eol - 1] === CR ? eol - 1 : eol;
    let blank = true;
    for (let i = start; i < end && blank; i++) blank = isBlank(body[i]!);
    if (!blank) each(start, end);
    start = eol + 1;
  }
}

/** Reads the leading number of a line and the blanks after it; undefined unless both are there. */
function leadingNumber(body: Buffer, start: number, end: number): { value: number; next: number } | undefined {
  let i = start;
  let value = 0;
  while (i < end && isDigit(body[i]!)) value = value * 10 + (body[i++]! - 0x30);
  if (i === start || !Number.isSafeInteger(value)) return undefined;
  const digitsEnd = i;
  while (i < end && (body[i] === 0x20 || body[i] === 0x09)) i++;
  if (i === digitsEnd) return undefined;
  return { value, next: i };
}

function malformed(body: Buffer, start: number, end: number): MalformedLine {
  return new MalformedLine(body.toString('latin1', start, Math.min(end, start + 200)));
}

/** LIST: message number → size in octets. Throws MalformedLine. */
export function parseListReply(body: Buffer): Map<number, number> {
  const sizes = new Map<number, number>();
  forEachLine(body, (start, end) => {
    const n = leadingNumber(body, start, end);
    let i = n?.next ?? end;
    let size = 0;
    const from = i;
    while (i < end && isDigit(body[i]!)) size = size * 10 + (body[i++]! - 0x30);
    if (n === undefined || i === from || !Number.isSafeInteger(size)) throw malformed(body, start, end);
    sizes.set(n.value, size);
  });
  return sizes;
}

/** What a UIDL reply said, line by line, before it is checked against LIST. */
export interface UidlLines {
  /**
   * Message number → unique id exactly as sent: everything after the blanks
   * that follow the number, up to the line end, one latin1 character per
   * byte so that 8-bit bytes survive unchanged. Empty when the line had no id.
   */
  readonly uids: Map<number, string>;
  /** Numbers the server listed on more than one line (the first line is kept in `uids`). */
  readonly repeatedNumbers: Set<number>;
}

/**
 * UIDL, every line kept as sent. RFC 1939 §7 allows 0x21–0x7E only, but a
 * server that sends spaces or 8-bit bytes still means the whole rest of the
 * line: cutting it at the first such byte made different messages share an
 * id. isWellFormedUidl says whether an id keeps to the RFC. Throws
 * MalformedLine only for a line that does not start with a message number.
 */
export function parseUidlLines(body: Buffer): UidlLines {
  const uids = new Map<number, string>();
  const repeatedNumbers = new Set<number>();
  forEachLine(body, (start, end) => {
    let i = start;
    let value = 0;
    while (i < end && isDigit(body[i]!)) value = value * 10 + (body[i++]! - 0x30);
    if (i === start || !Number.isSafeInteger(value) || (i < end && body[i] !== 0x20 && body[i] !== 0x09)) {
      throw malformed(body, start, end);
    }
    // RFC 1939 separates number and id with one space; more blanks are taken as separator too.
    while (i < end && (body[i] === 0x20 || body[i] === 0x09)) i++;
    const uid = body.toString('latin1', i, end);
    if (uids.has(value)) repeatedNumbers.add(value);
    else uids.set(value, uid);
  });
  return { uids, repeatedNumbers };
}

/** UIDL: message number → unique id exactly as sent (see parseUidlLines). Throws MalformedLine. */
export function parseUidlReply(body: Buffer): Map<number, string> {
  return parseUidlLines(body).uids;
}

export { isWellFormedUidl };

/**
 * Why a message's UIDL cannot identify it: the server has no UIDL command
 * ('no-uidl'), left its number out of the UIDL reply ('missing'), sent an
 * empty id, one outside 0x21–0x7E or two lines for the number ('malformed'),
 * or gave the same id to another message of this listing ('duplicate').
 */
export type UidlProblem = 'no-uidl' | 'missing' | 'malformed' | 'duplicate';

/**
 * One session's LIST and UIDL replies checked against each other: for every
 * message number its LIST size, its UIDL exactly as sent, and whether that
 * UIDL identifies it. Only a message without a problem can be recognised in
 * a later session; a number alone names whatever message sits there now.
 */
export class Pop3Listing {
  /** Message numbers of LIST, ascending. */
  readonly numbers: readonly number[];
  /** false when the server answered UIDL with -ERR. */
  readonly hasUidl: boolean;
  private readonly sizes: Map<number, number>;
  private readonly uids: Map<number, string>;
  private readonly problems = new Map<number, UidlProblem>();

  constructor(sizes: Map<number, number>, uidl: UidlLines | undefined) {
    this.sizes = sizes;
    this.numbers = [...sizes.keys()].sort((a, b) => a - b);
    this.hasUidl = uidl !== undefined;
    this.uids = uidl?.uids ?? new Map<number, string>();
    const byUid = new Map<string, number>();
    for (const n of this.numbers) {
      const uid = this.uids.get(n);
      if (uidl === undefined) this.problems.set(n, 'no-uidl');
      else if (uid === undefined) this.problems.set(n, 'missing');
      else if (!isWellFormedUidl(uid) || uidl.repeatedNumbers.has(n)) this.problems.set(n, 'malformed');
      else {
        const first = byUid.get(uid);
        if (first === undefined) {
          byUid.set(uid, n);
        } else {
          // Neither can be told apart from the other: both lose their identity.
          this.problems.set(n, 'duplicate');
          this.problems.set(first, 'duplicate');
        }
      }
    }
  }

  /** LIST size in octets, or undefined when LIST did not name n. */
  size(n: number): number | undefined {
    return this.sizes.get(n);
  }

  /** The UIDL exactly as sent (latin1, one character per byte), or undefined when there is none. */
  uidl(n: number): string | undefined {
    return this.uids.get(n);
  }

  /** Why n's UIDL cannot identify it, or undefined when it can. */
  problem(n: number): UidlProblem | undefined {
    return this.problems.get(n);
  }

  /** n has a unique, well-formed UIDL in this listing: safe to recognise in a later session. */
  identifiable(n: number): boolean {
    return this.sizes.has(n) && !this.problems.has(n);
  }

  /** Message numbers with a problem, ascending, for one report line per kind. */
  withProblems(): Map<UidlProblem, number[]> {
    const out = new Map<UidlProblem, number[]>();
    for (const n of this.numbers) {
      const p = this.problems.get(n);
      if (p === undefined) continue;
      const list = out.get(p) ?? [];
      list.push(n);
      out.set(p, list);
    }
    return out;
  }
}
