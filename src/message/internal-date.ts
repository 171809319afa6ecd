/**
 * The IMAP internal date to give an appended message, taken from its
 * headers: the time it arrived (Received) or was written (Date), so that
 * clients sorting by arrival show migrated mail where it belongs.
 */

import { firstHeader, type HeaderField } from './headers.js';

const MONTHS = new Map<string, number>([
  ['jan', 1],
  ['january', 1],
  ['feb', 2],
  ['february', 2],
  ['mar', 3],
  ['march', 3],
  ['apr', 4],
  ['april', 4],
  ['may', 5],
  ['jun', 6],
  ['june', 6],
  ['jul', 7],
  ['july', 7],
  ['aug', 8],
  ['august', 8],
  ['sep', 9],
  ['sept', 9],
  ['september', 9],
  ['oct', 10],
  ['october', 10],
  ['nov', 11],
  ['november', 11],
  ['dec', 12],
  ['december', 12],
]);

const WEEKDAYS = new Set([
  'mon',
  'monday',
  'tue',
  'tues',
  'tuesday',
  'wed',
  'wednesday',
  'thu',
  'thur',
  'thurs',
  'thursday',
  'fri',
  'friday',
  'sat',
  'saturday',
  'sun',
  'sunday',
]);

/**
 * Zone names in minutes east of UTC: the RFC 822 set plus common European,
 * North American and Asia-Pacific abbreviations. Names that mean different
 * offsets in different places (IST, AST, ...) are left out on purpose: they
 * are treated like unknown names, i.e. +0000, as RFC 5322 §4.3 prescribes
 * for unrecognised and military zones.
 */
const ZONES = new Map<string, number>([
  ['ut', 0],
  ['utc', 0],
  ['gmt', 0],
  ['z', 0],
  ['wet', 0],
  ['est', -300],
  ['edt', -240],
  ['cst', -360],
  ['cdt', -300],
  ['mst', -420],
  ['mdt', -360],
  ['pst', -480],
  ['pdt', -420],
  ['akst', -540],
  ['akdt', -480],
  ['hst', -600],
  ['bst', 60],
  ['west', 60],
  ['cet', 60],
  ['met', 60],
  ['mez', 60],
  ['cest', 120],
  ['mest', 120],
  ['mesz', 120],
  ['eet', 120],
  ['eest', 180],
  ['msk', 180],
  ['hkt', 480],
  ['sgt', 480],
  ['awst', 480],
  ['jst', 540],
  ['kst', 540],
  ['acst', 570],
  ['aest', 600],
  ['aedt', 660],
  ['nzst', 720],
  ['nzdt', 780],
]);

/** More tokens than any real date has: longer input is garbage, and this bounds the work. */
const MAX_TOKENS = 16;

/** How many unrecognised words a date may carry (a zone name we do not know, or `DST` after `MET`). */
const MAX_UNKNOWN_WORDS = 1;

interface Parts {
  year?: number;
  month?: number;
  day?: number;
  time?: { hour: number; minute: number; second: number };
  meridiem?: 'am' | 'pm';
  numericZone?: number;
  namedZone?: number;
  numbers: string[];
  unknownWords: number;
}

class Reject extends Error {}

/**
 * Parses the dates found in real mail: RFC 5322 and RFC 822 forms and their
 * common deformations.
 *
 * Accepted: optional weekday (ignored, since spam often gets it wrong);
 * day, month name (any case, abbreviated, full, `Sept`, trailing dot) and
 * year in either day-month or month-day order; 2-digit years (00–49 → 20xx,
 * 50–99 → 19xx) and 3-digit years (+1900, the classic Y2K bug); time as
 * h:mm[:ss[.fff]] or h.mm[.ss], optional AM/PM; `1-Jul-2003`; ISO-like
 * `2003-07-01 10:52:37` and `2003-07-01T10:52:37Z` (also with `/`); asctime
 * and date(1) forms; numeric zones `+0200`, `+02:00`, `+2`, `GMT+0200`,
 * `UTC-5`; the named zones in ZONES; comments anywhere. A missing or
 * unknown zone means +0000, a missing time midnight. The first numeric
 * zone wins over any name.
 *
 * Rejected (undefined): anything out of range (month, day for that month,
 * hour > 23, minute > 59, second > 60, zone beyond ±23:59, year < 1900),
 * missing day, month or year, repeated parts, unrecognised non-word tokens,
 * and more than one unknown word. A leap second is clamped to :59. Never
 * throws.
 */
