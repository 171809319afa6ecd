/**
 * The one reader of what an IMAP server answers on the upload connection
 * (RFC 3501 §7, RFC 9051 §7): a framed response (imap-framing.ts) becomes a
 * continuation, a tagged reply, or an untagged status, CAPABILITY, STATUS or
 * FETCH, with its response code ([APPENDUID ...], [TRYCREATE],
 * [CAPABILITY ...], [UIDVALIDITY n]) split off. Pure.
 */
import type { ImapFrame } from './imap-framing.js';

/** A tagged reply: how a command ended. */
export interface TaggedReply {
  status: 'OK' | 'NO' | 'BAD';
  /** The response code's name, upper-cased (APPENDUID, TRYCREATE, CAPABILITY, ...). */
  code: string | undefined;
  /** The response code's arguments, as sent. */
  codeArgs: string[];
  text: string;
}

/** A value inside a FETCH or STATUS response. */
export type ImapValue =
  | { type: 'atom'; value: string }
  | { type: 'string'; value: string }
  | { type: 'literal'; value: Buffer }
  | { type: 'list'; items: ImapValue[] };

export type ImapResponse =
  /** '+': the server waits for the rest of a command. */
  | { kind: 'continuation'; text: string }
  | ({ kind: 'tagged'; tag: string } & TaggedReply)
  /** `* OK|NO|BAD|BYE|PREAUTH [code] text`; `rest` is everything after the status word. */
  | {
      kind: 'status';
      status: 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH';
      code: string | undefined;
      codeArgs: string[];
      text: string;
      rest: string;
    }
  | { kind: 'capability'; capabilities: string[] }
  /** `* STATUS mailbox (NAME n ...)`: the numbers, by upper-cased name. */
  | { kind: 'mailbox-status'; counts: ReadonlyMap<string, string> }
  /** `* n FETCH (NAME value ...)`: the values, by upper-cased name. */
  | { kind: 'fetch'; seq: number; items: ReadonlyMap<string, ImapValue> }
  /** Any other untagged response, or one of the above that did not parse: nothing the upload connection acts on. */
  | { kind: 'untagged'; name: string };

const UNTAGGED_STATUS = new Set(['OK', 'NO', 'BAD', 'BYE', 'PREAUTH']);
const TAGGED_STATUS = new Set(['OK', 'NO', 'BAD']);

/** The letters a line starts with (a status or response name). */
function leadingWord(text: string): string {
  let end = 0;
  while (end < text.length && /[A-Za-z]/.test(text[end]!)) end++;
  return text.slice(0, end);
}

/** `[code args] text` after a status word (one space before it may be missing). */
function respText(after: string): { code: string | undefined; codeArgs: string[]; text: string } {
  let rest = after.startsWith(' ') ? after.slice(1) : after;
  let code: string | undefined;
  let codeArgs: string[] = [];
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close >= 0) {
      const parts = rest.slice(1, close).trim().split(/\s+/);
      code = parts[0] === '' ? undefined : parts[0]!.toUpperCase();
      codeArgs = parts.slice(1);
      rest = rest.slice(close + 1);
    }
  }
  return { code, codeArgs, text: rest.trimStart() };
}

/** Reads one framed response. */
export function parseResponse(frame: ImapFrame): ImapResponse {
  const { line } = frame;
  if (line.startsWith('+')) return { kind: 'continuation', text: line.slice(1).trimStart() };
  if (line.startsWith('*')) return parseUntagged(line.slice(line.startsWith('* ') ? 2 : 1), frame.literals);
  const sp = line.indexOf(' ');
  const tag = line.slice(0, sp);
  return { kind: 'tagged', tag, ...parseTagged(line.slice(sp + 1)) };
}

/** A tagged reply's status and text; anything but OK, NO or BAD is taken as BAD, its words as the text. */
export function parseTagged(rest: string): TaggedReply {
  const word = leadingWord(rest);
  const status = word.toUpperCase();
  if (!TAGGED_STATUS.has(status)) return { status: 'BAD', code: undefined, codeArgs: [], text: rest };
  return { status: status as TaggedReply['status'], ...respText(rest.slice(word.length)) };
}

