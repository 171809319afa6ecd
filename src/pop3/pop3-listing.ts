/**
 * LIST and UIDL replies (RFC 1939 §5, §7), read straight from the reply's
 * bytes into typed arrays and one buffer of ids (IdTable). A mailbox of
 * millions of messages gives replies of that many lines; a string, a Map
 * entry and an array slot per message made a 2,000,000-message listing
 * cost 640 MB. Nothing here keeps the reply itself alive.
 */
import { IdTable } from '../store/id-table.js';
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

/**
 * Message numbers or sizes: 4 bytes each while every value fits in 32 bits
 * (always, in practice), else 8.
 */
export type Column = Uint32Array | Float64Array;

/** `column` with `value` at i, made a Float64Array first when the value needs more than 32 bits. */
function put(column: Column, i: number, value: number): Column {
  if (value > 0xffffffff && column instanceof Uint32Array) column = Float64Array.from(column);
  column[i] = value;
  return column;
}

/** How many lines `body` may hold at most (its line feeds, and a last line without one). */
function lineBound(body: Buffer): number {
  let count = 1;
  for (let at = body.indexOf(LF); at !== -1; at = body.indexOf(LF, at + 1)) count++;
  return count;
}

/** Index of `n` in the ascending `numbers`, or -1. */
function indexOf(numbers: Column, n: number): number {
  let lo = 0;
  let hi = numbers.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const at = numbers[mid]!;
    if (at === n) return mid;
    if (at < n) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Positions 0..count-1 ordered by numbers[i], then by position (the order lines came in). */
function ascending(numbers: Column, count: number): Uint32Array {
  const order = new Uint32Array(count);
  let sorted = true;
  for (let i = 0; i < count; i++) {
    order[i] = i;
    if (i > 0 && numbers[i]! <= numbers[i - 1]!) sorted = false;
  }
  if (!sorted) order.sort((a, b) => numbers[a]! - numbers[b]! || a - b);
  return order;
}

/** LIST: message number → size in octets, by ascending number. */
export class ListSizes implements Iterable<[number, number]> {
  /** Ascending, each once. */
  readonly numbers: Column;
  private readonly octets: Column;

  constructor(numbers: Column, octets: Column) {
    this.numbers = numbers;
    this.octets = octets;
  }

  static from(sizes: ReadonlyMap<number, number>): ListSizes {
    const entries = [...sizes].sort((a, b) => a[0] - b[0]);
    let numbers: Column = new Uint32Array(entries.length);
    let octets: Column = new Uint32Array(entries.length);
    entries.forEach(([n, size], i) => {
      numbers = put(numbers, i, n);
      octets = put(octets, i, size);
    });
    return new ListSizes(numbers, octets);
  }

  /** How many messages LIST named. */
  get size(): number {
    return this.numbers.length;
  }

  get(n: number): number | undefined {
    const i = indexOf(this.numbers, n);
    return i === -1 ? undefined : this.octets[i];
  }

  has(n: number): boolean {
    return indexOf(this.numbers, n) !== -1;
  }

  keys(): IterableIterator<number> {
    return this.numbers.values();
  }

  *[Symbol.iterator](): IterableIterator<[number, number]> {
    for (let i = 0; i < this.numbers.length; i++) yield [this.numbers[i]!, this.octets[i]!];
  }

  /** The sizes at the positions of `numbers`. */
  get octetColumn(): Column {
    return this.octets;
  }

  get bytesHeld(): number {
    return this.numbers.byteLength + this.octets.byteLength;
  }
}

/** LIST: message number → size in octets (a number listed twice has its last size). Throws MalformedLine. */
export function parseListReply(body: Buffer): ListSizes {
  const bound = lineBound(body);
  let numbers: Column = new Uint32Array(bound);
  let octets: Column = new Uint32Array(bound);
  let count = 0;
  forEachLine(body, (start, end) => {
    const n = leadingNumber(body, start, end);
    let i = n?.next ?? end;
    let size = 0;
    const from = i;
    while (i < end && isDigit(body[i]!)) size = size * 10 + (body[i++]! - 0x30);
    if (n === undefined || i === from || !Number.isSafeInteger(size)) throw malformed(body, start, end);
    numbers = put(numbers, count, n.value);
    octets = put(octets, count++, size);
  });
  let sorted = true;
  for (let i = 1; i < count && sorted; i++) sorted = numbers[i]! > numbers[i - 1]!;
  // Servers list in ascending order: then the arrays are the answer (a line or two of room spare).
  if (sorted && count >= bound - 2) return new ListSizes(numbers.subarray(0, count), octets.subarray(0, count));
  const order = ascending(numbers, count);
  let kept = 0;
  for (let k = 0; k < count; k++) {
    const i = order[k]!;
    if (k + 1 < count && numbers[order[k + 1]!] === numbers[i]) continue;
    order[kept++] = i;
  }
  const sortedNumbers = numbers.slice(0, kept);
  const sortedOctets = octets.slice(0, kept);
  for (let k = 0; k < kept; k++) {
    sortedNumbers[k] = numbers[order[k]!]!;
    sortedOctets[k] = octets[order[k]!]!;
  }
  return new ListSizes(sortedNumbers, sortedOctets);
}

/** What a UIDL reply said, line by line, before it is checked against LIST. */
export class UidlLines implements Iterable<[number, string]> {
  /**
   * Message numbers, ascending, each once; the id of numbers[i] is
   * ids.at(i): everything after the blanks that follow the number, up to
   * the line end, one latin1 character per byte so that 8-bit bytes
   * survive unchanged. Empty when the line had no id.
   */
  readonly numbers: Column;
  readonly ids: IdTable;
  /** Numbers the server listed on more than one line (the first line is kept). */
  readonly repeatedNumbers: ReadonlySet<number>;

  constructor(numbers: Column, ids: IdTable, repeatedNumbers: ReadonlySet<number>) {
    this.numbers = numbers;
    this.ids = ids;
    this.repeatedNumbers = repeatedNumbers;
  }

  get size(): number {
    return this.numbers.length;
  }

  /** The id of message n exactly as sent, or undefined when no line named n. */
  get(n: number): string | undefined {
    const i = indexOf(this.numbers, n);
    return i === -1 ? undefined : this.ids.at(i);
  }

  *[Symbol.iterator](): IterableIterator<[number, string]> {
    for (let i = 0; i < this.numbers.length; i++) yield [this.numbers[i]!, this.ids.at(i)];
  }

  get bytesHeld(): number {
    return this.numbers.byteLength + this.ids.bytesHeld;
  }
}

/**
 * UIDL, every line kept as sent. RFC 1939 §7 allows 0x21–0x7E only, but a
 * server that sends spaces or 8-bit bytes still means the whole rest of the
 * line: cutting it at the first such byte made different messages share an
 * id. isWellFormedUidl says whether an id keeps to the RFC. Throws
 * MalformedLine only for a line that does not start with a message number.
 */
export function parseUidlLines(body: Buffer): UidlLines {
  return ascendingUidlLines(body) ?? anyUidlLines(body);
}

/** One line of a UIDL reply: its number and where its id is; throws MalformedLine. */
function uidlLine(body: Buffer, start: number, end: number): { value: number; from: number } {
  let i = start;
  let value = 0;
  while (i < end && isDigit(body[i]!)) value = value * 10 + (body[i++]! - 0x30);
  if (i === start || !Number.isSafeInteger(value) || (i < end && body[i] !== 0x20 && body[i] !== 0x09)) {
    throw malformed(body, start, end);
  }
  // RFC 1939 separates number and id with one space; more blanks are taken as separator too.
  while (i < end && (body[i] === 0x20 || body[i] === 0x09)) i++;
  return { value, from: i };
}

/**
 * A reply whose numbers ascend, as servers send them, read in one pass
 * straight into the id table; undefined when a number does not ascend.
 */
function ascendingUidlLines(body: Buffer): UidlLines | undefined {
  const bound = lineBound(body);
  // The ids' length first, so that their buffer is made once and to size.
  let idBytes = 0;
  forEachLine(body, (start, end) => {
    let i = start;
    while (i < end && isDigit(body[i]!)) i++;
    while (i < end && (body[i] === 0x20 || body[i] === 0x09)) i++;
    idBytes += end - i;
  });
  let numbers: Column = new Uint32Array(bound);
  const ids = new IdTable(bound, idBytes);
  let count = 0;
  const seen = { ascending: true };
  forEachLine(body, (start, end) => {
    const { value, from } = uidlLine(body, start, end);
    if (!seen.ascending) return;
    if (count > 0 && value <= numbers[count - 1]!) {
      seen.ascending = false;
      return;
    }
    numbers = put(numbers, count++, value);
    ids.addBytes(body, from, end);
  });
  if (!seen.ascending) return undefined;
  ids.trim();
  return new UidlLines(count >= bound - 2 ? numbers.subarray(0, count) : numbers.slice(0, count), ids, new Set());
}

function anyUidlLines(body: Buffer): UidlLines {
  const bound = lineBound(body);
  let numbers: Column = new Uint32Array(bound);
  const starts = new Uint32Array(bound);
  const ends = new Uint32Array(bound);
  let count = 0;
  forEachLine(body, (start, end) => {
    const { value, from } = uidlLine(body, start, end);
    numbers = put(numbers, count, value);
    starts[count] = from;
    ends[count++] = end;
  });
  const order = ascending(numbers, count);
  const repeatedNumbers = new Set<number>();
  let kept = 0;
  for (let k = 0; k < count; k++) {
    if (k > 0 && numbers[order[k]!] === numbers[order[k - 1]!]) repeatedNumbers.add(numbers[order[k]!]!);
    else order[kept++] = order[k]!;
  }
  let idBytes = 0;
  for (let k = 0; k < kept; k++) idBytes += ends[order[k]!]! - starts[order[k]!]!;
  const ids = new IdTable(kept, idBytes);
  const sortedNumbers = numbers.slice(0, kept);
  for (let k = 0; k < kept; k++) {
    const i = order[k]!;
    sortedNumbers[k] = numbers[i]!;
    ids.addBytes(body, starts[i]!, ends[i]!);
  }
  ids.trim();
  return new UidlLines(sortedNumbers, ids, repeatedNumbers);
}

/** UIDL: message number → unique id exactly as sent (see parseUidlLines). Throws MalformedLine. */
export function parseUidlReply(body: Buffer): Map<number, string> {
  return new Map(parseUidlLines(body));
}

export { isWellFormedUidl };

/**
 * Why a message's UIDL cannot identify it: the server has no UIDL command
 * ('no-uidl'), left its number out of the UIDL reply ('missing'), sent an
 * empty id, one outside 0x21–0x7E or two lines for the number ('malformed'),
 * or gave the same id to another message of this listing ('duplicate').
 */
export type UidlProblem = 'no-uidl' | 'missing' | 'malformed' | 'duplicate';

const PROBLEMS: readonly UidlProblem[] = ['no-uidl', 'missing', 'malformed', 'duplicate'];

/** isWellFormedUidl of id i, read from its bytes. */
function wellFormedAt(ids: IdTable, i: number): boolean {
  return ids.withinAt(i, 70, 0x21, 0x7e);
}

/**
 * One session's LIST and UIDL replies checked against each other: for every
 * message number its LIST size, its UIDL exactly as sent, and whether that
 * UIDL identifies it. Only a message without a problem can be recognised in
 * a later session; a number alone names whatever message sits there now.
 */
export class Pop3Listing {
  /** Message numbers of LIST, ascending. */
  readonly numbers: Column;
  /** false when the server answered UIDL with -ERR. */
  readonly hasUidl: boolean;
  /** Whether some number of LIST had no UIDL line. */
  readonly anyMissing: boolean;
  private readonly sizes: ListSizes;
  /**
   * With UIDL: the id of numbers[i] at i (empty for a number without a
   * UIDL line, whose problem is 'missing'). Usually the UIDL reply's own
   * table, when it names the numbers LIST named.
   */
  readonly ids: IdTable | undefined;
  /** At each position of `numbers`: 0, or 1 + the index of its problem in PROBLEMS. */
  private readonly problems: Uint8Array;

  constructor(sizes: ListSizes | ReadonlyMap<number, number>, uidl: UidlLines | undefined) {
    this.sizes = sizes instanceof ListSizes ? sizes : ListSizes.from(sizes);
    const numbers = this.sizes.numbers;
    this.numbers = numbers;
    this.hasUidl = uidl !== undefined;
    this.problems = new Uint8Array(numbers.length);
    const mark = (p: number, problem: UidlProblem) => (this.problems[p] = PROBLEMS.indexOf(problem) + 1);
    if (uidl === undefined) {
      this.ids = undefined;
      this.anyMissing = false;
      this.problems.fill(PROBLEMS.indexOf('no-uidl') + 1);
      return;
    }
    let aligned = uidl.numbers.length === numbers.length;
    for (let p = 0; p < numbers.length && aligned; p++) aligned = uidl.numbers[p] === numbers[p];
    let ids = uidl.ids;
    let anyMissing = false;
    if (!aligned) {
      // UIDL named other numbers than LIST: the ids are laid out again by LIST's numbers.
      ids = new IdTable(numbers.length, uidl.ids.byteLength);
      for (let p = 0; p < numbers.length; p++) {
        const j = indexOf(uidl.numbers, numbers[p]!);
        if (j === -1) {
          anyMissing = true;
          mark(p, 'missing');
          ids.add('');
        } else ids.add(uidl.ids.at(j));
      }
      ids.trim();
    }
    this.ids = ids;
    this.anyMissing = anyMissing;
    for (let p = 0; p < numbers.length; p++) {
      if (this.problems[p] !== 0) continue;
      if (uidl.repeatedNumbers.has(numbers[p]!) || !wellFormedAt(ids, p)) mark(p, 'malformed');
      else {
        const first = ids.firstEqual(p);
        if (first !== p) {
          // Neither can be told apart from the other: both lose their identity.
          mark(p, 'duplicate');
          if (this.problems[first] === 0) mark(first, 'duplicate');
        }
      }
    }
  }

  /** LIST size in octets, or undefined when LIST did not name n. */
  size(n: number): number | undefined {
    return this.sizes.get(n);
  }

  /** LIST sizes at the positions of `numbers`. */
  get sizeColumn(): Column {
    return this.sizes.octetColumn;
  }

  /** The UIDL exactly as sent (latin1, one character per byte), or undefined when there is none. */
  uidl(n: number): string | undefined {
    const p = indexOf(this.numbers, n);
    if (p === -1 || this.ids === undefined || this.problems[p] === PROBLEMS.indexOf('missing') + 1) return undefined;
    return this.ids.at(p);
  }

  /** Why n's UIDL cannot identify it, or undefined when it can. */
  problem(n: number): UidlProblem | undefined {
    const p = indexOf(this.numbers, n);
    const code = p === -1 ? 0 : this.problems[p]!;
    return code === 0 ? undefined : PROBLEMS[code - 1];
  }

  /** n has a unique, well-formed UIDL in this listing: safe to recognise in a later session. */
  identifiable(n: number): boolean {
    const p = indexOf(this.numbers, n);
    return p !== -1 && this.problems[p] === 0;
  }

  /** identifiable() of the message at position p of `numbers`. */
  identifiableAt(p: number): boolean {
    return this.problems[p] === 0;
  }

  /** The UIDLs' total length in octets (for sizing a copy of them). */
  get idBytes(): number | undefined {
    return this.ids?.byteLength;
  }

  /** Bytes held for the messages (typed arrays and the id table), for the bound per message. */
  get bytesHeld(): number {
    return this.sizes.bytesHeld + (this.ids?.bytesHeld ?? 0) + this.problems.byteLength;
  }

  /** Message numbers with a problem, ascending, for one report line per kind. */
  withProblems(): Map<UidlProblem, number[]> {
    const out = new Map<UidlProblem, number[]>();
    for (let p = 0; p < this.numbers.length; p++) {
      const code = this.problems[p]!;
      if (code === 0) continue;
      const problem = PROBLEMS[code - 1]!;
      const list = out.get(problem) ?? [];
      list.push(this.numbers[p]!);
      out.set(problem, list);
    }
    return out;
  }
}