export function parseMailDate(text: string): Date | undefined {
  try {
    return parse(text);
  } catch {
    return undefined;
  }
}

function parse(text: string): Date | undefined {
  const tokens = stripComments(text)
    .split(/[\s,]+/)
    .filter((t) => t !== '');
  if (tokens.length === 0 || tokens.length > MAX_TOKENS) return undefined;

  const parts: Parts = { numbers: [], unknownWords: 0 };
  for (const token of tokens) classify(token, parts);
  return assemble(parts);
}

/** Replaces RFC 5322 comments (nested, with `\` quoting) by a space; an unterminated one runs to the end. */
function stripComments(text: string): string {
  let out = '';
  let depth = 0;
  let plainStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) plainStart = i + 1;
    } else if (c === '(') {
      out += `${text.slice(plainStart, i)} `;
      depth = 1;
    }
  }
  if (depth === 0) out += text.slice(plainStart);
  return out;
}

function classify(token: string, parts: Parts): void {
  const isoDate = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:T(.+))?$/i.exec(token);
  if (isoDate !== null) {
    if (parts.year !== undefined || parts.month !== undefined || parts.day !== undefined) throw new Reject();
    parts.year = Number(isoDate[1]);
    parts.month = Number(isoDate[2]);
    parts.day = Number(isoDate[3]);
    if (isoDate[4] !== undefined) classifyTime(isoDate[4], parts);
    return;
  }

  const hyphenated = /^(\d{1,2})-([a-z]+)-(\d{2,4})$/i.exec(token);
  if (hyphenated !== null) {
    parts.numbers.push(hyphenated[1] as string);
    classifyWord(hyphenated[2] as string, parts);
    parts.numbers.push(hyphenated[3] as string);
    return;
  }

  if (/^\d+$/.test(token)) {
    if (token.length > 4) throw new Reject();
    parts.numbers.push(token);
    return;
  }

  if (/^\d{1,2}[:.]/.test(token)) {
    classifyTime(token, parts);
    return;
  }

  if (/^[+-]/.test(token)) {
    setNumericZone(parseNumericZone(token), parts);
    return;
  }

  const prefixed = /^(?:gmt|utc|ut)([+-].*)$/i.exec(token);
  if (prefixed !== null) {
    setNumericZone(parseNumericZone(prefixed[1] as string), parts);
    return;
  }

  if (/^[a-z]+\.?$/i.test(token)) {
    classifyWord(token.replace(/\.$/, ''), parts);
    return;
  }

  throw new Reject();
}

function classifyWord(word: string, parts: Parts): void {
  const lower = word.toLowerCase();
  const month = MONTHS.get(lower);
  if (month !== undefined) {
    if (parts.month !== undefined) throw new Reject();
    parts.month = month;
    return;
  }
  if (WEEKDAYS.has(lower)) return;
  if (lower === 'am' || lower === 'pm') {
    if (parts.meridiem !== undefined) throw new Reject();
    parts.meridiem = lower;
    return;
  }
  const zone = ZONES.get(lower);
  if (zone !== undefined) {
    parts.namedZone ??= zone;
    return;
  }
  if (++parts.unknownWords > MAX_UNKNOWN_WORDS) throw new Reject();
}

/** A time, possibly with a zone or AM/PM glued to it (`10:52:37Z`, `10:52:37-0700`, `10:52pm`). */
function classifyTime(token: string, parts: Parts): void {
  const m = /^(\d{1,2})([:.])(\d{1,2})(?:\2(\d{1,2})(?:[.,]\d{1,9})?)?(.*)$/.exec(token);
  if (m === null || parts.time !== undefined) throw new Reject();
  parts.time = { hour: Number(m[1]), minute: Number(m[3]), second: m[4] === undefined ? 0 : Number(m[4]) };
  const rest = m[5] as string;
  if (rest === '') return;
  if (/^[+-]/.test(rest)) setNumericZone(parseNumericZone(rest), parts);
  else if (/^[a-z]+$/i.test(rest) && (ZONES.has(rest.toLowerCase()) || /^[ap]m$/i.test(rest))) classifyWord(rest, parts);
  else throw new Reject();
}

