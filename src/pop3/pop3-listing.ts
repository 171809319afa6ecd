/**
 * LIST and UIDL replies (RFC 1939 §5, §7), read straight from the reply's
 * bytes. A mailbox of 100,000 messages gives replies of that many lines;
 * splitting them into strings and matching each with a regular expression
 * made hundreds of thousands of short-lived objects at the start of every
 * run, which set the process's peak memory. Each UID becomes its own small
 * string, so none keeps the whole reply's text alive.
 */

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

/** UIDL: message number → unique id (printable ASCII, RFC 1939 §7). Throws MalformedLine. */
export function parseUidlReply(body: Buffer): Map<number, string> {
  const uids = new Map<number, string>();
  forEachLine(body, (start, end) => {
    const n = leadingNumber(body, start, end);
    let i = n?.next ?? end;
    const from = i;
    while (i < end && body[i]! >= 0x21 && body[i]! <= 0x7e) i++;
    if (n === undefined || i === from) throw malformed(body, start, end);
    uids.set(n.value, body.toString('latin1', from, i));
  });
  return uids;
}