function parseUntagged(rest: string, literals: readonly Buffer[]): ImapResponse {
  const word = leadingWord(rest);
  const name = word.toUpperCase();
  if (UNTAGGED_STATUS.has(name)) {
    const after = rest.slice(word.length);
    return { kind: 'status', status: name as 'OK', ...respText(after), rest: after.startsWith(' ') ? after.slice(1) : after };
  }
  if (name === 'CAPABILITY') {
    return {
      kind: 'capability',
      capabilities: rest
        .slice(word.length)
        .trim()
        .split(/\s+/)
        .filter((c) => c !== '')
        .map((c) => c.toUpperCase()),
    };
  }
  if (name === 'STATUS') return mailboxStatus(rest.slice(word.length), literals) ?? { kind: 'untagged', name };
  const numbered = /^(\d+) ([A-Za-z]+)/.exec(rest);
  if (numbered?.[2]!.toUpperCase() === 'FETCH') {
    return fetchResponse(Number(numbered[1]), rest.slice(numbered[0].length), literals) ?? { kind: 'untagged', name: 'FETCH' };
  }
  return { kind: 'untagged', name: numbered ? numbered[2]!.toUpperCase() : name };
}

/** `mailbox (NAME n ...)`: the last list holds the counts. */
function mailboxStatus(text: string, literals: readonly Buffer[]): ImapResponse | undefined {
  const values = tokenize(text, literals);
  const list = values?.at(-1);
  if (values === undefined || values.length < 2 || list?.type !== 'list') return undefined;
  const counts = new Map<string, string>();
  for (let i = 0; i + 1 < list.items.length; i += 2) {
    const key = list.items[i]!;
    const value = list.items[i + 1]!;
    if (key.type === 'atom' && value.type === 'atom' && /^\d+$/.test(value.value)) counts.set(key.value.toUpperCase(), value.value);
  }
  return { kind: 'mailbox-status', counts };
}

/** `(NAME value ...)` after `n FETCH`. */
function fetchResponse(seq: number, text: string, literals: readonly Buffer[]): ImapResponse | undefined {
  const values = tokenize(text, literals);
  const list = values?.[0];
  if (values?.length !== 1 || list?.type !== 'list' || list.items.length % 2 !== 0) return undefined;
  const items = new Map<string, ImapValue>();
  for (let i = 0; i < list.items.length; i += 2) {
    const key = list.items[i]!;
    if (key.type !== 'atom') return undefined;
    items.set(key.value.toUpperCase(), list.items[i + 1]!);
  }
  return { kind: 'fetch', seq, items };
}

/** A FETCH item that is a number (UID, RFC822.SIZE); undefined when absent or not a number. */
export function fetchNumber(items: ReadonlyMap<string, ImapValue>, name: string): number | undefined {
  const value = items.get(name);
  return value?.type === 'atom' && /^\d+$/.test(value.value) ? Number(value.value) : undefined;
}

/**
 * The values of a FETCH or STATUS body: atoms (a section such as
 * `BODY[HEADER.FIELDS (DATE)]<0>` is one), quoted strings, literals (each
 * `{n}` takes the frame's next literal) and parenthesised lists.
 * Undefined when the text is not such a sequence.
 */
export function tokenize(text: string, literals: readonly Buffer[]): ImapValue[] | undefined {
  let at = 0;
  let nextLiteral = 0;
  const stack: ImapValue[][] = [[]];
  while (at < text.length) {
    const c = text[at]!;
    const top = stack[stack.length - 1]!;
    if (c === ' ') {
      at++;
    } else if (c === '(') {
      const list: ImapValue = { type: 'list', items: [] };
      top.push(list);
      stack.push(list.items);
      at++;
    } else if (c === ')') {
      if (stack.length === 1) return undefined;
      stack.pop();
      at++;
    } else if (c === '"') {
      let value = '';
      at++;
      while (at < text.length && text[at] !== '"') {
        if (text[at] === '\\' && at + 1 < text.length) at++;
        value += text[at]!;
        at++;
      }
      if (at >= text.length) return undefined;
      at++;
      top.push({ type: 'string', value });
    } else if (c === '{' || (c === '~' && text[at + 1] === '{')) {
      const m = /^~?\{\d+\}/.exec(text.slice(at));
      const literal = literals[nextLiteral];
      if (!m || literal === undefined) return undefined;
      nextLiteral++;
      at += m[0].length;
      top.push({ type: 'literal', value: literal });
    } else {
      const start = at;
      while (at < text.length && !' ()"'.includes(text[at]!)) {
        if (text[at] === '[') {
          const close = text.indexOf(']', at);
          if (close < 0) return undefined;
          at = close;
        }
        at++;
      }
      top.push({ type: 'atom', value: text.slice(start, at) });
    }
  }
  return stack.length === 1 ? stack[0] : undefined;
}