/** `+hhmm`, `+hh:mm`, `+h`, `+hh`, `+hmm`: minutes east of UTC. */
function parseNumericZone(token: string): number {
  const m = /^([+-])(\d{1,2}):?(\d{2})?$/.exec(token);
  if (m === null) throw new Reject();
  const hours = Number(m[2]);
  const minutes = m[3] === undefined ? 0 : Number(m[3]);
  if (hours > 23 || minutes > 59) throw new Reject();
  return (m[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

function setNumericZone(offset: number, parts: Parts): void {
  parts.numericZone ??= offset;
}

function assemble(parts: Parts): Date | undefined {
  let { year, day } = parts;
  const { month } = parts;
  if (year === undefined) {
    if (parts.numbers.length !== 2) return undefined;
    const [a, b] = parts.numbers as [string, string];
    const aIsYear = a.length >= 3 || Number(a) > 31;
    const bIsYear = b.length >= 3 || Number(b) > 31;
    if (aIsYear && bIsYear) return undefined;
    const [dayText, yearText] = aIsYear ? [b, a] : [a, b];
    day = Number(dayText);
    year = expandYear(yearText);
  } else if (parts.numbers.length !== 0) {
    return undefined;
  }
  if (month === undefined || day === undefined) return undefined;
  if (year < 1900 || year > 9999 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;

  let { hour, minute, second } = parts.time ?? { hour: 0, minute: 0, second: 0 };
  if (parts.meridiem !== undefined) {
    if (parts.time === undefined || hour < 1 || hour > 12) return undefined;
    hour = (hour % 12) + (parts.meridiem === 'pm' ? 12 : 0);
  }
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  if (second === 60) second = 59;

  const offset = parts.numericZone ?? parts.namedZone ?? 0;
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second) - offset * 60_000);
}

function expandYear(text: string): number {
  const n = Number(text);
  if (text.length === 4) return n;
  if (text.length === 3) return n + 1900;
  return n < 50 ? 2000 + n : 1900 + n;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * The date stamp of a Received field: RFC 5322 puts it after the last `;`,
 * and earlier semicolons can occur in the trace clauses.
 */
export function receivedDate(value: string): Date | undefined {
  const semicolon = value.lastIndexOf(';');
  return semicolon === -1 ? undefined : parseMailDate(value.slice(semicolon + 1));
}

/**
 * - `received`: when the message reached the final mail server.
 * - `date`: when the sender says it was written (forgeable, often wrong).
 * - `server`: leave it to the IMAP server (the time of the APPEND).
 */
export type DateMode = 'received' | 'date' | 'server';

export interface InternalDate {
  /** undefined: let the server choose. */
  date: Date | undefined;
  /** Where the date came from, for reporting. */
  source: 'received' | 'date' | 'server';
}

/**
 * 'received' uses the topmost Received field only (the one added by the
 * mailbox's own server; lower ones are earlier hops and possibly forged),
 * then Date; 'date' uses the first Date field, then the topmost Received.
 * When neither parses, the server decides.
 */
export function internalDate(fields: HeaderField[], mode: DateMode): InternalDate {
  if (mode === 'server') return { date: undefined, source: 'server' };

  const fromReceived = (): InternalDate | undefined => {
    const value = firstHeader(fields, 'received');
    const date = value === undefined ? undefined : receivedDate(value);
    return date === undefined ? undefined : { date, source: 'received' };
  };
  const fromDate = (): InternalDate | undefined => {
    const value = firstHeader(fields, 'date');
    const date = value === undefined ? undefined : parseMailDate(value);
    return date === undefined ? undefined : { date, source: 'date' };
  };

  const found = mode === 'received' ? (fromReceived() ?? fromDate()) : (fromDate() ?? fromReceived());
  return found ?? { date: undefined, source: 'server' };
}
